"""Probes that are information, not verdicts: the behaviour matrix and cross-adapter agreement.

*Behaviour matrix.* Some inputs have no single right answer (an all ``-inf`` row, ``+inf``,
NaN, 0-d input, integer input, an out-of-range or bool axis). What each adapter does with
them, a value or an error type, is recorded so that differences are visible.

*Agreement.* Every adapter computes the same quantities on the same seeded inputs, on
sites of the run's shape pools (so no program is built for them alone); the
pairwise largest differences between AD paths and between frameworks show where they
diverge from each other, independently of the oracle.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from conformance.adapter import method_name, provided_method
from conformance.checks.calls import Subject, deadline
from conformance.inputs.shape_pool import ShapePool, Site
from conformance.truth.dtypes import DTYPES, ulp
from conformance.truth.oracle import QUANTITIES, Op, Quantity


def _row(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# input name -> (x, axis)
BEHAVIOUR_INPUTS: dict[str, tuple[Any, Any]] = {
    "all -inf row": (_row(-np.inf, -np.inf, -np.inf), -1),
    "+inf logit": (_row(np.inf, 1.0, 0.0), -1),
    "NaN logit": (_row(np.nan, 1.0, 0.0), -1),
    "0-d input, axis 0": (np.array(1.5, dtype=np.float32), 0),
    "integer input": (np.array([1, 2, 3], dtype=np.int64), -1),
    "axis out of range": (_row(1.0, 2.0, 3.0), 1),
    "bool axis": (_row(1.0, 2.0, 3.0), True),
}
_BEHAVIOUR_QUANTITIES: tuple[Quantity, ...] = ("forward", "vjp")


def _describe(value: Any) -> str:
    if not isinstance(value, np.ndarray):
        return f"returned {type(value).__name__}"
    with np.printoptions(precision=4, suppress=True):
        return (
            f"{np.array2string(value.astype(np.float64) if value.dtype.kind == 'f' else value, separator=' ')} "
            f"({value.dtype})"
        )


def _attempt(subject: Subject, call: Callable[[], Any], x: Any) -> str:
    try:
        with deadline(subject.call_timeout):
            return _describe(call())
    except Exception as error:
        if np.ndim(x) == 0:
            return f"rejects 0-d ({type(error).__name__})"  # a valid choice, as NumPy's moveaxis makes it
        return f"error: {type(error).__name__}"


def behaviour(subject: Subject) -> list[dict[str, str]]:
    """What ``subject`` does with each input that has no single right answer."""
    found = []
    for (name, (x, axis)), quantity in itertools.product(BEHAVIOUR_INPUTS.items(), _BEHAVIOUR_QUANTITIES):
        method = provided_method(subject.adapter, "softmax", quantity)
        if method is None:
            continue
        arguments = (x,) if quantity == "forward" else (x, np.ones_like(x))
        outcome = _attempt(subject, functools.partial(method, *arguments, axis), x)
        found.append(
            {"adapter": subject.spec, "input": name, "quantity": method_name("softmax", quantity), "outcome": outcome}
        )
    return found


def agreement_sites(pool: ShapePool) -> tuple[Site, ...]:
    """Where the adapters are compared with each other: the pool's rank 2 and rank 3 sites,
    whose programs every adapter of the run has built already."""
    return tuple(site for site in pool.small if site.rank in (2, 3))


def _agreement_inputs(dtype_name: str, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype_name]
    return (3 * rng.standard_normal(shape)).astype(dtype), rng.standard_normal(shape).astype(dtype)


def agreement_outputs(
    subject: Subject, pairs: Iterable[tuple[Op, str]], pool_of: Callable[[Op, str], ShapePool]
) -> dict[str, np.ndarray]:
    """``op|dtype|quantity|shape|axis`` -> the adapter's answer on seeded inputs (float64),
    on the agreement sites of the pool of each (op, dtype) of ``pairs``."""
    outputs: dict[str, np.ndarray] = {}
    for op, dtype_name in pairs:
        for index, site in enumerate(agreement_sites(pool_of(op, dtype_name))):
            x, v = _agreement_inputs(dtype_name, site.shape, seed=index)
            for quantity in QUANTITIES:
                method = provided_method(subject.adapter, op, quantity)
                if method is None or quantity == "vjp_derivative":
                    continue
                arguments = (x,) if quantity in ("forward", "jacobian") else (x, v)
                try:
                    with deadline(subject.call_timeout):
                        value = method(*arguments, site.axis)
                    outputs[f"{op}|{dtype_name}|{quantity}|{site.shape}|{site.axis}"] = np.asarray(
                        value, dtype=np.float64
                    )
                except Exception:  # an adapter that cannot answer here has nothing to agree on
                    continue
    return outputs


def pairwise_agreement(outputs: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Largest difference, per op, dtype and quantity, between every pair of adapters."""
    table: dict[tuple[str, str, str, str, str], tuple[float, float]] = {}
    for (a, left), (b, right) in itertools.combinations(outputs.items(), 2):
        for key in left.keys() & right.keys():
            op, dtype_name, quantity = key.split("|")[:3]
            if left[key].shape != right[key].shape:
                continue
            with np.errstate(invalid="ignore"):
                diff = np.abs(left[key] - right[key])
            scale = np.maximum(np.abs(left[key]), np.abs(right[key]))
            in_ulp = diff / ulp(scale, DTYPES[dtype_name]).astype(np.float64) if diff.size else diff
            worst = (float(np.nanmax(diff, initial=0.0)), float(np.nanmax(in_ulp, initial=0.0)))
            slot = (a, b, op, dtype_name, quantity)
            table[slot] = max(table.get(slot, (0.0, 0.0)), worst)
    return [
        {
            "a": a,
            "b": b,
            "op": op,
            "dtype": dtype_name,
            "quantity": quantity,
            "max_abs_diff": diff,
            "max_diff_ulp": ulps,
        }
        for (a, b, op, dtype_name, quantity), (diff, ulps) in sorted(table.items())
    ]
