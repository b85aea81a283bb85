"""Calling an adapter and judging its answers: calls, quantities, assertions, reproducers, measurements."""
