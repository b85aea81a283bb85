"""The large tier's logits (:mod:`conformance.checks.large.seeded`): a share of their rows reach the
dtype's exp overflow, a share hold near-equal logits, in every input of two rows or more."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.checks.large.seeded import LOGIT_SCALE, NEAR_EQUAL_WIDTH, Seeded, SeededRow, exp_overflow


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_overflowing_rows_pass_the_exp_overflow_of_their_dtype(dtype):
    recipe = Seeded((400, 9), dtype, 3, "softmax/x", -1, "logits")
    overflowing, near_equal = recipe.regime_rows
    assert len(overflowing) == 100 and len(near_equal) == 50 and not set(overflowing) & set(near_equal)
    rows = recipe.build().astype(np.float64)
    assert (rows[overflowing].max(axis=1) > exp_overflow(recipe.numpy_dtype)).mean() > 0.9
    tame = np.setdiff1d(np.arange(400), np.concatenate([overflowing, near_equal]))
    assert np.abs(rows[tame]).max() < 6 * LOGIT_SCALE  # the tame rows: N(0, 1) * 3, as ever


def test_a_near_equal_vocabulary_row_sums_past_float16s_largest_number():
    recipe = Seeded((100277, 2), "float16", 1, "softmax/x", 0, "logits")  # rows along the first axis
    overflowing, near_equal = recipe.regime_rows
    assert len(overflowing) == 1 and len(near_equal) == 1  # a vocabulary's two rows: one of each
    row = SeededRow(recipe, int(near_equal[0])).build().astype(np.float64)
    assert row.min() >= -NEAR_EQUAL_WIDTH and row.max() <= 0
    assert np.exp(row - row.max()).sum() > float(np.finfo(np.float16).max)


def test_three_rows_keep_one_tame_and_other_kinds_have_no_regimes():
    overflowing, near_equal = Seeded((3, 5), "float32", 0, "x", -1, "logits").regime_rows
    assert len(overflowing) == len(near_equal) == 1 and overflowing[0] != near_equal[0]
    assert all(len(rows) == 0 for rows in Seeded((3, 5), "float32", 0, "g", -1, "normal").regime_rows)
    assert all(len(rows) == 0 for rows in Seeded((1, 5), "float32", 0, "x", -1, "logits").regime_rows)


@pytest.mark.parametrize(("shape", "axis", "kind"), [((5000, 33), 1, "logits"), ((33, 5000), 0, "normal")])
def test_a_row_taken_from_the_made_array_is_the_row_the_recipe_makes_alone(shape, axis, kind):
    """The rows checked alone are taken from the array in memory, not made again from the seed:
    the same bits, in every chunk, with the recipe of that row."""
    recipe = Seeded(shape, "float16", 5, "softmax/x", axis, kind, 1 / 16 if kind == "normal" else None)
    made = recipe.build()
    assert recipe.layout.chunks >= 3
    for row in (0, 1, recipe.layout.rows_per_chunk + 2, recipe.layout.batch - 1):
        alone = recipe.alone(made, row)
        assert alone.value.flags["C_CONTIGUOUS"] and alone.value.shape == (33,)
        assert np.array_equal(alone.value.view(np.uint16), recipe.row(row).view(np.uint16))
        assert alone.recipe == SeededRow(recipe, row)
