"""How often a default run catches each deliberately broken adapter: its power, measured.

    python -m experiments.catch_rate --runs 5 --out catch.json                  # the large-tier set
    python -m experiments.catch_rate --runs 5 --adapters all --out catch.json   # every one
    python -m experiments.catch_rate --runs 2 --adapters all --profiles dev --out catch.json

Each broken adapter of ``tests/broken_adapters.py`` runs through the whole default run (every
property, op and dtype, as a user runs it) ``--runs`` times in each profile: ``dev`` with seeds
1, 2, ... and ``ci`` (derandomized, so its runs agree; they are repeated to show it). A run
catches the adapter when it exits 1 with a ``failed`` record (``error`` for the one whose bug is
an exception) in one of the properties ``CAUGHT_BY`` names for it. The script prints the count
per adapter and profile and exits 1 unless every run caught every adapter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import broken_adapters

REPO = Path(__file__).resolve().parent.parent

LARGE_TIER_SET = (
    "GridWrapsPast65535Rows",
    "SixteenBitRowCounter",
    "MergesTheLastTwoSidesOfRank5",
    "SharesAScratchBufferAcrossCalls",
    "PlanCacheKeyedWithoutAxis",
    "LengthOneAxisWrongOnWholeVectors",
)


def caught(broken: type, profile: str, seed: int | None, folder: Path) -> tuple[bool, list[str]]:
    """Whether one default run catches ``broken``, and the properties that flagged it."""
    path = folder / f"{broken.__name__}-{profile}-{seed}.json"
    command = [sys.executable, "-m", "conformance", "run", "--adapter", f"tests/broken_adapters.py:{broken.__name__}"]
    command += ["--profile", profile, "--plain", "--json", str(path)]
    if seed is not None:
        command += ["--seed", str(seed)]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    records = json.loads(path.read_text())["results"] if path.exists() else []
    status = "error" if broken in broken_adapters.RAISE else "failed"
    flagged = sorted({record["property"] for record in records if record["status"] == status})
    expected = set(broken_adapters.CAUGHT_BY[broken][1])
    return completed.returncode == 1 and bool(expected & set(flagged)), flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per adapter and profile")
    parser.add_argument("--adapters", default="large-tier", help="'large-tier', 'all', or comma-separated names")
    parser.add_argument("--profiles", default="dev,ci", help="the profiles to run, comma-separated (default: dev,ci)")
    parser.add_argument("--out", required=True, help="write the counts (JSON) here")
    args = parser.parse_args(argv)
    every = {cls.__name__: cls for cls in broken_adapters.CAUGHT_BY}
    names = {"large-tier": list(LARGE_TIER_SET), "all": sorted(every)}.get(args.adapters, args.adapters.split(","))
    unknown = [name for name in names if name not in every]
    if unknown:
        parser.error(f"--adapters={args.adapters}, but the broken adapters are: {', '.join(sorted(every))}")
    profiles = args.profiles.split(",")
    if not profiles or any(profile not in ("dev", "ci") for profile in profiles):
        parser.error(f"--profiles={args.profiles}, but the profiles are: dev, ci")
    counts: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="catch-rate-") as temporary:
        for name in names:
            for profile in profiles:
                outcomes = [
                    caught(every[name], profile, run + 1 if profile == "dev" else None, Path(temporary))
                    for run in range(args.runs)
                ]
                counts.setdefault(name, {})[profile] = {
                    "caught": sum(hit for hit, _ in outcomes),
                    "runs": args.runs,
                    "flagged": [flagged for _, flagged in outcomes],
                }
                print(f"{name} {profile}: caught in {counts[name][profile]['caught']} of {args.runs}", flush=True)
    Path(args.out).write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
    missed = [
        f"{name} {profile}" for name, by in counts.items() for profile, c in by.items() if c["caught"] != c["runs"]
    ]
    print("every run caught every adapter" if not missed else f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
