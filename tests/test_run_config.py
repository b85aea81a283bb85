"""One run's settings, one type: :class:`RunConfig`, parsed once where the user gives it,
handed to the workers whole as a file, and the same run from every entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.inputs.profiles import PROFILE_NAMES, default_profile
from conformance.running.config import (
    LargeInput,
    Profile,
    RunConfig,
    UnknownOp,
    comma_list,
    dtypes_named,
    ops_named,
    profile_named,
    seed_from,
)
from conformance.running.loading import (
    AdapterSpecError,
    BuiltinSpec,
    FileSpec,
    FunctionSpec,
    ModuleSpec,
    parse_spec,
)
from conformance.truth.dtypes import DTYPE_NAMES, UnknownDtype
from tests.conftest import REPO, run_cli

# cheap properties on one dtype: enough records to tell two runs apart, in seconds
PROPERTIES = "zero_dimensional_input,vjp_of_ones_is_zero,jacobian_is_block_diagonal"
SUBSET = ("--properties", PROPERTIES, "--dtypes", "float32")


def test_the_comma_list_parser_drops_blanks_and_spaces() -> None:
    assert comma_list(" float32, ,float64,") == ["float32", "float64"]
    assert comma_list(None) == comma_list("") == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("numpy", BuiltinSpec),
        ("adapters/numpy_adapter.py:NumpyReference", FileSpec),
        ("conformance.adapters.numpy_adapter:NumpyReference", ModuleSpec),
        ("torch@torch-func:kernels.py:softmax, log_softmax", FunctionSpec),
    ],
)
def test_one_parse_gives_each_spec_form_its_kind_and_keeps_its_text(text: str, kind: type) -> None:
    parsed = parse_spec(text)
    assert isinstance(parsed, kind) and parsed.text == text
    assert parse_spec(parsed) is parsed


def test_a_function_spec_is_parsed_into_its_parts() -> None:
    parsed = parse_spec("torch@torch-func:kernels.py:softmax, log_softmax")
    assert isinstance(parsed, FunctionSpec)
    assert (parsed.framework, parsed.path, parsed.location, parsed.names) == (
        "torch",
        "torch-func",
        "kernels.py",
        ("softmax", "log_softmax"),
    )


@pytest.mark.parametrize("text", ["", "nothing", "caffe:kernels.py:softmax", "torch@nope:kernels.py:softmax"])
def test_a_spec_of_no_form_is_one_line_naming_the_choices(text: str) -> None:
    with pytest.raises(AdapterSpecError) as raised:
        parse_spec(text)
    assert len(str(raised.value).splitlines()) == 1


def test_the_value_parsers_check_and_name_the_valid_choices() -> None:
    assert tuple(Profile) == PROFILE_NAMES and profile_named("thorough") is Profile.THOROUGH and Profile.CI == "ci"
    assert dtypes_named([]) == DTYPE_NAMES and dtypes_named(["float32"]) == ("float32",)
    assert ops_named([]) == ("softmax", "log_softmax") and ops_named(["log_softmax"]) == ("log_softmax",)
    assert seed_from("12") == 12 and seed_from(None) is None and isinstance(seed_from("abc"), int)
    with pytest.raises(UnknownDtype, match="known dtypes are"):
        dtypes_named(["float8"])
    with pytest.raises(UnknownOp, match="the ops are: softmax, log_softmax"):
        ops_named(["softmin"])


def test_a_run_config_survives_its_file_whole(tmp_path: Path) -> None:
    config = RunConfig(
        Profile.DEV,
        adapters=(parse_spec("numpy"), parse_spec("adapters/numpy_adapter.py:NumpyReference")),
        seed=7,
        dtypes=("float32",),
        ops=("softmax",),
        properties=("large_input",),
        call_timeout=5.0,
        divergence_files=("mine.toml",),
        default_divergences=False,
        block=3,
        large_input=LargeInput(100, 10, 0),
        cotangents=2,
    )
    worker = config.for_worker(config.adapters[1], tmp_path / "events.jsonl", tmp_path, None, (1, 2))
    worker.write(tmp_path / "run-config.json")
    assert RunConfig.read(tmp_path / "run-config.json") == worker
    assert worker.specs == ["adapters/numpy_adapter.py:NumpyReference"] and worker.shard == (1, 2)


def _outcomes(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(record.get(name) for name in ("spec", "property", "op", "dtype", "status", "examples", "message"))
        for record in document["results"]
    )


def test_the_cli_and_a_bare_pytest_run_give_the_same_records_for_the_same_seed(tmp_path: Path) -> None:
    """``run`` hands its workers the configuration as a file; a bare pytest run builds the same
    configuration from the plugin's options: the records must not tell them apart."""
    cli = run_cli(
        "run", "--adapter", "numpy", "--profile", "ci", "--seed", "5", "--jobs", "1", *SUBSET,
        json_path=tmp_path / "cli.json", timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0 and cli.document is not None, cli.stderr[-3000:]
    plugin = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.properties", "-q", "-p", "no:randomly",
         "-p", "no:cacheprovider", "--adapter", "numpy", "--conformance-profile", "ci", "--hypothesis-seed", "5",
         *SUBSET, "--conformance-json", str(tmp_path / "plugin.json")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert plugin.returncode == 0, plugin.stdout[-3000:] + plugin.stderr[-3000:]
    outcomes = _outcomes(cli.document)
    assert len(outcomes) == 5 and outcomes == _outcomes(json.loads((tmp_path / "plugin.json").read_text()))


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (("--dtypes", "float8"), "known dtypes are"),
        (("--conformance-ops", "softmin"), "the ops are: softmax, log_softmax"),
        (("--conformance-profile", "fast"), "--conformance-profile=fast, but the known profiles are"),
        (("--adapter", "nothing"), "--adapter=nothing: unknown adapter"),
    ],
)
def test_a_bad_plugin_option_is_a_usage_error_naming_the_choices(option: tuple[str, str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.properties", "-q", "-p", "no:randomly", *option],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert says in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(("ci", "profile"), [("true", "ci"), ("1", "ci"), ("", "dev"), (None, "dev")])
def test_the_default_profile_is_ci_under_ci_and_dev_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, profile: str
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert default_profile() == profile and profile_named(None) == profile
