"""The pytest plugin, registered through the ``pytest11`` entry point: idle unless asked.

Installing the suite puts this plugin in every pytest run of the environment, so it does
nothing there unless a conformance option is given, the command line names the properties
(``pytest --pyargs conformance.properties``), or a conformance property is collected: until
then it loads no profile, prints no header, imports no framework and changes no setting. Its
options live in a group of their own; the suite's Hypothesis profile is
``--conformance-profile`` (registered under names of its own, so a user's ``ci`` stays
theirs), and a ``--hypothesis-profile`` the user gives wins over it.

Once asked, it registers its features, one module each, listed in :data:`FEATURES` the way
pytest lists its own; :mod:`options` and :mod:`session` hold what they share, :mod:`known` the
known divergences and shrinking, :mod:`probing` the behaviour and agreement probes.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from conformance.checks import heartbeat
from conformance.inputs.local_constants import draw_no_local_constants
from conformance.inputs.profiles import hypothesis_name, register_profiles
from conformance.results.documents import Stream
from conformance.results.records import framework_versions
from conformance.running.plugin.options import asked, pytest_addoption, run_config
from conformance.running.plugin.session import KEY, Session, beats, shape_seed

FEATURES: tuple[str, ...] = (
    "conformance.running.plugin.collection",  # parametrizing, fixtures, deselecting, "not provided"
    "conformance.running.plugin.recording",  # records, the stream to the runner, the document
    "conformance.running.plugin.budgeting",  # each property's time budget in dev
)
WORKER_FEATURES: tuple[str, ...] = (
    "conformance.running.plugin.ending",  # a runner's worker leaves without the interpreter's teardown
)
PROPERTIES = Path(__file__).resolve().parents[2] / "properties"

__all__ = ["pytest_addoption"]


def _names_the_properties(config: pytest.Config) -> bool:
    return any("conformance.properties" in str(arg) or "conformance/properties" in str(arg) for arg in config.args)


def active(config: pytest.Config) -> bool:
    return KEY in config.stash


def activate(config: pytest.Config) -> None:
    """Turn the plugin on for this session: its marker, the suite's profile (unless the user
    chose one), draws that no literal of the suite's own code takes part in, the session's
    state, the stream to the runner, and its features (a runner's worker gets those of
    :data:`WORKER_FEATURES` too)."""
    if active(config):
        return
    config.addinivalue_line("markers", "conformance(name, needs, ops): a conformance property")
    chosen = run_config(config)
    register_profiles()
    if chosen.hypothesis_profile is None:
        settings.load_profile(hypothesis_name(chosen.profile))
    draw_no_local_constants()
    stream = Stream(chosen.stream_path) if chosen.stream_path else None
    if stream is not None:
        heartbeat.beat = beats(stream, seconds=0.5)
    config.stash[KEY] = Session(chosen, shape_seed(chosen.seed, chosen.profile), stream)
    for name in FEATURES + (WORKER_FEATURES if stream is not None else ()):
        config.pluginmanager.register(importlib.import_module(name), name)


def pytest_configure(config: pytest.Config) -> None:
    if asked(config) or _names_the_properties(config):
        activate(config)


def pytest_collect_file(file_path: Path, parent: Any) -> None:
    """A property module about to be collected turns the plugin on before it is imported (its
    example budgets are read from the profile then)."""
    if PROPERTIES in file_path.resolve().parents:
        activate(parent.config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not active(config):
        return []
    session = config.stash[KEY]
    versions = ", ".join(f"{name} {version}" for name, version in framework_versions().items())
    seed = session.run_config.seed
    profile = session.run_config.hypothesis_profile or session.run_config.profile
    return [
        f"softmax-conformance: profile={profile} seed={seed if seed is not None else 'derandomized/random'} "
        f"shape-pool seed={session.shape_seed}",
        f"softmax-conformance versions: {versions}",
    ]
