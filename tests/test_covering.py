"""The edge catalogues' and the shape pool's covering designs: every dev run checks one block,
each block covers every pair of factor values (and the triples the empty inputs need),
consecutive runs cover the full product, and the coverage a run claims is the coverage it had."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path

import pytest

from conformance.inputs import covering
from conformance.inputs.covering import (
    CATALOGUES,
    CONCURRENT_CALLERS,
    LARGE_KINDS,
    POOL_KINDS,
    RANKED_KINDS,
    SHAPE_POOL,
    THREAD_PROPERTIES,
    Combination,
    design,
    drawn,
)
from conformance.inputs.shape_pool import shape_pool
from conformance.results import divergences
from conformance.results.records import Record
from conformance.running import history
from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import OPS
from tests.conftest import TESTS

BROKEN = TESTS / "broken_adapters.py"
EDGE_PROPERTIES = ",".join(CATALOGUES)


def _interactions(rows: tuple[Combination, ...], factors: tuple[int, ...]) -> set[tuple[Hashable, ...]]:
    return {tuple(row[index] for index in factors) for row in rows}


PLANNED = [*CATALOGUES, SHAPE_POOL, CONCURRENT_CALLERS]


@pytest.mark.parametrize("name", PLANNED)
def test_every_block_covers_every_pair_and_the_required_triples(name: str) -> None:
    planned = design(name, OPS, DTYPE_NAMES)
    names = (*planned.catalogue.factors, "op", "dtype")
    groups: list[tuple[int, ...]] = list(itertools.combinations(range(len(names)), 2))
    if planned.catalogue.three_way:
        groups.append(tuple(names.index(factor) for factor in planned.catalogue.three_way))
    assert len(planned.blocks) > 1, "a dev run should check less than the full product"
    for number, block in enumerate(planned.blocks):
        for group in groups:
            missing = _interactions(planned.product, group) - _interactions(block, group)
            assert not missing, f"{name} block {number + 1} misses {[names[i] for i in group]} = {sorted(missing)[:3]}"


@pytest.mark.parametrize("name", PLANNED)
def test_the_blocks_together_are_the_full_product(name: str) -> None:
    planned = design(name, OPS, DTYPE_NAMES)
    assert set().union(*planned.blocks) == set(planned.product)
    assert sum(map(len, planned.blocks)) < 2 * len(planned.product)  # each block adds little beyond its share


def test_every_record_checks_at_least_one_combination_in_every_block() -> None:
    for name, op, dtype in itertools.product(CATALOGUES, OPS, DTYPE_NAMES):
        blocks = len(design(name, OPS, DTYPE_NAMES).blocks)
        for run in range(blocks):
            assert drawn(name, op, dtype, OPS, DTYPE_NAMES, run).combinations, (name, op, dtype, run)


def test_every_dev_pool_keeps_its_rank_1_site_a_batch_and_a_large_input_and_the_blocks_make_the_whole_pool() -> None:
    for op, dtype in itertools.product(OPS, DTYPE_NAMES):
        whole = shape_pool(11, op, dtype)
        blocks = len(design(SHAPE_POOL, OPS, DTYPE_NAMES).blocks)
        assert blocks == 2
        pools = []
        for run in range(blocks):
            kinds = {kind for (kind,) in drawn(SHAPE_POOL, op, dtype, OPS, DTYPE_NAMES, run).combinations}
            assert kinds & RANKED_KINDS and len(kinds & LARGE_KINDS) == 1 and kinds < set(POOL_KINDS), (op, dtype)
            pool = shape_pool(11, op, dtype, kinds=kinds)
            assert [site for site in pool.small if site.rank == 1] == [site for site in whole.small if site.rank == 1]
            assert pool.sites(min_rank=2)  # batch_equals_rows and the Jacobian's block structure draw from these
            assert (pool.long, pool.high_rank) == (whole.long, whole.high_rank)
            assert len(pool.large(many_rows=True, vocabulary=True)) == 1  # one of the large tier's two
            pools.append(pool)
        assert set().union(*(p.small + p.wide for p in pools)) == set(whole.small + whole.wide)
        whole_large = whole.large(many_rows=True, vocabulary=True)
        assert set().union(*(p.large(many_rows=True, vocabulary=True) for p in pools)) == set(whole_large)


def test_every_dev_run_calls_each_op_and_dtype_from_threads_in_one_thread_property_and_the_next_in_the_other() -> None:
    blocks = len(design(CONCURRENT_CALLERS, OPS, DTYPE_NAMES).blocks)
    assert blocks == 2
    for op, dtype in itertools.product(OPS, DTYPE_NAMES):
        chosen = [drawn(CONCURRENT_CALLERS, op, dtype, OPS, DTYPE_NAMES, run).combinations for run in range(blocks)]
        assert sorted(chosen) == sorted(((name,),) for name in THREAD_PROPERTIES), (op, dtype, chosen)
        assert drawn(CONCURRENT_CALLERS, op, dtype, OPS, DTYPE_NAMES, None).combinations == tuple(
            (name,) for name in THREAD_PROPERTIES
        ), "ci and thorough: both, every run"


def test_two_consecutive_dev_runs_catch_a_race_that_only_concurrent_calls_agree_sees(cli) -> None:
    """A scratch buffer shared by every call: each dev run calls half the (op, dtype) pairs
    from threads in concurrent_calls_agree, the next run the other half."""
    verdicts: dict[tuple[str, str], list[str]] = {}
    for block in ("0", "1"):
        result = cli(
            "run", "--adapter", f"{BROKEN}:SharesAScratchBufferAcrossCalls", "--profile", "dev", "--block", block,
            "--dtypes", "float32,float64", "--properties", "concurrent_calls_agree", "--plain",
        )  # fmt: skip
        for record in result.records():
            verdicts.setdefault((record["op"], record["dtype"]), []).append(record["status"])
            if record["status"] == "skipped":
                assert record["message"].startswith("not drawn: this dev run's block of the concurrent callers")
                assert record["checked_combinations"] == 0, "a not-drawn record claims nothing"
    assert len(verdicts) == 4 and all(sorted(found)[1] == "skipped" for found in verdicts.values()), verdicts
    for (op, _), found in verdicts.items():  # its race is in softmax and its VJP alone
        assert sorted(found)[0] == ("failed" if op == "softmax" else "passed"), verdicts


def test_a_single_dtype_or_op_keeps_the_whole_pool() -> None:
    """Every pair of a site kind with the run's only dtype (or op) is the whole product."""
    for ops, dtypes in ((OPS, ("float32",)), (("softmax",), DTYPE_NAMES)):
        assert len(design(SHAPE_POOL, ops, dtypes).blocks) == 1


def test_the_blocks_are_the_same_in_every_process_whatever_the_hash_seed() -> None:
    script = (
        "from conformance.inputs.covering import CATALOGUES, design;"
        "from conformance.truth.dtypes import DTYPE_NAMES; from conformance.truth.oracle import OPS;"
        "print(repr([design(name, OPS, DTYPE_NAMES).blocks for name in CATALOGUES]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {repr([design(name, OPS, DTYPE_NAMES).blocks for name in CATALOGUES]) + "\n"}


def test_the_history_gives_consecutive_runs_consecutive_blocks(tmp_path: Path) -> None:
    runs = [history.next_run(tmp_path) for _ in range(5)]
    assert runs == [0, 1, 2, 3, 4]
    blocks = [drawn("empty_inputs", "softmax", "float32", OPS, DTYPE_NAMES, run).block for run in runs]
    assert blocks == [0, 1, 2, 3, 0]
    (tmp_path / history.RUNS_FILE_NAME).write_text("{not json")
    assert history.next_run(tmp_path) == 0  # an unreadable history starts again
    assert isinstance(history.next_run(None), int)  # no history: some block


def test_ci_and_thorough_check_the_full_product() -> None:
    full = drawn("empty_inputs", "softmax", "float32", OPS, DTYPE_NAMES, None)
    assert len(full.combinations) == full.of == 28
    assert full.describe() == "checked 28 of 28 (case, quantity) combinations, the full product"
    assert all(entry["block"] is None for entry in covering.coverage(OPS, DTYPE_NAMES, None).values())


# What each broken adapter needs drawn to show: (property, (inner factors...), op, dtype) with
# None for "any value".
NEEDS: dict[str, tuple[str, tuple[Hashable | None, ...], str | None, str | None]] = {
    "CrashesOnEmptyAxis": ("empty_inputs", (0, "forward"), "softmax", None),
    "LengthOneAxisWrongOnWholeVectors": ("length_one_axis_is_exact", (None, "forward"), None, "float32"),
    "EpsilonInDenominator": ("length_one_axis_is_exact", (None, "forward"), "softmax", "float64"),
    "PlanCacheKeyedWithoutAxis": ("every_axis_in_turn", ((3, "forward"),), None, None),
    "MergesTheLastTwoSidesOfRank5": ("every_axis_in_turn", ((3, "forward"),), None, None),
}


def _shows(row: Combination, needs: tuple[Hashable | None, ...]) -> bool:
    return all(wanted is None or value == wanted for value, wanted in zip(row, needs, strict=True))


@pytest.mark.parametrize("adapter", list(NEEDS))
def test_consecutive_dev_runs_draw_what_each_broken_adapter_needs(adapter: str) -> None:
    """Within the k runs of a design, every record draws every combination: a bug that needs
    one (case, quantity, op, dtype) is drawn in one of them (a real run: below)."""
    name, inner, op, dtype = NEEDS[adapter]
    blocks = len(design(name, OPS, DTYPE_NAMES).blocks)
    drawn_in = [
        run
        for run in range(blocks)
        for record_op, record_dtype in itertools.product(OPS, DTYPE_NAMES)
        if _shows((record_op, record_dtype), (op, dtype))
        and any(_shows(row, inner) for row in drawn(name, record_op, record_dtype, OPS, DTYPE_NAMES, run).combinations)
    ]
    assert drawn_in, f"{adapter}: no run of {blocks} draws {inner} for {op} {dtype}"


def _edge_run(cli, adapter: str, *options: str) -> list[dict]:
    result = cli("run", "--adapter", f"{BROKEN}:{adapter}", "--properties", EDGE_PROPERTIES, "--plain", *options)
    return result.records()


def test_ci_catches_an_empty_axis_crash_in_one_run_checking_the_full_product(cli) -> None:
    records = _edge_run(cli, "CrashesOnEmptyAxis", "--profile", "ci", "--dtypes", "float32,float64")
    failing = {(r["property"], r["op"]) for r in records if r["status"] in ("failed", "error")}
    assert ("empty_inputs", "softmax") in failing
    assert all(r["checked_combinations"] == r["product_combinations"] for r in records if r["status"] == "passed")


def test_a_dev_run_checks_its_block_says_so_and_catches_the_crash(cli, tmp_path: Path) -> None:
    dtypes = ("float32", "float64")
    records = _edge_run(cli, "CrashesOnEmptyAxis", "--profile", "dev", "--block", "1", "--dtypes", ",".join(dtypes))
    blocks = len(design("empty_inputs", OPS, dtypes).blocks)
    failing = {(r["property"], r["op"]) for r in records if r["status"] in ("failed", "error")}
    assert ("empty_inputs", "softmax") in failing  # three-way over (case, quantity, op): in every block
    passed = [r for r in records if r["status"] == "passed" and r["property"] == "empty_inputs"]
    assert passed and all(r["checked_combinations"] < r["product_combinations"] for r in passed)
    assert all(r["message"].endswith(f"combinations, block {1 % blocks + 1} of {blocks}") for r in passed)
    meta = json.loads((tmp_path / "results.json").read_text())["metadata"]
    assert meta["coverage"]["empty_inputs"]["block"] == 1 % blocks + 1
    assert meta["coverage"][SHAPE_POOL] == {"block": 2, "blocks": 2, "checked": 14, "of": 28}


def _record(status: str, checked: int | None) -> Record:
    return Record(
        adapter="tensorflow",
        framework="tensorflow",
        property="length_one_axis_is_exact",
        op="softmax",
        dtype="float32",
        status=status,
        checked_combinations=checked,
        product_combinations=None if checked is None else 12,
    )


def test_an_entry_whose_case_a_dev_block_left_out_is_not_drawn_rather_than_stale() -> None:
    [entry] = divergences.parse(
        "[[divergence]]\nadapter = 'tensorflow'\nproperty = 'length_one_axis_is_exact'\n"
        "op = 'softmax'\ndtype = 'float32'\nreason = 'the length-1 entry'\n",
        "test.toml",
    )
    assert divergences.audit([_record("passed", 4)], [entry], {}) == []
    assert any("stale" in problem for problem in divergences.audit([_record("passed", 12)], [entry], {}))
    assert any("stale" in problem for problem in divergences.audit([_record("passed", None)], [entry], {}))
