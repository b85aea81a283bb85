"""The zero-false-alarm campaign: many seeds, every failure accounted for.

    python -m experiments.campaign --out reports/campaign            # the whole campaign
    python -m experiments.campaign --out /tmp/c --only thorough --thorough-seeds 11
    python -m experiments.campaign --out /tmp/c --frameworks mlx,paddle

Runs, each with the frameworks of ``--frameworks`` (default: the three, torch, jax and
tensorflow; the optional mlx and paddle when named):

* the ``thorough`` profile (ten times the examples) over the primary paths, once per seed of
  ``--thorough-seeds`` (default three);
* the ``dev`` profile over every AD path (``--all-paths``), once per seed of ``--dev-seeds``
  (default two);
* TensorFlow alone over its AD paths, ``dev``, once per seed of ``--dev-seeds`` with its oneDNN
  kernels off (``TF_ENABLE_ONEDNN_OPTS=0``) and once with them on (``=1``, the default on CPUs
  with AVX-512), both on the seed's block of the edge catalogues (``--block``): the results
  must agree, or differ only where a known divergence that names the environment
  (``environment = { onednn = "on" }``) explains the difference.

Each run's JSON lands in ``--out``; ``summary.json`` and the printout give, per adapter, the
examples run and the statuses, then every failure no known divergence explains (with its
reproducer in the JSON), the divergences seen (xfailed), and what the audit of the
known-divergences file says. A clean campaign has no unexplained failure and no audit
problem, and every run exited 0 with a passing gate verdict. The script reports; it exits 1
when the campaign is not clean.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
THREE = "torch,jax,tensorflow"


def _seeds(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


ONEDNN = {"off": "0", "on": "1"}  # the campaign's name for each TF_ENABLE_ONEDNN_OPTS setting
Planned = tuple[str, list[str], dict[str, str], str | None]  # name, arguments, environment, frameworks


def runs(thorough_seeds: list[int], dev_seeds: list[int], only: str | None, frameworks: str = THREE) -> list[Planned]:
    """The campaign's runs: each one's name, arguments, environment variables and frameworks
    (None: the campaign's); the oneDNN pairs when the campaign's frameworks include TensorFlow."""
    planned: list[Planned] = []
    if only in (None, "thorough"):
        planned += [
            (f"thorough-{seed}", ["--profile", "thorough", "--seed", str(seed)], {}, None) for seed in thorough_seeds
        ]
    if only in (None, "dev"):
        planned += [
            (f"dev-all-paths-{seed}", ["--all-paths", "--profile", "dev", "--seed", str(seed)], {}, None)
            for seed in dev_seeds
        ]
    if only in (None, "onednn") and "tensorflow" in frameworks.split(","):
        planned += [
            (
                f"onednn-{setting}-{seed}",
                # the same block of the edge catalogues in both runs of a seed, or the planned
                # run's block would differ between them as much as oneDNN does
                ["--all-paths", "--profile", "dev", "--seed", str(seed), "--block", str(seed)],
                {"TF_ENABLE_ONEDNN_OPTS": value},
                "tensorflow",
            )
            for seed in dev_seeds
            for setting, value in ONEDNN.items()
        ]
    return planned


def run(
    name: str, arguments: list[str], out: Path, frameworks: str = THREE, environment: dict[str, str] | None = None
) -> dict[str, Any]:
    path = out / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "conformance",
        "run",
        "--frameworks",
        frameworks,
        *arguments,
        "--json",
        str(path),
        "--plain",
    ]
    settings = " ".join(f"{key}={value}" for key, value in (environment or {}).items())
    print(f"{name}: {settings + ' ' if settings else ''}{' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with open(out / f"{name}.log", "wb") as log:
        completed = subprocess.run(
            command,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            env={**os.environ, **(environment or {})},
        )
    wall = time.perf_counter() - started
    document = json.loads(path.read_text()) if path.exists() else None
    print(f"  exit {completed.returncode} after {wall:.0f} s", file=sys.stderr, flush=True)
    return {"name": name, "returncode": completed.returncode, "wall_s": round(wall, 1), "document": document}


def summarise(done: list[dict[str, Any]]) -> dict[str, Any]:
    """Per adapter, the examples and statuses of every run; the failures no entry explains;
    and what kept a run from a clean verdict: the gate's own, a nonzero exit, no results."""
    from conformance.results import gate

    examples: Counter[str] = Counter()
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    divergences: Counter[str] = Counter()
    unexplained: list[dict[str, str]] = []
    problems: list[str] = []
    not_passed: list[str] = []
    for outcome in done:
        document = outcome["document"]
        if document is None:
            not_passed.append(f"{outcome['name']}: exit {outcome['returncode']}, and it wrote no results")
            continue
        verdict = gate.evaluate([document])
        if not verdict.passed or outcome["returncode"] != 0:
            not_passed.append(f"{outcome['name']}: exit {outcome['returncode']}; {verdict.sentence}")
        for record in document["results"]:
            spec = record.get("spec", record["adapter"])
            examples[spec] += int(record.get("examples") or 0)
            statuses[spec][record["status"]] += 1
            if record["status"] in ("failed", "error"):
                unexplained.append(
                    {
                        "run": outcome["name"],
                        "record": f"{spec} {record['property']} {record['op']} {record['dtype']}",
                        "message": record["message"].splitlines()[0][:400],
                    }
                )
            elif record["status"] == "xfailed":
                divergences[record.get("xfail_reason", "")[:100]] += 1
        problems += [f"{outcome['name']}: {line}" for line in verdict.divergence_problems]
    differences = onednn_differences(done)
    return {
        "runs": [{key: value for key, value in outcome.items() if key != "document"} for outcome in done],
        "examples_per_adapter": dict(sorted(examples.items())),
        "statuses_per_adapter": {spec: dict(counter) for spec, counter in sorted(statuses.items())},
        "unexplained": unexplained,
        "divergences_seen": dict(divergences.most_common()),
        "audit_problems": problems,
        "runs_not_passed": not_passed,
        "onednn_differences": differences,
        "clean": not unexplained and not problems and not not_passed and all(d["explained_by"] for d in differences),
    }


def onednn_differences(done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result whose status differs between a seed's run with TensorFlow's oneDNN off and
    its run with it on, and the known divergence that explains it: one that names the
    environment and turned the result into xfailed on one side; or an intermittent one that
    did, the other side passing (dev's time budget draws as many examples as time allows, so a
    divergence that needs a rare input may show in one run only, and its absence proves
    nothing). None: unexplained."""
    from conformance.results import divergences

    entries = divergences.load_default()
    conditional = {entry.reason: entry for entry in entries if entry.environment is not None}
    intermittent = {entry.reason: entry for entry in entries if entry.intermittent and entry.environment is None}
    by_name = {outcome["name"]: outcome["document"] for outcome in done if outcome["document"] is not None}
    found = []
    for name, off in sorted(by_name.items()):
        if not name.startswith("onednn-off-"):
            continue
        seed = name.removeprefix("onednn-off-")
        on = by_name.get(f"onednn-on-{seed}")
        if on is None:
            continue
        statuses = {"off": _statuses(off), "on": _statuses(on)}
        for key in sorted(statuses["off"].keys() | statuses["on"].keys()):
            sides = {setting: statuses[setting].get(key, (None, None)) for setting in ONEDNN}
            if sides["off"][0] == sides["on"][0]:
                continue
            reasons = [reason for _, reason in sides.values() if reason in conditional]
            rare = [reason for _, reason in sides.values() if reason in intermittent]
            passed = any(status == "passed" for status, _ in sides.values())
            if reasons:
                explained: str | None = conditional[reasons[0]].label()
            elif rare and passed:
                explained = f"{intermittent[rare[0]].label()} (intermittent: not drawn in the other run)"
            else:
                explained = None
            found.append(
                {
                    "seed": seed,
                    "record": " ".join(key),
                    "off": sides["off"][0],
                    "on": sides["on"][0],
                    "explained_by": explained,
                }
            )
    return found


def _statuses(document: dict[str, Any]) -> dict[tuple[str, ...], tuple[str, str | None]]:
    return {
        (record.get("spec", record["adapter"]), record["property"], record["op"], record["dtype"]): (
            record["status"],
            record.get("xfail_reason"),
        )
        for record in document["results"]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for each run's JSON and log, and summary.json")
    parser.add_argument("--thorough-seeds", type=_seeds, default=[1, 2, 3])
    parser.add_argument("--dev-seeds", type=_seeds, default=[4, 5])
    parser.add_argument("--only", choices=("thorough", "dev", "onednn"), default=None)
    parser.add_argument("--frameworks", default=THREE, help=f"frameworks of every run (default {THREE})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    planned = runs(args.thorough_seeds, args.dev_seeds, args.only, args.frameworks)
    done = [
        run(name, arguments, out, frameworks or args.frameworks, environment)
        for name, arguments, environment, frameworks in planned
    ]
    summary = summarise(done)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"\n{'adapter':<22} {'examples':>9}  statuses")
    for spec, count in summary["examples_per_adapter"].items():
        print(f"{spec:<22} {count:>9}  {summary['statuses_per_adapter'][spec]}")
    for failure in summary["unexplained"]:
        print(f"UNEXPLAINED {failure['run']}: {failure['record']}: {failure['message']}")
    for line in summary["audit_problems"]:
        print(f"AUDIT {line}")
    for line in summary["runs_not_passed"]:
        print(f"RUN {line}")
    for difference in summary["onednn_differences"]:
        why = difference["explained_by"] or "UNEXPLAINED"
        print(
            f"ONEDNN seed {difference['seed']}: {difference['record']}: off {difference['off']}, "
            f"on {difference['on']}: {why}"
        )
    print("\ncampaign: clean" if summary["clean"] else "\ncampaign: NOT clean")
    return 0 if summary["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
