"""The plugin's command-line options, in a group of their own, and the :class:`RunConfig` read
from them once, at activation (a bad value is one line naming the valid choices).

A worker of the runner is given its whole configuration as one file, ``--run-config PATH``;
the other options are for a bare ``pytest --pyargs conformance.properties`` run.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.inputs.profiles import UnknownProfile
from conformance.properties.marks import UnknownProperty
from conformance.running.config import (
    RunConfig,
    UnknownOp,
    comma_list,
    dtypes_named,
    ops_named,
    profile_named,
    properties_named,
    seed_from,
)
from conformance.running.loading import AdapterSpecError, parsed_specs
from conformance.truth.dtypes import DTYPE_NAMES, UnknownDtype
from conformance.truth.oracle import OPS

# each option: its flags and its keywords; any of them given asks for the plugin
OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--frameworks",), {"default": None, "help": "comma-separated built-in frameworks (each one's primary path)"}),
    (
        ("--all-paths",),
        {"action": "store_true", "default": False, "help": "every AD path of the frameworks, not just the primary"},
    ),
    (
        ("--adapter",),
        {
            "action": "append",
            "default": [],
            "dest": "conformance_adapters",
            "help": "adapter spec: built-in name, path/to/file.py:NAME or package.module:NAME (repeatable)",
        },
    ),
    (
        ("--conformance-profile",),
        {"default": None, "help": "the suite's profile: ci, dev or thorough (or --hypothesis-profile)"},
    ),
    (("--dtypes",), {"default": None, "help": f"comma-separated subset of {', '.join(DTYPE_NAMES)}"}),
    (("--properties",), {"default": None, "help": "comma-separated subset of the properties"}),
    (("--conformance-ops",), {"default": None, "help": f"comma-separated subset of {', '.join(OPS)}"}),
    (("--call-timeout",), {"type": float, "default": None, "help": "seconds one adapter call may take"}),
    (
        ("--divergences",),
        {
            "action": "append",
            "default": [],
            "dest": "conformance_divergences",
            "help": "a known-divergences file of your own, merged with the suite's (repeatable)",
        },
    ),
    (
        ("--no-default-divergences",),
        {"action": "store_true", "default": False, "help": "drop the suite's own divergences"},
    ),
    (("--conformance-json",), {"default": None, "help": "write the results document here"}),
    (("--run-config",), {"default": None, "help": "the run's whole configuration, as JSON (used by the runner)"}),
)


def _destination(flags: tuple[str, ...], keywords: dict[str, Any]) -> str:
    return str(keywords.get("dest") or flags[0].lstrip("-").replace("-", "_"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("softmax-conformance", "softmax conformance suite")
    for flags, keywords in OPTIONS:
        group.addoption(*flags, **keywords)


def asked(config: pytest.Config) -> bool:
    """Whether the command line gave any of the plugin's options."""
    return any(config.getoption(_destination(*option)) not in (None, False, []) for option in OPTIONS)


def run_config(config: pytest.Config) -> RunConfig:
    """The run the command line asks for: the runner's file, or the options checked."""
    path = config.getoption("run_config")
    if path is not None:
        try:
            return RunConfig.read(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise pytest.UsageError(f"--run-config={path}: not a run configuration ({error})") from None
    try:
        profile = profile_named(config.getoption("conformance_profile"))
        return RunConfig(
            profile=profile,
            adapters=parsed_specs(
                comma_list(config.getoption("frameworks")) or None,
                config.getoption("conformance_adapters"),
                all_paths=bool(config.getoption("all_paths")),
            ),
            seed=seed_from(config.getoption("hypothesis_seed", None)),
            dtypes=dtypes_named(comma_list(config.getoption("dtypes"))),
            ops=ops_named(comma_list(config.getoption("conformance_ops")), "--conformance-ops"),
            properties=properties_named(comma_list(config.getoption("properties"))),
            call_timeout=config.getoption("call_timeout"),
            divergence_files=tuple(config.getoption("conformance_divergences")),
            default_divergences=not config.getoption("no_default_divergences"),
            json_path=config.getoption("conformance_json"),
            hypothesis_profile=config.getoption("hypothesis_profile", None),
        )
    except (UnknownProfile, UnknownDtype, UnknownProperty, UnknownOp, AdapterSpecError) as error:
        raise pytest.UsageError(str(error).replace("--profile=", "--conformance-profile=")) from None
