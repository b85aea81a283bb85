"""At the end of a session, what the adapters do where no answer is right (the behaviour matrix)
and how they agree with each other, added to the run's metadata (:mod:`conformance.running.probes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.running import probes
from conformance.running.plugin.session import session_of


def probe(config: pytest.Config, meta: dict[str, Any]) -> None:
    """Add the behaviour matrix and cross-adapter agreement of the adapters that ran. The
    agreement inputs are computed only where there is another adapter to compare with: in this
    session, or in the run's other workers (a ``probes_folder``). A compiled path builds their
    programs when the run's properties did not: TensorFlow's tf.function traces took 2.5 s
    after a one-property run."""
    session = session_of(config)
    subjects = [subject for subject in session.subjects or [] if not subject.hung]
    if not subjects:
        return
    pairs = session.pairs()
    shard = session.run_config.shard
    if shard is None or shard[0] == 0:  # the behaviour matrix does not depend on the pairs: one shard probes it
        meta["behaviour"] = [row for subject in subjects for row in probes.behaviour(subject)]
    folder = session.run_config.probes_folder
    if folder is None and len({subject.spec for subject in subjects}) < 2:
        meta["agreement"] = []
        return
    outputs = {subject.spec: probes.agreement_outputs(subject, pairs, session.pool) for subject in subjects}
    if folder:
        for index, (spec, answers) in enumerate(outputs.items()):
            np.savez(Path(folder) / f"outputs-{index}.npz", spec=np.array(spec), **answers)  # type: ignore[arg-type]
    else:
        meta["agreement"] = probes.pairwise_agreement(outputs)
