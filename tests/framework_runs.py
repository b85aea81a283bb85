"""The real frameworks' runs through the real CLI, as the main job makes them: shared by the
modules that start one (test_frameworks_conform, test_secondary_paths_conform)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import run_cli

FRAMEWORKS = ("torch", "jax", "tensorflow")


def run_frameworks(folder, adapters, *options):
    return run_cli(
        "run",
        *(f"--adapter={spec}" for spec in adapters),
        "--plain",
        *options,
        json_path=folder / "results.json",
        timeout=3600,
    )


def needs_frameworks():
    missing = [name for name in FRAMEWORKS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/setup.sh installs them)")


def assert_conforms_or_fails_only_as_recorded(result):
    """Exit 0, no failed or errored record (each failure a known divergence, xfailed), and no
    problem with the known divergences (a stale entry)."""
    bad = [
        f"{r['spec']} {r['property']} {r['op']} {r['dtype']}: {r['message'][:300]}"
        for r in result.records()
        if r["status"] in ("failed", "error")
    ]
    assert result.returncode == 0 and not bad, "\n".join(bad) or result.stderr[-3000:]
    assert not result.document["metadata"]["divergence_problems"]
