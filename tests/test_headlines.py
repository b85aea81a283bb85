"""A message's headline is its most informative line: the one a failure card, the records table,
the terminal and the grouping by cause show.

The framework texts below are recorded from real runs (TensorFlow 2.21 with oneDNN on an
AVX-512 CPU, torch 2.13, jax 0.10.2), so these tests need none of the frameworks.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters.numpy_adapter import NumpyReference
from conformance.checks.calls import Subject, invoke
from conformance.checks.failures import AdapterCallError
from conformance.checks.headlines import cause_line, headline, raised_message
from conformance.checks.reproducer import Call
from conformance.presentation import report
from conformance.results.records import Record

WHERE = "[tensorflow-function softmax axis=0 float32]"
INFORMATIVE = f"softmax raised AbortedError: Input dims must be <= 5 and >=1 {WHERE}"

# TensorflowFunction().softmax(np.zeros([2] * 6, np.float32), 0)
TENSORFLOW_GRAPH_ERROR = (
    "Graph execution error:\n\nDetected at node Softmax defined at (most recent call last):\n"
    '  File "/tmp/tferr2.py", line 9, in <module>\n\n'
    '  File "/work/main/adapters/_common.py", line 147, in softmax\n\n'
    '  File "/work/main/adapters/_common.py", line 206, in _evaluate\n\n'
    '  File "/work/main/adapters/tensorflow_adapter.py", line 59, in _call\n\n'
    '  File "/work/main/adapters/_common.py", line 70, in function\n\n'
    "Input dims must be <= 5 and >=1\n\t [[{{node Softmax}}]] [Op:__inference_function_36]"
)
# tf.function(lambda t: tf.nn.softmax(t, axis=0))(tf.zeros([2] * 6, tf.float32))
TENSORFLOW_FUNCTION_ERROR = (
    "{{function_node __inference_<lambda>_38}} Input dims must be <= 5 and >=1\n"
    "\t [[{{node Softmax}}]] [Op:__inference_<lambda>_38]"
)
# TensorflowEager().softmax(np.zeros([2] * 6, np.float32), 0)
TENSORFLOW_EAGER_ERROR = (
    "{{function_node __wrapped__Softmax_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
    "Input dims must be <= 5 and >=1 [Op:Softmax] name: "
)
# torch.compile(lambda t: torch.softmax(t, -1), backend=a_backend_that_raises)(torch.zeros(2, 2))
TORCH_BACKEND_ERROR = (
    "backend='bad_backend' raised:\n"
    "RuntimeError: softmax_backward_data: grad_output and output must have the same dtype\n\n"
    "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace (please do this especially if you're reporting a bug "
    'to PyTorch). For even more developer context, set TORCH_LOGS="+dynamo"\n'
)
# jax.jit(lambda t, a: jax.nn.softmax(t, axis=int(a)))(jnp.zeros((2, 2)), 1)
JAX_CONCRETIZATION_ERROR = (
    "Abstract tracer value encountered where concrete value is expected: traced array with shape int32[]\n"
    "The problem arose with the `int` function. If trying to convert the data type of a value, try using "
    "`x.astype(int)` or `jnp.array(x, int)` instead.\n"
    "The error occurred while tracing the function <lambda> at /tmp/jaxerr.py:3 for jit. This concrete value "
    "was not available in Python because it depends on the value of the argument a.\n\n"
    "See https://docs.jax.dev/en/latest/errors.html#jax.errors.ConcretizationTypeError"
)


class AbortedError(Exception):
    """Stands in for ``tf.errors.AbortedError``: only its name and text reach a message."""


@pytest.mark.parametrize(
    "text",
    [TENSORFLOW_GRAPH_ERROR, TENSORFLOW_FUNCTION_ERROR, TENSORFLOW_EAGER_ERROR],
    ids=["graph", "function", "eager"],
)
def test_a_tensorflow_error_s_cause_is_the_node_s_message_without_its_decorations(text: str) -> None:
    assert cause_line(text) == "Input dims must be <= 5 and >=1"


def test_an_adapter_s_exception_is_recorded_with_its_cause_first_and_its_whole_text_after() -> None:
    message = raised_message("softmax", AbortedError(TENSORFLOW_GRAPH_ERROR), WHERE)
    assert message == f"{INFORMATIVE}\n\n{TENSORFLOW_GRAPH_ERROR}"
    assert headline(message) == INFORMATIVE


def test_invoke_records_what_an_adapter_raised_under_its_informative_line() -> None:
    class RaisesLikeTensorflow(NumpyReference):
        name = "tensorflow-function"

        def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
            raise AbortedError(TENSORFLOW_GRAPH_ERROR)

    subject = Subject(RaisesLikeTensorflow(), "tests/test_headlines.py:RaisesLikeTensorflow", "here")
    x = np.zeros((2,) * 6, np.float32)
    with pytest.raises(AdapterCallError) as raised:
        invoke(subject, "softmax", "forward", Call(spec="here", method="softmax", axis=0, arrays={"x": x}), x.shape)
    assert raised.value.message.splitlines()[0] == INFORMATIVE
    assert raised.value.message.endswith(TENSORFLOW_GRAPH_ERROR)  # nothing lost


def test_a_message_recorded_before_keeps_its_prefix_and_its_location_around_the_cause() -> None:
    legacy = f"softmax raised AbortedError: {TENSORFLOW_GRAPH_ERROR} {WHERE}"  # the location after the text
    assert headline(legacy) == INFORMATIVE
    assert headline(f"AbortedError: {TENSORFLOW_GRAPH_ERROR}") == "AbortedError: Input dims must be <= 5 and >=1"
    eager = f"softmax raised AbortedError: {TENSORFLOW_EAGER_ERROR} [tensorflow softmax axis=0 float32]"
    assert headline(eager) == "softmax raised AbortedError: Input dims must be <= 5 and >=1 " + (
        "[tensorflow softmax axis=0 float32]"
    )


def test_records_before_and_after_share_a_cause() -> None:
    def record(message: str) -> Record:
        return Record(
            adapter="tensorflow-function", property="p", op="softmax", dtype="float32", status="error", message=message
        )

    before = record(f"softmax raised AbortedError: {TENSORFLOW_GRAPH_ERROR} {WHERE}")
    after = record(raised_message("softmax", AbortedError(TENSORFLOW_GRAPH_ERROR), WHERE))
    assert report.cause(before) == report.cause(after) == "softmax raised AbortedError: Input dims must be <= # and >=#"


def test_a_torch_compile_backend_error_s_headline_is_the_error_it_wraps() -> None:
    message = raised_message("vjp", RuntimeError(TORCH_BACKEND_ERROR), "[torch-compile softmax axis=1 float16]")
    assert headline(message) == (
        "vjp raised RuntimeError: RuntimeError: softmax_backward_data: grad_output and output must have the "
        "same dtype [torch-compile softmax axis=1 float16]"
    )


def test_a_first_line_that_explains_stays_the_headline() -> None:
    message = raised_message("jacobian", TypeError(JAX_CONCRETIZATION_ERROR), "[jax-jit softmax axis=1 float32]")
    assert headline(message) == (
        "jacobian raised TypeError: Abstract tracer value encountered where concrete value is expected: "
        "traced array with shape int32[] [jax-jit softmax axis=1 float32]"
    )
    assert message.endswith(JAX_CONCRETIZATION_ERROR)


@pytest.mark.parametrize(
    "message",
    [
        "vjp[2, 1] = 0.2501, but the oracle gives 0.25 (err 3.1 ulp > bound 2 ulp) [torch softmax axis=1 float32]",
        "jacobian raised RuntimeError: stack expects a non-empty TensorList [torch softmax axis=0 float32]",
        "softmax timed out after 60 s [numpy softmax axis=0 float32]",
        "boom",
    ],
)
def test_a_plain_one_line_message_is_its_own_headline(message: str) -> None:
    assert headline(message) == message
    assert headline(message + "\nlikely cause: a hint on the last line") == message


def test_an_exception_of_one_line_is_recorded_as_before() -> None:
    """So the known divergences' message globs keep matching."""
    error = RuntimeError("stack expects a non-empty TensorList")
    assert raised_message("jacobian", error, "[torch softmax axis=0 float32]") == (
        "jacobian raised RuntimeError: stack expects a non-empty TensorList [torch softmax axis=0 float32]"
    )
    assert raised_message("loading", ModuleNotFoundError("No module named 'x'")) == (
        "loading raised ModuleNotFoundError: No module named 'x'"
    )


def test_an_announcement_with_nothing_to_pick_stays() -> None:
    assert headline("softmax raised ValueError: [numpy softmax axis=0 float32]") == (
        "softmax raised ValueError: [numpy softmax axis=0 float32]"
    )
    assert cause_line("Expected:\n  an indented detail") == "Expected:"
    assert headline("") == headline(None) == ""
