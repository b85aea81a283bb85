"""The real frameworks, through the real CLI, as the main job runs them.

Each framework's primary AD path (torch, jax-jit, tensorflow-function) must conform over every
property in the main job's profile (``dev``, its seed and block fixed here), or fail only in
ways that known_divergences.toml records (xfailed, with a reason). The run also carries
log_softmax, JVP and second-order records, ulp figures, the behaviour matrix and the pairwise
agreement. The secondary paths are test_secondary_paths_conform's (a module of its own, so that
the two runs can start at once on two test workers).
"""

from __future__ import annotations

import pytest

from tests.framework_runs import FRAMEWORKS, assert_conforms_or_fails_only_as_recorded, needs_frameworks, run_frameworks

pytestmark = pytest.mark.slow

PRIMARY = ("torch", "jax-jit", "tensorflow-function")


@pytest.fixture(scope="module")
def frameworks_run(tmp_path_factory):
    needs_frameworks()
    folder = tmp_path_factory.mktemp("frameworks")
    main_job = ("--profile", "dev", "--seed", "1", "--block", "1", "--html", str(folder / "index.html"))
    return run_frameworks(folder, PRIMARY, *main_job), folder


def test_every_framework_conforms_or_fails_only_as_recorded(frameworks_run):
    result, _ = frameworks_run
    assert_conforms_or_fails_only_as_recorded(result)


def test_the_run_covers_every_ad_path_op_and_quantity(frameworks_run):
    result, folder = frameworks_run
    records = result.records()
    assert {(r["framework"], r["spec"]) for r in records} == set(zip(FRAMEWORKS, PRIMARY, strict=True))
    assert {r["op"] for r in records} == {"softmax", "log_softmax"}
    properties = {r["property"] for r in records if r["status"] in ("passed", "xfailed")}
    assert {"jvp_accuracy", "jvp_vjp_adjoint", "second_order_accuracy", "vjp_accuracy"} <= properties
    meta = result.document["metadata"]
    assert meta["behaviour"] and meta["agreement"]
    assert (folder / "index.html").exists()


@pytest.mark.parametrize(
    ("spec", "dtype", "within_one_ulp"),
    [("torch", "float16", True), ("torch", "bfloat16", True), ("jax", "bfloat16", False)],
)
def test_the_measured_accuracy_matches_what_this_machine_shows(spec, dtype, within_one_ulp):
    """The workload the figures were first measured on: 64 rows, logits scaled by 3.
    torch computes half precision in float32 and rounds once (0.5 ulp); jax's bfloat16 does
    not (up to 18 ulp)."""
    pytest.importorskip(spec)
    import numpy as np

    from conformance import load_adapter, oracle
    from conformance.truth import tolerance
    from conformance.truth.dtypes import DTYPES

    x = (3 * np.random.default_rng(0).standard_normal((64, 128))).astype(DTYPES[dtype])
    error = np.abs(load_adapter(spec).softmax(x, -1).astype(np.float64) - oracle.softmax(x, -1))
    worst = float(np.max(tolerance.forward_bound("softmax", x, -1, DTYPES[dtype]).ulps(error)))
    assert (worst <= 1.0) is within_one_ulp, f"{spec} {dtype}: {worst:.2f} ulp"
