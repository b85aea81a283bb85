"""``every_dtype_in_turn``: a failure names the calls made before it, and its reproducer makes
them first, so that state an adapter keeps between calls shows again when pasted."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance import oracle
from tests.conftest import TESTS


def test_a_plan_shared_by_the_half_types_is_reproduced_with_the_calls_before_it(cli):
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'broken_adapters.py'}:PlanCachedByElementSize",
        "--profile",
        "ci",
        "--dtypes",
        "float16,bfloat16",
        "--properties",
        "every_dtype_in_turn",
        "--plain",
    )
    failed = [record for record in result.records("failed") if record["op"] == "softmax"]
    assert failed and all(", after softmax(" in record["message"] for record in failed)
    # each record's, the one whose first call found the plan another record's calls left included
    for record in failed:
        namespace: dict[str, Any] = {"print": lambda *args: None}
        exec(record["reproducer"], namespace)
        assert "turn1_x" in namespace, record["dtype"]  # the earlier calls are made first
        x, result_array = namespace["x"], namespace["result"]
        exact = oracle.softmax(x, 1)
        assert not np.allclose(result_array.astype(np.float64), exact, atol=1e-2), record["dtype"]
        fresh = type(namespace["adapter"])()  # without the earlier calls the same call is right
        assert np.allclose(fresh.softmax(x, 1).astype(np.float64), exact, atol=1e-2), record["dtype"]
