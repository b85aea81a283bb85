"""The workloads the driver can time, each a small declarative :class:`Workload`.

A command's arguments may name ``{python}`` (this interpreter) and ``{folder}`` (the session's
folder for logs, results and caches). The limits are in loops of the reference
(:mod:`benchmarks.reference`): 70 loops is 60 s on a machine whose loop takes 0.86 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from conformance.truth.frameworks import FRAMEWORKS

THREE = "torch,jax,tensorflow"
USER_ADAPTER = "adapters/numpy_adapter.py:NumpyReference"
# correct, and quadratic per row (1 / sum_j exp(x_j - x_i)): what the time budget bounds
SLOW_ADAPTER = "tests/conforming_adapters.py:PairwiseQuadraticSoftmax"


@dataclass(frozen=True)
class Workload:
    """What one benchmark times.

    ``cache``: ``cold`` times each repeat with a fresh, empty compilation-cache folder
    (``$CONFORMANCE_COMPILATION_CACHE``); ``warm`` with the folder a cold run of the same
    commands left (one is made first, untimed, when none ran in the session). ``profiled``:
    the commands are conformance runs, which take the driver's ``--profile``. ``in_clone``:
    they run in a fresh ``git clone`` of HEAD. ``results``: the conformance results file the
    commands write (in ``{folder}``), broken down per adapter and property; ``details``: the
    JSON file a probe writes, kept whole. ``compiles``: the commands build a framework's
    programs, so the result file holds one XLA compilation as a reference figure.
    """

    name: str
    what: str
    commands: tuple[tuple[str, ...], ...]
    cache: Literal["cold", "warm"] = "cold"
    repeats: int = 1
    limit_loops: float | None = None
    aim_loops: float | None = None
    profiled: bool = False
    in_clone: bool = False
    results: str | None = None
    details: str | None = None
    compiles: bool = True

    @property
    def cache_key(self) -> str:
        """The name of the cache folder: the same for the cold and warm workloads of one command."""
        return self.name.removesuffix("-warm")


def _run(*arguments: str) -> tuple[tuple[str, ...], ...]:
    return (("{python}", "-m", "conformance", "run", *arguments),)


def _probe(module: str, *arguments: str) -> tuple[tuple[str, ...], ...]:
    return (("{python}", "-m", f"benchmarks.probes.{module}", *arguments),)


def _conformance_run(name: str, what: str, arguments: tuple[str, ...], **settings: Any) -> Workload:
    """A conformance run that writes its results to ``{folder}/NAME.json`` (the warm
    workload's to the cold one's file)."""
    results = f"{name.removesuffix('-warm')}.json"
    command = _run(*arguments, "--json", f"{{folder}}/{results}")
    return Workload(name, what, command, profiled=True, results=results, **settings)


def _conformance_runs() -> list[Workload]:
    default = ("--frameworks", THREE, "--html", "{folder}/default.html")
    user = ("--adapter", USER_ADAPTER)
    every_path = ("--frameworks", THREE, "--all-paths")
    again = "again with the cache the cold run left"
    return [
        _conformance_run("default", "the default run of the three frameworks", default, limit_loops=70, aim_loops=50),
        _conformance_run("default-warm", f"the default run, {again}", default, cache="warm", limit_loops=70),
        _conformance_run("user", "a user's adapter (NumPy's reference)", user, limit_loops=7, compiles=False),
        _conformance_run("user-warm", f"a user's adapter, {again}", user, cache="warm", limit_loops=7, compiles=False),
        _conformance_run(
            "slow-user",
            "a correct adapter quadratic per row, within 3 times the user's limit",
            ("--adapter", SLOW_ADAPTER),
            limit_loops=21,
            compiles=False,
        ),
        _conformance_run("all-paths", "every AD path of the three frameworks", every_path, limit_loops=700),
        _conformance_run("all-paths-warm", f"every AD path, {again}", every_path, cache="warm", limit_loops=350),
        *(
            _conformance_run(f"path-{path}", f"the AD path {path} alone", ("--adapter", path), limit_loops=210)
            for framework in THREE.split(",")
            for path in FRAMEWORKS[framework][1]
        ),
    ]


def _others() -> list[Workload]:
    return [
        Workload("ci", "a fresh clone of HEAD, then .ci/run", (("bash", ".ci/run"),), limit_loops=700, in_clone=True),
        Workload(
            "compile-floor",
            "every quantity of both ops in every dtype, called once per adapter in a fresh interpreter",
            _probe("compile_floor", "--frameworks", THREE, "--out", "{folder}/compile-floor.json"),
            details="compile-floor.json",
        ),
        Workload(
            "programs",
            "the XLA programs a dev run of jax-jit compiles (seed 7, block 3), per property",
            _probe("programs", "--adapter", "jax-jit", "--out", "{folder}/programs.json"),
            details="programs.json",
        ),
        Workload(
            "imports",
            "each framework's import in a fresh interpreter",
            _probe("imports", "--frameworks", f"{THREE},numpy", "--out", "{folder}/imports.json"),
            details="imports.json",
        ),
        Workload(
            "draws",
            "drawing the inputs alone, per Hypothesis example",
            _probe("draws", "--out", "{folder}/draws.json"),
            details="draws.json",
        ),
    ]


WORKLOADS: dict[str, Workload] = {workload.name: workload for workload in [*_conformance_runs(), *_others()]}
# names that stand for several workloads
GROUPS: dict[str, tuple[str, ...]] = {
    "paths": tuple(name for name in WORKLOADS if name.startswith("path-")),
    # issue 27's targets in loops: the default run, a user's adapter, a slow one, every path, CI
    "targets": ("default", "user", "slow-user", "all-paths", "ci"),
}
GROUP_MEANINGS = {"paths": "every path-* workload", "targets": "the project's targets: " + ", ".join(GROUPS["targets"])}


def named(names: list[str]) -> list[Workload]:
    """The workloads ``names`` name, in order; a group stands for its members."""
    found: list[Workload] = []
    for name in names:
        for member in GROUPS.get(name, (name,)):
            found.append(WORKLOADS[member])
    return found
