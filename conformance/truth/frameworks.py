"""The registry of the built-in frameworks and their adapters: names only, no implementations.

Every stage may need to know which framework an adapter name belongs to (a record's
``framework`` field, a known divergence's, the run's framework list), but only ``running``
and above load an adapter. So the names live here, at the bottom, as plain data, and the
implementations in ``conformance.adapters``, which the loader imports by the module names
below, only when an adapter is asked for.
"""

from __future__ import annotations

# adapter name -> (module, class)
BUILTIN_ADAPTERS: dict[str, tuple[str, str]] = {
    "numpy": ("conformance.adapters.numpy_adapter", "NumpyReference"),
    "torch": ("conformance.adapters.torch_adapter", "TorchAutograd"),
    "torch-func": ("conformance.adapters.torch_adapter", "TorchFunc"),
    "torch-jacfwd": ("conformance.adapters.torch_adapter", "TorchFuncForward"),
    "torch-compile": ("conformance.adapters.torch_adapter", "TorchCompile"),
    "jax": ("conformance.adapters.jax_adapter", "JaxEager"),
    "jax-jit": ("conformance.adapters.jax_adapter", "JaxJit"),
    "jax-jacfwd": ("conformance.adapters.jax_adapter", "JaxForward"),
    "tensorflow": ("conformance.adapters.tensorflow_adapter", "TensorflowEager"),
    "tensorflow-function": ("conformance.adapters.tensorflow_adapter", "TensorflowFunction"),
    "tensorflow-xla": ("conformance.adapters.tensorflow_adapter", "TensorflowXla"),
    "mlx": ("conformance.adapters.mlx_adapter", "MlxEager"),
    "mlx-compile": ("conformance.adapters.mlx_adapter", "MlxCompile"),
    "paddle": ("conformance.adapters.paddle_adapter", "PaddleDynamic"),
    "paddle-static": ("conformance.adapters.paddle_adapter", "PaddleStatic"),
}

# framework -> (the module it needs, its AD paths); mlx.core, not mlx, because any folder
# named mlx on the path imports as a namespace package. The first path is the framework's
# primary path, the one most of its users run, and the only one a run checks unless asked
# for all: torch's eager autograd; jax.jit (a training step is jitted); tf.function (what
# Keras' fit and most training loops trace their steps into); MLX's eager transforms (mx.compile
# is opt-in); Paddle's dynamic graph (its default mode; to_static is opt-in).
FRAMEWORKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jax": ("jax", ("jax-jit", "jax", "jax-jacfwd")),
    "mlx": ("mlx.core", ("mlx", "mlx-compile")),
    "numpy": ("numpy", ("numpy",)),
    "paddle": ("paddle", ("paddle", "paddle-static")),
    "tensorflow": ("tensorflow", ("tensorflow-function", "tensorflow", "tensorflow-xla")),
    "torch": ("torch", ("torch", "torch-func", "torch-jacfwd", "torch-compile")),
}

# the frameworks whose functions can be wrapped, by from_framework and on the command line
FUNCTION_FRAMEWORKS: tuple[str, ...] = ("torch", "jax", "tensorflow")


def framework_of(spec: str) -> str | None:
    """The built-in framework a spec belongs to, or None for a user adapter."""
    for framework, (_, names) in FRAMEWORKS.items():
        if spec in names:
            return framework
    return None
