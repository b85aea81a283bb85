"""The suite's examples depend on the seed and the property alone, not on the code around them.

Hypothesis draws, with a small chance at each draw, one of the literals of the "local" modules
imported so far (any module outside site-packages and the standard library, test files aside):
with the suite installed editable, every number written anywhere in ``conformance`` and in a
loaded adapter's file. Which modules those are depends on what was collected and on what the
properties run before imported, so the derandomized ``ci`` examples of ``forward_accuracy``
changed when ``test_bitwise.py`` was collected (it imports
:mod:`conformance.checks.thread_count`, whose ``300.0`` joined the floats drawn from); they
changed too with any literal edited anywhere in the suite, and differed between an editable
install and a wheel (in site-packages, nothing is local). The suite's literals are no inputs
of a softmax: its strategies say what to draw, so the plugin turns this off.

Hypothesis offers no setting for it; :func:`draw_no_local_constants` replaces the function its
provider asks for those constants (read at each call, so replacing it takes effect) with one
that answers none. tests/test_draws_are_independent.py pins the outcome.
"""

from __future__ import annotations

from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

_NONE = Constants()


def _no_local_constants() -> Constants:
    return _NONE


def draw_no_local_constants() -> None:
    """From now on, Hypothesis in this process draws none of the local modules' literals (its
    own list of telling numbers, the same everywhere, stays)."""
    if hasattr(providers, "_get_local_constants"):
        providers._get_local_constants = _no_local_constants
        providers.CONSTANTS_CACHE.cache.clear()
