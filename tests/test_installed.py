"""The suite as users get it: built into a wheel, installed into a fresh virtual environment
with no checkout on ``sys.path``, run from an empty folder. A checkout hides missing package
data (the known divergences, the schema, the templates) and a plugin that intrudes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "reports"
)

# someone else's project: an option of its own named --profile, and Hypothesis' defaults
OTHER_PROJECT = {
    "conftest.py": """
        def pytest_addoption(parser):
            parser.addoption("--profile", action="store_true", help="this project's own profiling switch")
    """,
    "test_theirs.py": """
        import hypothesis
        from hypothesis import given, strategies as st

        def test_hypothesis_keeps_its_defaults():
            assert hypothesis.settings().max_examples == 100
            assert hypothesis.settings().deadline is not None

        @given(st.integers())
        def test_a_property_of_theirs(n):
            assert n == n
    """,
}

BROKEN_ADAPTER = """
from conformance.adapters.numpy_adapter import NumpyReference
from conformance import oracle


class Forgetful(NumpyReference):
    name = "forgetful"

    def vjp(self, x, cotangent, axis):
        return (oracle.softmax(x, axis) * cotangent).astype(x.dtype)
"""

MINE_TOML = """
[[divergence]]
adapter = "forgetful"
property = "vjp_accuracy"
op = "softmax"
reason = "our kernel drops the inner product; tracked in our issue 12"
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and torch's CPU build: its python."""
    folder = tmp_path_factory.mktemp("installed")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source)], folder)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = folder.glob("softmax_conformance-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"conformance"}
    venv = folder / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], folder)
    assert created.returncode == 0, created.stderr[-3000:]
    python = venv / "bin" / "python"
    # --no-compile: pip would compile all of torch; the runs below compile what they import, once
    install = [str(python), "-m", "pip", "install", "-q", "--no-compile", str(wheel), "torch==2.13.0"]
    pip = _run(install, folder, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return python


def _run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # without PYTHONDONTWRITEBYTECODE: the fresh environment keeps what its first import compiles
    dropped = ("PYTHONPATH", "CI", "PYTHONDONTWRITEBYTECODE")
    clean = {key: value for key, value in os.environ.items() if key not in dropped}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean)


def test_the_torch_primary_path_conforms_with_its_known_divergences_xfailed(installed: Path, tmp_path: Path) -> None:
    """One property, the one whose known divergence (torch's empty Jacobian) is read from the
    packaged TOML: what the wheel must carry. The whole torch run is test_frameworks_conform's."""
    ran = _run([str(installed), "-m", "conformance", "run", "--adapter", "torch", "--profile", "ci", "--plain",
                "--properties", "empty_inputs", "--dtypes", "float32", "--json", "out.json"], tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    text = (tmp_path / "out.json").read_text()
    assert '"status": "xfailed"' in text and "conformance/results/known_divergences.toml" in text
    assert not (tmp_path / "conformance").exists()  # nothing of a checkout here


def test_a_divergences_file_of_ones_own_adds_entries(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(BROKEN_ADAPTER)
    (tmp_path / "mine.toml").write_text(MINE_TOML)
    command = [str(installed), "-m", "conformance", "run", "--adapter", "mine.py:Forgetful", "--profile", "ci",
               "--plain", "--dtypes", "float32", "--properties", "vjp_accuracy"]  # fmt: skip
    assert _run(command, tmp_path).returncode == 1
    explained = _run([*command, "--divergences", "mine.toml", "--html", "report.html"], tmp_path)
    assert explained.returncode == 0, explained.stdout[-3000:]
    assert "mine.toml" in (tmp_path / "report.html").read_text()


def test_someone_else_s_project_is_left_alone(installed: Path, tmp_path: Path) -> None:
    for name, text in OTHER_PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    ran = _run([str(installed), "-m", "pytest", "-q", "--profile"], tmp_path)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "softmax-conformance" not in ran.stdout
    header = _run([str(installed), "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert "softmax-conformance" not in header.stdout
