"""The wheel installs one package, ``conformance``: the built-in adapters go in as
``conformance.adapters``, never as a top-level ``adapters`` that would clash with
AdapterHub's distribution of that name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

# what a copy of the working tree needs to build from, without caches and earlier builds
# (a stale build/ folder would put its files into the wheel)
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "reports"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = folder.glob("softmax_conformance-*.whl")
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_every_file_lies_under_conformance_or_the_dist_info(wheel: Path):
    names = _names(wheel)
    dist_info = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
    assert len(dist_info) == 1, dist_info
    elsewhere = [name for name in names if not name.startswith(("conformance/", *(f"{d}/" for d in dist_info)))]
    assert not elsewhere, f"files outside conformance/ and the .dist-info folder: {elsewhere}"
    assert not [name for name in names if name.startswith("adapters/")]


def test_the_adapters_and_the_data_files_are_in_it(wheel: Path):
    names = set(_names(wheel))
    for expected in (
        "conformance/adapters/__init__.py",
        "conformance/adapters/torch_adapter.py",
        "conformance/adapters/numpy_adapter.py",
        "conformance/results/results.schema.json",
        "conformance/results/known_divergences.toml",
        "conformance/presentation/templates/report.html",
        "conformance/properties/test_accuracy.py",
    ):
        assert expected in names


def test_every_module_of_the_package_is_in_it(wheel: Path):
    """A subpackage missing from pyproject's list of packages would be left out of the wheel."""
    names = set(_names(wheel))
    package = REPO / "conformance"
    missing = [
        path.relative_to(REPO).as_posix()
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(REPO).as_posix() not in names
    ]
    assert not missing, f"modules left out of the wheel (pyproject's [tool.setuptools] packages): {missing}"


def test_the_pytest_plugin_entry_point_names_the_plugin_module(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "softmax_conformance = conformance.running.plugin" in text


def test_the_installed_wheel_loads_the_built_in_adapters_from_conformance_adapters(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert not (target / "adapters").exists()
    probe = (
        "import conformance.adapters.numpy_adapter as module; from conformance import load_adapter; "
        "print(module.__file__); print(type(load_adapter('numpy')).__module__)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, module = ran.stdout.split()
    assert Path(where).is_relative_to(target)
    assert module == "conformance.adapters.numpy_adapter"
