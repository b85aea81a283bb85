"""Where the workers keep compiled programs, so that no worker and no run compiles twice.

JAX compiles every primitive per shape, dtype and axis, even op by op: on this 2-core
machine the eager path's forward, VJP and Jacobian of one new (shape, axis, dtype) cost
about 2 s, against 15 ms once compiled. JAX can keep those executables on disk (its
persistent compilation cache, keyed by the program, the compile options, the device and
the jax/jaxlib versions, so a stale entry is never reused). The runner turns it on for its
workers: the three jax paths of a run share their compilations, and a later run loads them
(about 0.45 s instead of 2 s per new shape).

``$CONFORMANCE_COMPILATION_CACHE`` names the folder (default
``$XDG_CACHE_HOME/softmax-conformance``, else ``~/.cache/softmax-conformance``), or is
``off``. A ``JAX_*`` cache setting the user made is left as it is. torch's inductor keeps
its own on-disk cache by default, so nothing is set for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_ENVIRONMENT_VARIABLE = "CONFORMANCE_COMPILATION_CACHE"
_OFF = ("off", "0", "none", "false", "no")


def cache_root(environment: Mapping[str, str]) -> Path | None:
    """The cache folder ``environment`` asks for, or None when caching is off."""
    chosen = environment.get(CACHE_ENVIRONMENT_VARIABLE, "").strip()
    if chosen.lower() in _OFF:
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = environment.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "softmax-conformance"


def worker_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: this process's) with the compilation cache turned on."""
    result = dict(os.environ if environment is None else environment)
    root = cache_root(result)
    if root is None:
        return result
    result.setdefault("JAX_COMPILATION_CACHE_DIR", str(root / "jax"))
    # Cache everything: the programs here are small, and their number is what costs.
    result.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    result.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
    return result
