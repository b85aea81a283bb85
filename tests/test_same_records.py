"""The suite's behaviour is pinned across refactors: a fixed ``ci`` run (seed 5, float32) of the
NumPy reference and of one broken adapter gives the same records (adapter, property, op,
dtype, status) as the ones stored in ``tests/fixtures/records-ci-seed5.json``.

A change of what the suite checks or draws may change them; then write the new ones with
``python -m tests.test_same_records`` and say in the commit which records moved and why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, TESTS, run_cli

STORED = TESTS / "fixtures" / "records-ci-seed5.json"
ARGUMENTS = (
    "run",
    "--adapter",
    "numpy",
    "--adapter",
    f"{TESTS / 'broken_adapters.py'}:FlattenedJacobian",
    "--profile",
    "ci",
    "--seed",
    "5",
    "--dtypes",
    "float32",
    "--plain",
)
Row = tuple[str, str, str, str, str]


def _rows(records: list[dict[str, Any]]) -> list[Row]:
    return sorted((r["adapter"], r["property"], r["op"], r["dtype"], r["status"]) for r in records)


def test_a_fixed_ci_run_gives_the_stored_records(cli):
    result = cli(*ARGUMENTS)
    assert result.returncode == 1, result.stderr[-2000:]  # the broken adapter fails
    stored = [tuple(row) for row in json.loads(STORED.read_text(encoding="utf-8"))]
    found = _rows(result.records())
    moved = sorted(set(stored) ^ set(found))
    assert found == stored, f"{len(moved)} records differ from the stored ones, e.g. {moved[:6]}"


def main(folder: Path) -> int:
    """Write the records of ARGUMENTS' run to STORED."""
    result = run_cli(*ARGUMENTS, json_path=folder / "results.json")
    if result.returncode != 1:
        print(result.stderr[-2000:], file=sys.stderr)
        return 1
    lines = ",\n".join(json.dumps(row) for row in _rows(result.records()))
    STORED.write_text(f"[\n{lines}\n]\n", encoding="utf-8")
    print(f"wrote {len(result.records())} records to {STORED.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        raise SystemExit(main(Path(scratch)))
