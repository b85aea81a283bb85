"""Adapters from installed packages: a distribution registers them in the entry-point group
``softmax_conformance.adapters``, and ``--adapter NAME`` runs them by that name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

PACKAGE = """
import numpy as np

from conformance import oracle


class KernelSoftmax:
    name = "kernel-softmax"

    def softmax(self, x, axis):
        return oracle.softmax(x, axis).astype(x.dtype)

    def jacobian(self, x, axis):
        return oracle.jacobian("softmax", x, axis).astype(x.dtype)

    def vjp(self, x, cotangent, axis):
        return oracle.vjp("softmax", x, cotangent, axis).astype(x.dtype)
"""

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "fast-kernels"
version = "1.2.3"

[tool.setuptools]
packages = ["fast_kernels"]

[project.entry-points."softmax_conformance.adapters"]
fast-softmax = "fast_kernels.adapter:KernelSoftmax"
broken-softmax = "fast_kernels.not_there:KernelSoftmax"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the distribution installed, built from source by pip, as a user would."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "source"
    (source / "fast_kernels").mkdir(parents=True)
    (source / "fast_kernels" / "__init__.py").write_text("")
    (source / "fast_kernels" / "adapter.py").write_text(PACKAGE)
    (source / "pyproject.toml").write_text(PYPROJECT)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(root / "dist")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (root / "dist").glob("fast_kernels-1.2.3-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    return root / "site"


def _env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(site)}


def test_an_installed_adapter_runs_by_its_entry_point_name(site: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run", "--adapter", "fast-softmax", "--profile", "ci", "--dtypes", "float32", "--plain",
        json_path=tmp_path / "run.json", env=_env(site),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    records = result.records()
    assert records and {record["spec"] for record in records} == {"fast-softmax"}
    assert {record["adapter"] for record in records} == {"kernel-softmax"}
    assert result.records("passed")


def test_a_broken_entry_point_is_an_error_record_and_the_run_goes_on(site: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run", "--adapter", "broken-softmax", "--adapter", "numpy", "--profile", "ci", "--dtypes", "float32",
        "--properties", "forward_accuracy", "--plain", json_path=tmp_path / "run.json", env=_env(site),
    )  # fmt: skip
    assert result.returncode == 1
    [error] = [record for record in result.records() if record["spec"] == "broken-softmax"]
    assert error["status"] == "error" and "No module named 'fast_kernels.not_there'" in error["message"]
    assert {record["status"] for record in result.records() if record["spec"] == "numpy"} == {"passed"}


def test_list_shows_the_installed_adapters_and_a_mistyped_name_lists_them(site: Path) -> None:
    listed = run_cli("list", env=_env(site))
    assert listed.returncode == 0
    assert "fast-softmax = fast_kernels.adapter:KernelSoftmax (from fast-kernels 1.2.3)" in listed.stdout
    assert "torch: torch, torch-func, torch-jacfwd, torch-compile" in listed.stdout
    wrong = run_cli("run", "--adapter", "fast-softmx", env=_env(site))
    assert wrong.returncode == 2
    assert "installed plugin adapters: broken-softmax, fast-softmax" in wrong.stderr
