"""In the ci profile a property draws the same examples however it is run: alone, or with
other properties in a worker that has loaded other code besides (Hypothesis would otherwise
draw, now and then, the literals of whatever local modules are loaded:
:mod:`conformance.inputs.local_constants`)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import TESTS
from tests.recording_adapter import LOG_VARIABLE

ADAPTER = f"{TESTS / 'recording_adapter.py'}:RecordsItsInputs"
PROPERTY = "forward_accuracy"  # many small inputs, each element drawn through Hypothesis
PROPERTY_TEST = "test_forward_is_within_its_bound"  # its test function
OTHERS = "batch_equals_rows"  # a property run with it
OTHER_CODE = "other_code"  # a module of the worker's besides the suite, with literals of its own
OTHER_CODE_SOURCE = '''"""Code of the user's, loaded in the worker: numbers Hypothesis could draw."""

FLOATS = (0.125, 3.75, -17.5, 41.0, 300.0, 1.0e4, -6.5e7, 2.0e30, 1.0e-30)
INTEGERS = (3, 7, 19, 255, 4097, 65521, -1000003)
'''


def _inputs(cli, log: Path, properties: str, env: dict[str, str]) -> tuple[dict[str, list[str]], list[tuple]]:
    """PROPERTY's inputs in a ci run of ``properties`` (float32), as the adapter was given them,
    in the order given, by test (the adapter's shards run at once, each test in one of them);
    and its records' (op, status, examples)."""
    result = cli(
        "run",
        "--adapter",
        ADAPTER,
        "--profile",
        "ci",
        "--dtypes",
        "float32",
        "--properties",
        properties,
        "--plain",
        env={LOG_VARIABLE: str(log), **env},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    inputs: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        test, given = line.split("\t", 1)
        if f"::{PROPERTY_TEST}[" in test:
            inputs.setdefault(test, []).append(given)
    records = sorted((r["op"], r["status"], r["examples"]) for r in result.records() if r["property"] == PROPERTY)
    return inputs, records


def test_a_property_draws_the_same_examples_alone_and_among_others(cli, tmp_path):
    (tmp_path / f"{OTHER_CODE}.py").write_text(OTHER_CODE_SOURCE)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    alone = _inputs(cli, tmp_path / "alone.log", PROPERTY, {})
    among = _inputs(
        cli,
        tmp_path / "among.log",
        f"{PROPERTY},{OTHERS}",
        {"PYTHONPATH": path, "PYTEST_PLUGINS": OTHER_CODE},  # each worker imports it as it starts
    )
    assert alone[0], f"no inputs of {PROPERTY} written down"
    assert among == alone
