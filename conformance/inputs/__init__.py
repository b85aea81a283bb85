"""What a property is given: shape pools, Hypothesis strategies and example budgets."""
