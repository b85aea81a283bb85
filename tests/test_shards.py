"""With more cores than adapters, an adapter runs as several workers, each with its share of
the (op, dtype) pairs; the run's results are the same as from one worker."""

from __future__ import annotations

from conformance.checks.names import PROPERTY_NAMES
from conformance.running import history
from conformance.running.compilation_cache import CACHE_ENVIRONMENT_VARIABLE
from conformance.running.config import Profile, RunConfig
from conformance.running.history import plan
from conformance.running.plugin.session import shard_pairs
from conformance.running.runner import share_cores
from tests.conftest import TESTS

PAIRS = [(op, dtype) for op in ("softmax", "log_softmax") for dtype in ("float16", "bfloat16", "float32", "float64")]


def test_shards_split_the_pairs_between_them_and_miss_none():
    halves = [shard_pairs(PAIRS, (index, 2)) for index in range(2)]
    assert sorted(halves[0] + halves[1]) == sorted(PAIRS)
    assert {dtype for _, dtype in halves[0]} == {"float16", "float32"}
    assert shard_pairs(PAIRS, None) == PAIRS


def _shards(pieces) -> dict[str, int]:
    return {piece.spec: piece.shards for piece in pieces}


def test_an_adapter_is_split_where_that_shortens_the_run():
    assert _shards(plan(["mine.py:Mine"], {}, jobs=2, pairs=8)) == {"mine.py:Mine": 2}  # one adapter, two cores
    assert _shards(plan(["a", "b"], {"a": 50, "b": 50}, jobs=2, pairs=8)) == {"a": 1, "b": 1}
    # one adapter that takes most of the time runs as several workers beside the others
    long_one = plan(["slow", "fast"], {"slow": 100, "fast": 10}, jobs=2, pairs=8)
    assert _shards(long_one)["slow"] > 1
    assert long_one[0].spec == "slow" and long_one[0].seconds >= long_one[-1].seconds  # longest first
    assert _shards(plan(["mine.py:Mine"], {}, jobs=16, pairs=2)) == {"mine.py:Mine": 2}  # at most one per pair


def test_a_framework_whose_import_is_slow_is_split_only_where_that_pays_for_it():
    """A TensorFlow worker spends 6.7 s before its first test (4.7 s of it importing TensorFlow):
    with this machine's figures for the default run, a plan that counted 3 s a worker split
    tensorflow-function into four, and paid for three more imports."""
    seconds = {"jax-jit": 43.7, "tensorflow-function": 32.8, "torch": 20.9}
    assert _shards(plan(list(seconds), seconds, jobs=2, pairs=8))["tensorflow-function"] == 1
    cheap, dear = (history.startup_seconds(spec) for spec in ("jax-jit", "tensorflow-function"))
    assert cheap < history.STARTUP_S < dear
    assert history.startup_seconds("mine.py:Mine") == history.STARTUP_S, "a user's adapter: the default"
    # a piece is its share of the work (a whole run's seconds, one startup out) and one startup
    [alone] = plan(["tensorflow-function"], {"tensorflow-function": 32.8}, jobs=1, pairs=8)
    assert alone.seconds == 32.8


def test_a_small_share_of_a_whole_run_is_one_worker():
    """A run of one property in one dtype of an adapter never timed: the second worker's startup
    would cost more than it saves."""
    share = RunConfig(Profile.CI, dtypes=("float32",), properties=("forward_accuracy",)).share_of_a_whole_run
    assert share == 1 / len(PROPERTY_NAMES) / 4
    assert _shards(plan(["mine.py:Mine"], {}, jobs=2, pairs=2, share=share)) == {"mine.py:Mine": 1}
    assert _shards(plan(["mine.py:Mine"], {"mine.py:Mine": 2000.0}, jobs=2, pairs=2, share=share)) == {
        "mine.py:Mine": 2
    }  # unless the whole run takes long enough


def test_workers_share_the_cores_and_keep_what_the_user_set():
    environment = share_cores({"OMP_NUM_THREADS": "3"}, jobs=2, cores=8)
    assert environment["OMP_NUM_THREADS"] == "3"
    assert environment["TF_NUM_INTRAOP_THREADS"] == "4"
    assert share_cores({}, jobs=4, cores=2)["MKL_NUM_THREADS"] == "1"


def _keys(result):
    return sorted((r["spec"], r["property"], r["op"], r["dtype"], r["status"]) for r in result.records())


def test_a_sharded_run_gives_every_record_once_and_the_same_probes(cli, tmp_path):
    broken = f"{TESTS / 'broken_adapters.py'}:FlattenedJacobian"
    # float32 and float64 make four (op, dtype) pairs to split, without the half types' 2^24-element
    # inputs, whose cost says nothing about sharding; a few properties of different kinds (one
    # that catches the broken adapter, an edge catalogue, concurrent callers) stand for the rest.
    subset = "forward_accuracy,vjp_accuracy,jacobian_is_block_diagonal,empty_inputs,concurrent_calls_agree"
    quick = ("--adapter", "numpy", "--adapter", broken, "--profile", "ci", "--dtypes", "float32,float64", "--plain",
             "--properties", subset)  # fmt: skip
    # timed before as a long adapter, the broken one is split over the four workers (a share of
    # 5 properties of 4 pairs is too small a run to split otherwise)
    cache = {CACHE_ENVIRONMENT_VARIABLE: str(tmp_path / "cache")}
    history.save(tmp_path / "cache", {broken: 1000.0})
    share = RunConfig(
        Profile.CI, dtypes=("float32", "float64"), properties=tuple(subset.split(","))
    ).share_of_a_whole_run
    assert _shards(plan(["numpy", broken], history.load(tmp_path / "cache"), 4, pairs=4, share=share))[broken] > 1
    sharded = cli("run", *quick, "--jobs", "4", env=cache)
    whole = cli("run", *quick, "--jobs", "1", env=cache)
    assert sharded.returncode == whole.returncode == 1  # the flattened Jacobian is caught either way
    keys = _keys(sharded)
    assert len(keys) == len(set(keys)) and keys == _keys(whole)
    for field in ("behaviour", "agreement", "adapters"):
        assert len(sharded.document["metadata"][field]) == len(whole.document["metadata"][field]), field


def test_a_load_error_from_every_shard_is_reported_once_but_each_shard_that_gave_up_is_reported():
    from conformance.results import records
    from conformance.running.runner import Runner

    seen: list[dict] = []
    runner = Runner(RunConfig(Profile.CI, jobs=2), seen.append)
    for _ in range(2):
        runner._report(records.adapter_error("mine.py:Mine", None, "load_adapter", "ImportError: no module x"))
    for shard in (1, 2):
        message = f"{10 * shard} properties of shard {shard} of 2 not run: the worker died 4 times"
        runner._report(records.adapter_error("mine.py:Mine", None, "worker", message))
    assert [record.property for record in seen] == ["load_adapter", "worker", "worker"]
    assert [record.message[:2] for record in seen[1:]] == ["10", "20"]


def test_deaths_a_known_divergence_explains_do_not_use_up_the_restarts(tmp_path, monkeypatch):
    """MLX's nn.log_softmax kills its worker once per dtype on a length-1 axis (a known
    divergence): four explained deaths must not cost the worker its remaining properties."""
    from conformance.results import records
    from conformance.running import runner as running
    from conformance.running.loading import parse_spec

    known = tmp_path / "known.toml"
    known.write_text(
        '[[divergence]]\nadapter = "mine"\nproperty = "crashes"\nmessage = "the worker died of SIG*"\nreason = "r"\n'
    )
    seen: list = []
    runner = running.Runner(RunConfig(Profile.CI, divergence_files=(str(known),)), seen.append)
    monkeypatch.setattr(runner, "_start", lambda worker: None)
    worker = running._Worker(parse_spec("mine.py:Mine"), tmp_path, collected=[f"p{i}" for i in range(10)])

    def dies_in(prop: str, nodeid: str) -> bool:
        identity = records.Record("mine", prop, "softmax", "float32", "skipped", spec="mine")
        worker.current = {"nodeid": nodeid, "record": identity.as_dict()}
        return runner._after_death(worker, "the worker died of SIGSEGV")

    assert not any(dies_in("crashes", f"p{i}") for i in range(5))  # explained: restarted every time
    assert not any(dies_in("other", f"p{i}") for i in range(5, 8))  # three unexplained: still restarted
    assert dies_in("other", "p8")  # the fourth unexplained death gives up the rest
    assert seen[-1].property == "worker"
    assert seen[-1].message.startswith("1 properties not run: the worker died 9 times")


COUNTING_ADAPTER = '''
import os
from adapters.numpy_adapter import NumpyReference


class Counting(NumpyReference):
    """The NumPy reference, writing the rank of every input it is given to a file."""

    def softmax(self, x, axis):
        with open(os.environ["COUNTED_RANKS"], "a") as ranks:
            ranks.write(f"{x.ndim}\\n")
        return super().softmax(x, axis)
'''


def test_the_agreement_inputs_are_computed_only_when_another_adapter_is_there_to_compare(cli, tmp_path):
    """The agreement sites are the pools' rank 2 and rank 3 sites; the property asked for calls
    0-d inputs, and the behaviour matrix rank 0 and 1: a call of rank 2 or 3 is agreement's."""
    (tmp_path / "counting.py").write_text(COUNTING_ADAPTER)
    quick = ("--profile", "ci", "--dtypes", "float32", "--properties", "zero_dimensional_input", "--plain")
    ranks = {}
    for name, others in (("alone", ()), ("beside numpy", ("--adapter", "numpy"))):
        counted = tmp_path / f"{name}.txt"
        result = cli(
            "run", "--adapter", f"{tmp_path / 'counting.py'}:Counting", *others, *quick,
            env={"COUNTED_RANKS": str(counted), "PYTHONPATH": str(TESTS.parent)},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        ranks[name] = {int(line) for line in counted.read_text().split()}
    assert ranks["alone"] <= {0, 1}, ranks
    assert {2, 3} & ranks["beside numpy"], ranks
    assert result.document["metadata"]["agreement"]  # beside numpy: the two compared
