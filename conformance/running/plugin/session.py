"""What the plugin knows during a session, in one typed object kept in the config's stash: its
settings, the shape pools, the adapters under test, the records so far, the stream to the
runner, and the known divergences."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from conformance.adapters import framework_of
from conformance.checks import measure
from conformance.checks.calls import Subject
from conformance.checks.headlines import raised_message
from conformance.inputs.covering import Drawn, drawn
from conformance.inputs.profiles import hypothesis_name
from conformance.inputs.shape_pool import ShapePool, shape_pool
from conformance.results import divergences
from conformance.results.divergences import Divergence, DivergenceFileError
from conformance.results.documents import Stream
from conformance.results.environment import run_environment
from conformance.results.records import Record, adapter_error, framework_versions, now
from conformance.running.loading import AdapterSpecError, absolute_spec, load_adapter, selected_specs
from conformance.running.plugin.options import Settings
from conformance.truth.oracle import OPS, Op

KEY = pytest.StashKey["Session"]()


@dataclass
class Session:
    settings: Settings
    shape_seed: int
    stream: Stream | None
    pools: dict[tuple[str, str], ShapePool] = field(default_factory=dict)
    subjects: list[Subject] | None = None
    records: list[Record] = field(default_factory=list)
    started: str = field(default_factory=now)
    clock: float = field(default_factory=time.monotonic)
    _divergences: tuple[list[Divergence], list[str]] | None = None
    versions: dict[str, str] = field(default_factory=framework_versions)

    def pool(self, op: str, dtype: str) -> ShapePool:
        """The shape pool of (``op``, ``dtype``): every property of the run draws from it."""
        key = (op, dtype)
        if key not in self.pools:
            profile = self.settings.profile
            self.pools[key] = shape_pool(
                self.shape_seed, op, dtype, thorough=profile == "thorough", every_axis_form=profile != "dev"
            )
        return self.pools[key]

    def edges(self, name: str, op: str, dtype: str) -> Drawn:
        """What record (``op``, ``dtype``) of catalogue property ``name`` checks: the run's block
        of its covering design in ``dev``, the full product otherwise."""
        return drawn(name, op, dtype, self.settings.ops, self.settings.dtypes, self.settings.block)

    def pairs(self) -> list[tuple[Op, str]]:
        """The (op, dtype) pairs this session tests, in order: its shard's share of them."""
        every = [(op, dtype) for op in OPS if op in self.settings.ops for dtype in self.settings.dtypes]
        return shard_pairs(every, self.settings.shard)

    def loaded(self) -> list[Subject]:
        """The adapters, loaded once on first need; one that fails to load becomes an error record."""
        if self.subjects is None:
            try:
                specs = selected_specs(
                    list(self.settings.frameworks) or None, self.settings.adapters, all_paths=self.settings.all_paths
                )
            except AdapterSpecError as error:
                raise pytest.UsageError(str(error)) from None
            self.subjects = []
            for spec in specs:
                try:
                    adapter = load_adapter(spec)
                except AdapterSpecError as error:
                    raise pytest.UsageError(str(error)) from None
                except Exception as error:
                    message = raised_message("loading", error)
                    self.emit(adapter_error(spec, framework_of(spec), "load_adapter", message))
                    continue
                self.subjects.append(Subject(adapter, spec, absolute_spec(spec), self.settings.call_timeout))
        return self.subjects

    @property
    def environment(self) -> dict[str, dict[str, Any]]:
        """The facts of the machine and of each loaded adapter's framework, which decide the
        known divergences that hold here."""
        return run_environment(subject.metadata() for subject in self.loaded())

    def emit(self, record: Record) -> None:
        """Keep ``record``, and stream it to the runner."""
        self.records.append(record)
        if self.stream is not None:
            self.stream.emit("record", record=record.as_dict())

    @property
    def divergences(self) -> list[Divergence]:
        return self._known()[0]

    @property
    def divergence_sources(self) -> list[str]:
        return self._known()[1]

    def _known(self) -> tuple[list[Divergence], list[str]]:
        if self._divergences is None:
            try:
                self._divergences = divergences.load_all(
                    self.settings.divergence_files, defaults=self.settings.default_divergences
                )
            except DivergenceFileError as error:
                raise pytest.UsageError(str(error)) from None
        return self._divergences


def shard_pairs(pairs: list[tuple[Op, str]], shard: tuple[int, int] | None) -> list[tuple[Op, str]]:
    """The (op, dtype) pairs of shard (K, N): every N-th, from the K-th. Each (op, dtype)
    has its own shape pool, so shards build disjoint sets of programs."""
    if shard is None:
        return pairs
    index, count = shard
    return pairs[index::count]


def shape_seed(hypothesis_seed: Any, profile: str) -> int:
    """The seed of the run's shape pools: the Hypothesis seed when one is given (the runner
    gives every worker the same), 0 when the profile is derandomized, else a fresh one."""
    if hypothesis_seed is not None:
        text = str(hypothesis_seed)
        return int(text) if text.lstrip("-").isdigit() else int.from_bytes(text.encode()[:8], "little")
    derandomized = hypothesis_settings.get_profile(hypothesis_name(profile)).derandomize
    return 0 if derandomized else random.randrange(2**31)


def beats(stream: Stream, seconds: float) -> Callable[[float | None], None]:
    """A heartbeat for the runner: at most one every ``seconds``, except that a call allowed
    another time than the last beat said is announced at once (the runner waits that long).
    Each says how many examples the property under way has started, for the progress line."""
    last: list[Any] = [0.0, None]

    def beat(timeout: float | None) -> None:
        moment = time.monotonic()
        if moment - last[0] >= seconds or timeout != last[1]:
            last[:] = [moment, timeout]
            measurement = measure.current()
            stream.emit("beat", timeout=timeout, examples=measurement.examples if measurement is not None else 0)

    return beat


def session_of(config: pytest.Config) -> Session:
    return config.stash[KEY]
