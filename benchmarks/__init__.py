"""The project's benchmarks: one driver (``python -m benchmarks``) over small workload definitions.

* :mod:`benchmarks.workloads`: what can be timed, each a declarative :class:`~benchmarks.workloads.Workload`;
* :mod:`benchmarks.driver`: times workloads and writes a result file to ``benchmarks/results/``;
* :mod:`benchmarks.reference`: the machine's facts and the reference figures each file is read against;
* :mod:`benchmarks.timing`: one timed process, and the conditions a run can be timed under;
* :mod:`benchmarks.breakdown`: where a conformance run's time went, per adapter and property;
* :mod:`benchmarks.probes`: the programs some workloads run to measure what a wall clock cannot show.
"""
