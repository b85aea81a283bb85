"""Programs a workload runs to measure from the inside: each writes its figures (JSON) to ``--out``."""
