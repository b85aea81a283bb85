"""In ``dev`` the large tier compares a seeded sample of each input's rows with the oracle, and
every row past the sizes where kernels change algorithm; ``ci`` compares every row
(:func:`conformance.checks.large.at_scale.compared_chunks`)."""

from __future__ import annotations

import pytest

from conformance.checks.large.at_scale import GRID_ROWS, INDEX_ELEMENTS, SAMPLED_CHUNK_SHARE, compared_chunks
from conformance.checks.large.seeded import Seeded
from tests.conftest import TESTS

MANY_ROWS = Seeded((66559, 257), "float16", 1, "softmax/x", 1, "logits")  # past 65535 rows and 2**24 elements
LONG_ROWS = Seeded((129280, 3), "float32", 1, "softmax/x", 0, "logits")  # three rows of a vocabulary


def test_ci_compares_every_chunk() -> None:
    for recipe in (MANY_ROWS, LONG_ROWS):
        assert compared_chunks(recipe, sampled=False) == tuple(range(recipe.layout.chunks))


def test_dev_compares_every_chunk_past_the_thresholds_and_a_share_of_the_rest() -> None:
    layout = MANY_ROWS.layout
    chunks = compared_chunks(MANY_ROWS, sampled=True)
    first_past = layout.chunk_of(min(GRID_ROWS, INDEX_ELEMENTS // layout.length))
    assert set(range(first_past, layout.chunks)) <= set(chunks), "a chunk past the thresholds was left out"
    assert 0 in chunks
    below = [k for k in chunks if 0 < k < first_past]
    assert 1 <= len(below) <= round(first_past * SAMPLED_CHUNK_SHARE) + 2  # the share, and the regimes' first rows
    assert len(chunks) < layout.chunks / 4


def test_dev_compares_the_first_row_of_each_regime_of_the_logits() -> None:
    chunks = set(compared_chunks(LONG_ROWS, sampled=True))
    for rows in LONG_ROWS.regime_rows:
        assert LONG_ROWS.layout.chunk_of(int(rows[0])) in chunks


def test_the_sample_is_the_seed_s_the_same_in_every_worker_and_another_for_another_seed() -> None:
    again = Seeded(MANY_ROWS.shape, MANY_ROWS.dtype, MANY_ROWS.seed, MANY_ROWS.stream, MANY_ROWS.axis, "logits")
    other = Seeded(MANY_ROWS.shape, MANY_ROWS.dtype, 2, MANY_ROWS.stream, MANY_ROWS.axis, "logits")
    assert compared_chunks(again, sampled=True) == compared_chunks(MANY_ROWS, sampled=True)
    assert compared_chunks(other, sampled=True) != compared_chunks(MANY_ROWS, sampled=True)


@pytest.mark.slow
def test_a_dev_run_catches_a_bug_on_rows_past_65535_and_a_passed_record_says_what_it_compared(cli) -> None:
    quick = ("--profile", "dev", "--seed", "1", "--properties", "many_rows", "--dtypes", "float32", "--plain")
    broken = cli("run", "--adapter", f"{TESTS / 'broken_adapters.py'}:GridWrapsPast65535Rows", *quick)
    assert broken.returncode == 1 and broken.properties_with("failed") == {"many_rows"}, broken.stderr[-2000:]
    correct = cli("run", "--adapter", "numpy", *quick)
    assert correct.returncode == 0, correct.stderr[-2000:]
    for record in correct.records("passed"):
        assert record["message"].startswith("compared "), record["message"]
        assert "every row past 65535 rows and 2**24 elements" in record["message"]
