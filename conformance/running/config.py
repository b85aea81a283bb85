"""One run's settings, typed: :class:`RunConfig`.

It is built and checked once, where the user gives the settings (the ``run`` and ``bench``
command lines, or the pytest plugin's options for a bare ``pytest --pyargs
conformance.properties`` run), from the parsers here, each of which turns a bad value into
one line naming the valid choices. The runner hands it to each worker whole, as a JSON file
(:meth:`RunConfig.write`, read back by the plugin's ``--run-config PATH``), with that worker's
share filled in: its adapter, its stream, its shard, the tests it should skip.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from conformance.checks.names import PROPERTY_NAMES
from conformance.inputs.profiles import check_profile, default_profile
from conformance.properties.marks import check_properties
from conformance.running.loading import AdapterSpec, parse_spec
from conformance.truth.dtypes import DTYPE_NAMES, dtype_name, dtype_named
from conformance.truth.oracle import OPS, Op


class Profile(enum.StrEnum):
    """The suite's profiles (see :mod:`conformance.inputs.profiles`); a member compares equal
    to its name."""

    CI = "ci"
    DEV = "dev"
    THOROUGH = "thorough"


class UnknownOp(ValueError):
    pass


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` as ``["a", "b", "c"]``: the one parser of the comma-separated options."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def seed_from(text: str | None) -> int | None:
    """A ``--hypothesis-seed`` as a number: an integer as itself, other text from its first
    eight bytes (Hypothesis takes any text)."""
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else int.from_bytes(text.encode()[:8], "little")


def profile_named(name: str | None) -> Profile:
    """The profile called ``name``; None: the default (``ci`` under ``CI=true``, else ``dev``)."""
    return Profile(check_profile(name or default_profile()))


def dtypes_named(names: Iterable[str]) -> tuple[str, ...]:
    """The suite's names of ``names``, in order; none: every dtype."""
    return tuple(dtype_name(dtype_named(name)) for name in names) or DTYPE_NAMES


def ops_named(names: Sequence[str], option: str = "--ops") -> tuple[Op, ...]:
    """``names`` as ops, in order; none: both."""
    unknown = [name for name in names if name not in OPS]
    if unknown:
        raise UnknownOp(f"{option}={','.join(names)}, but the ops are: {', '.join(OPS)}")
    return tuple(cast(Op, name) for name in names) or OPS


def properties_named(names: Sequence[str]) -> tuple[str, ...] | None:
    """``names`` checked to be properties; none: every property (None)."""
    return tuple(check_properties(list(names))) or None


@dataclass(frozen=True)
class LargeInput:
    """The input of the ``large_input`` property (bench): ``rows`` rows of ``row_length``
    logits along ``axis`` of a 2-d array."""

    rows: int
    row_length: int
    axis: int = -1

    @property
    def shape(self) -> tuple[int, int]:
        """Rows along the last axis (1 or -1) make ``(rows, row_length)``; along the first
        (0 or -2), ``(row_length, rows)``."""
        return (self.rows, self.row_length) if self.axis in (1, -1) else (self.row_length, self.rows)


@dataclass(frozen=True)
class RunConfig:
    """Everything one run is asked to do, checked."""

    profile: Profile
    adapters: tuple[AdapterSpec, ...] = ()
    seed: int | None = None  # the Hypothesis seed; None: derandomized (ci) or random
    dtypes: tuple[str, ...] = DTYPE_NAMES
    ops: tuple[Op, ...] = OPS
    properties: tuple[str, ...] | None = None  # None: every property
    call_timeout: float | None = None  # seconds one adapter call may take; None: no limit
    jobs: int = 1  # workers at once (the runner)
    divergence_files: tuple[str, ...] = ()  # known-divergence files of the user's
    default_divergences: bool = True  # the suite's own entries too
    block: int | None = None  # dev: the run number whose block of each edge catalogue is checked
    large_input: LargeInput | None = None  # bench's input
    cotangents: int = 1  # random cotangents of the large checks' VJP
    json_path: str | None = None  # where the results document goes
    hypothesis_profile: str | None = None  # the user's --hypothesis-profile, which wins over the suite's
    # one worker's share, filled in by the runner in the file it hands that worker
    stream_path: str | None = None  # JSON-lines events for the runner
    probes_folder: str | None = None  # the adapter's answers on the agreement inputs; None: none to compare
    skip_file: str | None = None  # test ids done before the worker restarted
    shard: tuple[int, int] | None = None  # (K, N): the K-th of N shares of the (op, dtype) pairs

    @property
    def specs(self) -> list[str]:
        """The adapters' specs as the user wrote them."""
        return [spec.text for spec in self.adapters]

    @property
    def share_of_a_whole_run(self) -> float:
        """The share of a whole run's work this run asks of each adapter: its properties among
        all, times its (op, dtype) pairs among all (what the runner scales timings by)."""
        properties = 1.0 if self.properties is None else len(set(self.properties)) / len(PROPERTY_NAMES)
        pairs = len(self.ops) * len(self.dtypes) / (len(OPS) * len(DTYPE_NAMES))
        return min(1.0, properties * pairs)

    def for_worker(
        self, spec: AdapterSpec, stream: Path, probes: Path, skip_file: Path | None, shard: tuple[int, int] | None
    ) -> RunConfig:
        """What the worker running ``spec`` is asked to do: stream its events to ``stream``,
        leave its answers on the agreement inputs in ``probes`` when the run has other adapters
        to compare them with, skip what ``skip_file`` lists."""
        return dataclasses.replace(
            self,
            adapters=(spec,),
            json_path=None,
            stream_path=str(stream),
            probes_folder=str(probes) if len(set(self.specs)) > 1 else None,
            skip_file=None if skip_file is None else str(skip_file),
            shard=shard,
        )

    def as_json(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        data["adapters"] = self.specs
        data["large_input"] = None if self.large_input is None else dataclasses.asdict(self.large_input)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        def optional_tuple(value: Any) -> Any:
            return None if value is None else tuple(value)

        large = data.get("large_input")
        return cls(
            **{
                **data,
                "profile": Profile(data["profile"]),
                "adapters": tuple(parse_spec(text) for text in data["adapters"]),
                "dtypes": tuple(data["dtypes"]),
                "ops": tuple(data["ops"]),
                "properties": optional_tuple(data["properties"]),
                "divergence_files": tuple(data["divergence_files"]),
                "shard": optional_tuple(data["shard"]),
                "large_input": None if large is None else LargeInput(**large),
            }
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=1), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> RunConfig:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
