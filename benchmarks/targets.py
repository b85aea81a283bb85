"""Time the project's targets in loops of the reference, cold, into one result file.

    python -m benchmarks.targets [--keep FOLDER] [--out FILE]

The same as ``python -m benchmarks run targets``: the default three-framework run, a user's
NumPy adapter, a slow adapter, every AD path, and a fresh clone's ``.ci/run``, each against its
limit (``python -m benchmarks list``), the reference loop timed before and after.
"""

from __future__ import annotations

import sys

from benchmarks.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["run", "targets", *sys.argv[1:]]))
