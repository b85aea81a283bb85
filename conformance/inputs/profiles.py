"""Hypothesis profiles, and how a property scales its example budget within one.

* ``ci``: derandomized (the same examples every run, so CI is reproducible), no database;
  the default under ``CI=true``.
* ``dev``: random. ``run`` gives each run a seed (recorded; ``--seed`` repeats it), under which
  Hypothesis leaves its example database aside; a bare pytest run without ``--hypothesis-seed``
  uses the database, and replays a failure found once first.
* ``thorough``: ten times the examples, for a release or a new adapter.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads the names alone, without importing Hypothesis (0.3 s a run)
    from hypothesis import settings

PROFILE_NAMES: tuple[str, ...] = ("ci", "dev", "thorough")
_BASE_EXAMPLES = {"ci": 10, "dev": 10, "thorough": 100}


def hypothesis_name(profile: str) -> str:
    """The name the suite's ``profile`` has among Hypothesis' profiles: one of its own, so that
    registering it never replaces a user's profile or Hypothesis' built-in ``ci``."""
    return f"softmax-conformance-{profile}"


def register_profiles() -> None:
    from hypothesis import HealthCheck, settings

    suppressed = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
    common = settings(deadline=None, print_blob=True, suppress_health_check=suppressed)
    for profile in PROFILE_NAMES:
        derandomized = {"derandomize": True, "database": None} if profile == "ci" else {}
        settings.register_profile(
            hypothesis_name(profile), common, max_examples=_BASE_EXAMPLES[profile], **derandomized
        )


def default_profile() -> str:
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"


class UnknownProfile(ValueError):
    pass


def check_profile(name: str) -> str:
    if name not in PROFILE_NAMES:
        raise UnknownProfile(f"--profile={name}, but the known profiles are: {', '.join(PROFILE_NAMES)}")
    return name


def budget(weight: float) -> settings:
    """Settings for a property worth ``weight`` times the profile's examples (at least 2).

    Expensive properties (full Jacobians, long rows) take a fraction; cheap ones where bugs
    hide in rare inputs take more.
    """
    from hypothesis import Phase, settings

    current = settings.default
    base = current.max_examples if current is not None else _BASE_EXAMPLES["dev"]
    examples = max(2, round(base * weight))
    return settings(max_examples=examples, phases=[p for p in Phase if p is not Phase.explain])
