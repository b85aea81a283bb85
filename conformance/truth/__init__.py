"""The ground truth: the dtypes under test, the oracle, and the tolerance model."""
