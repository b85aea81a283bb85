"""What the plugin knows during a session, in one typed object kept in the config's stash: its
run configuration, the shape pools, the adapters under test, the records so far, the stream to the
runner, and the known divergences."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from conformance.checks import measure
from conformance.checks.calls import Subject
from conformance.checks.headlines import raised_message
from conformance.inputs.covering import SHAPE_POOL, Drawn, drawn
from conformance.inputs.profiles import hypothesis_name
from conformance.inputs.shape_pool import ShapePool, shape_pool
from conformance.results import divergences
from conformance.results.divergences import Divergence, DivergenceFileError
from conformance.results.documents import Stream
from conformance.results.environment import run_environment
from conformance.results.records import Record, adapter_error, framework_versions, now
from conformance.running.config import Profile, RunConfig
from conformance.running.loading import AdapterSpecError, absolute_spec, load_adapter
from conformance.truth.frameworks import framework_of
from conformance.truth.oracle import OPS, Op

KEY = pytest.StashKey["Session"]()


@dataclass
class Session:
    run_config: RunConfig
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
        """The shape pool of (``op``, ``dtype``): every property of the run draws from it; in
        ``dev``, the run's block of its sites (:data:`~conformance.inputs.covering.SHAPE_POOL`)."""
        key = (op, dtype)
        if key not in self.pools:
            profile = self.run_config.profile
            planned = self.edges(SHAPE_POOL, op, dtype)
            self.pools[key] = shape_pool(
                self.shape_seed,
                op,
                dtype,
                thorough=profile is Profile.THOROUGH,
                every_axis_form=profile is not Profile.DEV,
                kinds=None if planned.block is None else {str(kind) for (kind,) in planned.combinations},
            )
        return self.pools[key]

    def edges(self, name: str, op: str, dtype: str) -> Drawn:
        """What record (``op``, ``dtype``) of catalogue property ``name`` (or the SHAPE_POOL)
        checks: the run's block of its covering design in ``dev``, the full product otherwise."""
        return drawn(name, op, dtype, self.run_config.ops, self.run_config.dtypes, self.run_config.block)

    def pairs(self) -> list[tuple[Op, str]]:
        """The (op, dtype) pairs this session tests, in order: its shard's share of them."""
        every = [(op, dtype) for op in OPS if op in self.run_config.ops for dtype in self.run_config.dtypes]
        return shard_pairs(every, self.run_config.shard)

    def loaded(self) -> list[Subject]:
        """The adapters, loaded once on first need; one that fails to load becomes an error record."""
        if self.subjects is None:
            self.subjects = []
            for parsed in self.run_config.adapters:
                spec = parsed.text
                try:
                    adapter = load_adapter(parsed)
                except AdapterSpecError as error:
                    raise pytest.UsageError(str(error)) from None
                except Exception as error:
                    message = raised_message("loading", error)
                    self.emit(adapter_error(spec, framework_of(spec), "load_adapter", message))
                    continue
                self.subjects.append(Subject(adapter, spec, absolute_spec(parsed), self.run_config.call_timeout))
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
                    self.run_config.divergence_files, defaults=self.run_config.default_divergences
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


def shape_seed(seed: int | None, profile: Profile) -> int:
    """The seed of the run's shape pools: the run's seed when one is given (the runner gives
    every worker the same), 0 when the profile is derandomized, else a fresh one."""
    if seed is not None:
        return seed
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
