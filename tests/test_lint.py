"""The code is held to what pyproject.toml configures: ruff's rules and format, and mypy."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *arguments], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed (the test extra has it)")
def test_ruff_finds_nothing_and_the_code_is_formatted():
    checked = _tool("ruff", "check", ".")
    assert checked.returncode == 0, checked.stdout[-3000:]
    formatted = _tool("ruff", "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout[-3000:]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (the test extra has it)")
def test_mypy_finds_nothing():
    checked = _tool("mypy")
    assert checked.returncode == 0, checked.stdout[-3000:]
