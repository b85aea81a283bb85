"""What an adapter is given, and how a reproducer makes it again: an array, with the view that
rebuilds a non-contiguous one or the recipe that makes a large one from its seed.

Kept apart from the strategies that draw them, so that reading a results document or
writing a reproducer does not import Hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class View:
    """A non-contiguous argument: ``expression`` (over ``base``) applied to a contiguous ``base``."""

    base: np.ndarray
    expression: str


class Recipe(Protocol):
    """How a large argument is made again from its seed (the large tier's
    :class:`~conformance.checks.large.seeded.Seeded` and ``SeededRow``): a reproducer names the
    recipe, never the array."""

    def source(self) -> str:
        """The suite's call that makes the array again."""
        ...

    def native_source(self, name: str) -> list[str]:
        """NumPy lines that make the array as variable ``name`` without this suite."""
        ...

    def changed(self, array: np.ndarray) -> int:
        """How many elements of ``array`` differ, bit for bit, from what the recipe makes."""
        ...


@dataclass(frozen=True)
class Argument:
    """An array as the adapter receives it; ``view`` says how to rebuild a non-contiguous one,
    ``recipe`` how to make a large one again from its seed."""

    value: np.ndarray
    view: View | None = None
    recipe: Recipe | None = None
