"""Large inputs: ``python -m conformance bench`` checks one input per adapter in O(N) memory, in
worker processes, and compares that with what a full Jacobian costs."""
