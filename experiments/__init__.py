"""Experiments on the suite itself, run from the repository's root as modules:

* :mod:`experiments.campaign`: the zero-false-alarm campaign (``python -m experiments.campaign``);
* :mod:`experiments.catch_rate`: how often a default run catches each deliberately broken
  adapter (``python -m experiments.catch_rate``).
"""
