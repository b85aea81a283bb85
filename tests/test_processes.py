"""The worker count respects a CPU quota: a container limited by cgroup ``cpu.max`` (v2) or
``cpu.cfs_quota_us`` (v1) gets as many workers as its quota, not as the host has cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.running.processes import available_cores, cpu_quota


def _cgroup_v2(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(text)
    return root


def _cgroup_v1(root: Path, quota_us: int, period_us: int) -> Path:
    (root / "cpu").mkdir(parents=True, exist_ok=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period_us}\n")
    return root


@pytest.mark.parametrize(
    ("text", "expected"), [("150000 100000\n", 1.5), ("100000 100000\n", 1.0), ("max 100000\n", None)]
)
def test_a_cgroup_v2_quota_is_read_in_cores(tmp_path: Path, text: str, expected: float | None) -> None:
    assert cpu_quota(_cgroup_v2(tmp_path, text)) == expected


@pytest.mark.parametrize(("quota_us", "expected"), [(50000, 0.5), (-1, None)])
def test_a_cgroup_v1_quota_is_read_in_cores(tmp_path: Path, quota_us: int, expected: float | None) -> None:
    assert cpu_quota(_cgroup_v1(tmp_path, quota_us, 100000)) == expected


def test_no_cgroup_files_and_unreadable_ones_mean_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None
    assert cpu_quota(_cgroup_v2(tmp_path / "junk", "garbage\n")) is None


def test_a_quota_caps_the_cores_and_a_fraction_rounds_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert available_cores(tmp_path / "none") == 64
    assert available_cores(_cgroup_v2(tmp_path / "a", "150000 100000")) == 2
    assert available_cores(_cgroup_v2(tmp_path / "b", "50000 100000")) == 1
    assert available_cores(_cgroup_v1(tmp_path / "c", 400000, 100000)) == 4


def test_a_quota_larger_than_the_affinity_does_not_add_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert available_cores(_cgroup_v2(tmp_path, "800000 100000")) == 2
