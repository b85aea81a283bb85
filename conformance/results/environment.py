"""What a run's results depend on besides the versions: the machine and each framework's settings.

The same release of a framework gives other answers on other machines. TensorFlow turns its
oneDNN kernels on by default on CPUs with AVX-512, and what those kernels reject depends on
the CPU (a rank 6 softmax raises in float32 and bfloat16 on AMD, in float16 too on Intel with
avx512_fp16). So a run records *facts*, probed where it ran, and a known divergence may say
under which facts it holds (``environment = { onednn = "on" }``).

* the machine's facts (:func:`machine_facts`): the CPU's model and the features that decide
  which kernels a framework picks;
* each built-in framework's facts, probed by its adapter module in the worker that loads it
  (``environment()`` of an adapter): its switches as the process sees them (oneDNN on or off,
  ``XLA_FLAGS``) and the outcome of small probes of what it does on this machine.

A fact is a string, a bool, or a table of either by dtype name, for what a probe found per
dtype. A condition holds when the fact, read at the record's dtype if it is a table, equals
the condition's bool or matches its glob.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

Fact = str | bool | Mapping[str, str | bool]
Facts = Mapping[str, Fact]
# "machine" -> the machine's facts; a framework's name -> its facts
Environment = Mapping[str, Facts]
MACHINE = "machine"

# The CPU features that decide which kernels the frameworks pick (oneDNN's and XLA's dispatch,
# torch's ATen CPU capability): the vector widths and the low-precision instructions.
KERNEL_FEATURES: tuple[str, ...] = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "asimd",
    "sve",
    "sve2",
    "bf16",
)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


@functools.cache
def machine_facts() -> dict[str, str]:
    """The CPU's model and its kernel-relevant features, space-separated (a glob such as
    ``"*avx512_fp16*"`` asks for one)."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return {
        "cpu": info.get("model name") or info.get("CPU part") or platform.processor() or platform.machine(),
        "cpu_features": " ".join(feature for feature in KERNEL_FEATURES if feature in flags),
    }


def fact_at(fact: Fact, dtype: str) -> str | bool | None:
    """``fact`` as it applies to a record of ``dtype``: a table is read at that dtype."""
    if isinstance(fact, Mapping):
        return fact.get(dtype)
    return fact


def holds(condition: Mapping[str, str | bool], facts: Facts, dtype: str) -> bool:
    """Whether every fact ``condition`` names is as it asks, read at ``dtype``; a fact the run
    did not record never holds."""
    for name, wanted in condition.items():
        if name not in facts:
            return False
        found = fact_at(facts[name], dtype)
        if found is None:
            return False
        if isinstance(wanted, bool):
            if found is not wanted:
                return False
        elif isinstance(found, bool) or not fnmatchcase(found, wanted):
            return False
    return True


def facts_for(environment: Environment, framework: str | None) -> dict[str, Fact]:
    """The facts a record of ``framework`` was checked under: the machine's, and the
    framework's own (which win where both name a fact)."""
    found: dict[str, Fact] = dict(environment.get(MACHINE, {}))
    if framework is not None:
        found.update(environment.get(framework, {}))
    return found


def run_environment(adapters: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Fact]]:
    """The run's environment: the machine's facts, and each framework's, as the adapters'
    metadata reported them (the first adapter of a framework to report facts speaks for it)."""
    found: dict[str, dict[str, Fact]] = {MACHINE: dict(machine_facts())}
    for adapter in adapters:
        framework, facts = adapter.get("framework"), adapter.get("environment")
        if framework and isinstance(facts, Mapping) and facts and framework not in found:
            found[str(framework)] = dict(facts)
    return found


def describe(fact: Fact) -> str:
    """A fact in words for the report: a table by dtype as ``float32: true, ...``."""
    if isinstance(fact, Mapping):
        return ", ".join(f"{dtype}: {_word(value)}" for dtype, value in fact.items())
    return _word(fact)


def _word(value: str | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value or "(empty)"
