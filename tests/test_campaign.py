"""experiments/campaign.py's verdict: clean only when every run passed the gate and exited 0."""

from __future__ import annotations

import copy
import json
from typing import Any

from experiments import campaign
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def _outcome(name: str, document: dict[str, Any] | None, returncode: int = 0) -> dict[str, Any]:
    return {"name": name, "returncode": returncode, "wall_s": 1.0, "document": document}


def _passing() -> dict[str, Any]:
    document = json.loads((FIXTURES / "jax_run.json").read_text(encoding="utf-8"))
    assert all(record["status"] not in ("failed", "error") for record in document["results"])
    return document


def test_runs_that_pass_make_a_clean_campaign_with_their_examples_counted() -> None:
    summary = campaign.summarise([_outcome("a", _passing()), _outcome("b", _passing())])
    assert summary["clean"] and summary["unexplained"] == [] and summary["runs_not_passed"] == []
    specs = {record.get("spec", record["adapter"]) for record in _passing()["results"]}
    assert set(summary["statuses_per_adapter"]) == specs


def test_a_run_that_wrote_nothing_or_exited_nonzero_is_not_clean() -> None:
    crashed = campaign.summarise([_outcome("a", _passing()), _outcome("b", None, returncode=-9)])
    assert not crashed["clean"] and crashed["runs_not_passed"] == ["b: exit -9, and it wrote no results"]
    nonzero = campaign.summarise([_outcome("a", _passing(), returncode=1)])
    assert not nonzero["clean"] and nonzero["runs_not_passed"][0].startswith("a: exit 1; ")


def test_an_unexplained_failure_is_listed_with_its_run() -> None:
    document = _passing()
    failing = copy.deepcopy(document["results"][0])
    failing.update(status="failed", message="softmax[0] = 1, but the oracle gives 0.5 (err 9 ulp > bound 1 ulp)")
    document["results"].append(failing)
    summary = campaign.summarise([_outcome("seed-1", document, returncode=1)])
    assert not summary["clean"]
    [entry] = summary["unexplained"]
    assert entry["run"] == "seed-1" and entry["message"].startswith("softmax[0] = 1, but the oracle gives 0.5")


def _tensorflow_run(status: str, xfail_reason: str | None = None) -> dict[str, Any]:
    record = {
        "adapter": "tensorflow-function",
        "spec": "tensorflow-function",
        "framework": "tensorflow",
        "property": "every_axis_in_turn",
        "op": "softmax",
        "dtype": "float32",
        "status": status,
        "message": "" if status == "passed" else "softmax raised AbortedError: Input dims must be <= 5 and >=1",
    }
    if xfail_reason is not None:
        record["xfail_reason"] = xfail_reason
    return {"schema_version": 1, "metadata": {"frameworks": {}}, "results": [record]}


def test_the_campaign_runs_tensorflow_with_onednn_off_and_on_for_each_dev_seed() -> None:
    planned = campaign.runs([], [4, 5], "onednn")
    assert [(name, environment) for name, _, environment, _ in planned] == [
        ("onednn-off-4", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
        ("onednn-on-4", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        ("onednn-off-5", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
        ("onednn-on-5", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    ]
    assert all(frameworks == "tensorflow" for *_, frameworks in planned)
    assert all(arguments[-2:] == ["--block", seed] for (_, arguments, *_), seed in zip(planned, "4455"))
    assert [name for name, *_ in campaign.runs([], [4], None, "mlx,paddle")] == ["dev-all-paths-4"]


def test_a_difference_between_onednn_off_and_on_is_explained_only_by_an_entry_naming_the_environment() -> None:
    from conformance.results import divergences

    onednn = next(
        entry
        for entry in divergences.load_default()
        if entry.environment == {"onednn": "on", "rank_6_softmax_raises": True}
    )
    other = next(entry for entry in divergences.load_default() if entry.environment is None and not entry.intermittent)
    off = _outcome("onednn-off-4", _tensorflow_run("passed"))
    explained = campaign.onednn_differences([off, _outcome("onednn-on-4", _tensorflow_run("xfailed", onednn.reason))])
    assert [(d["off"], d["on"], d["explained_by"]) for d in explained] == [("passed", "xfailed", onednn.label())]
    unexplained = campaign.onednn_differences([off, _outcome("onednn-on-4", _tensorflow_run("xfailed", other.reason))])
    assert unexplained[0]["explained_by"] is None
    same = campaign.onednn_differences([off, _outcome("onednn-on-4", _tensorflow_run("passed"))])
    assert same == []
    rare = next(entry for entry in divergences.load_default() if entry.intermittent and entry.environment is None)
    [shown_once] = campaign.onednn_differences([off, _outcome("onednn-on-4", _tensorflow_run("xfailed", rare.reason))])
    assert shown_once["explained_by"].endswith("(intermittent: not drawn in the other run)")
    failed = campaign.onednn_differences([off, _outcome("onednn-on-4", _tensorflow_run("failed"))])
    assert failed[0]["explained_by"] is None
