"""The large tier: inputs of millions of elements, checked in chunks of rows.

* :mod:`~conformance.checks.large.seeded`: the inputs, each made from its seed a chunk of rows
  at a time (a reproducer names the seed, never the array);
* :mod:`~conformance.checks.large.shared`: the references and arrays the workers of a run share;
* :mod:`~conformance.checks.large.at_scale`: the checks, chunk by chunk against the oracle;
* :mod:`~conformance.checks.large.memory`: the memory a check may take.

The properties (``conformance/properties/test_scale.py``) and the ``bench`` command
(``conformance/scale/``, a front end over a run, above the checks in the layering) use them.
"""
