"""Where long double is float64 (macOS on Apple silicon, Windows, some ARM builds) the float64
accuracy properties use the portable oracle: they run, pass on the correct adapter, and catch
float32 arithmetic inside float64. ``CONFORMANCE_PORTABLE_ORACLE=1`` forces that path here."""

from __future__ import annotations

from conformance.truth.oracle import PORTABLE_ENVIRONMENT_VARIABLE
from tests.conftest import TESTS

ACCURACY = "forward_accuracy,vjp_accuracy,jvp_accuracy,long_row_accuracy,second_order_accuracy,jacobian_accuracy"
PORTABLE = {PORTABLE_ENVIRONMENT_VARIABLE: "1"}


def _run(cli, adapter: str, properties: str = ACCURACY):
    arguments = ("--profile", "ci", "--dtypes", "float64", "--properties", properties, "--plain")
    return cli("run", "--adapter", adapter, *arguments, env=PORTABLE)


def test_the_float64_accuracy_properties_run_and_pass_on_the_numpy_reference(cli):
    result = _run(cli, "numpy")
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = {(record["property"], record["op"]): record["status"] for record in result.records()}
    assert len(statuses) == 12 and set(statuses.values()) == {"passed"}, statuses


def test_they_catch_float32_computed_inside_float64(cli):
    """The two properties it must fail; that each accuracy property runs (none skipped for want
    of a reference) is the test above's."""
    result = _run(cli, f"{TESTS / 'broken_adapters.py'}:Float32InsideFloat64", "forward_accuracy,vjp_accuracy")
    assert result.returncode == 1
    assert result.properties_with("failed") == {"forward_accuracy", "vjp_accuracy"}
    assert not result.records("skipped")
