"""The plugin's command-line options, in a group of their own, and the typed settings read from
them once, at activation (a bad value is one line naming the valid choices)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conformance.inputs.profiles import UnknownProfile, check_profile, default_profile
from conformance.properties.marks import UnknownProperty, check_properties
from conformance.truth.dtypes import DTYPE_NAMES, UnknownDtype, dtype_name, dtype_named
from conformance.truth.oracle import OPS

# the options that ask for the plugin: any of them given turns it on
ASKING: tuple[str, ...] = (
    "frameworks",
    "all_paths",
    "conformance_adapters",
    "conformance_profile",
    "dtypes",
    "properties",
    "call_timeout",
    "conformance_divergences",
    "no_default_divergences",
    "conformance_json",
    "conformance_stream",
    "conformance_probes",
    "conformance_skip",
    "conformance_shard",
    "conformance_ops",
    "conformance_large_input",
    "conformance_block",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("softmax-conformance", "softmax conformance suite")
    group.addoption("--frameworks", default=None, help="comma-separated built-in frameworks (each one's primary path)")
    group.addoption(
        "--all-paths", action="store_true", default=False, help="every AD path of the frameworks, not just the primary"
    )
    group.addoption(
        "--adapter",
        action="append",
        default=[],
        dest="conformance_adapters",
        help="adapter spec: built-in name, path/to/file.py:NAME or package.module:NAME (repeatable)",
    )
    group.addoption(
        "--conformance-profile", default=None, help="the suite's profile: ci, dev or thorough (or --hypothesis-profile)"
    )
    group.addoption("--dtypes", default=None, help=f"comma-separated subset of {', '.join(DTYPE_NAMES)}")
    group.addoption("--properties", default=None, help="comma-separated subset of the properties")
    group.addoption("--call-timeout", type=float, default=None, help="seconds one adapter call may take")
    group.addoption(
        "--divergences",
        action="append",
        default=[],
        dest="conformance_divergences",
        help="a known-divergences file of your own, merged with the suite's (repeatable)",
    )
    group.addoption(
        "--no-default-divergences", action="store_true", default=False, help="drop the suite's own divergences"
    )
    group.addoption("--conformance-json", default=None, help="write the results document here")
    group.addoption("--conformance-stream", default=None, help="append JSON-lines events here (used by the runner)")
    group.addoption(
        "--conformance-probes",
        default=None,
        help="write each adapter's answers on the agreement inputs here (used by the runner)",
    )
    group.addoption("--conformance-skip", default=None, help="file of test ids not to run (used by the runner)")
    group.addoption(
        "--conformance-shard",
        default=None,
        help="K/N: only the K-th of N shares of the (op, dtype) pairs, K from 0 (used by the runner)",
    )
    group.addoption(
        "--conformance-ops", default=None, help=f"comma-separated subset of {', '.join(OPS)} (used by bench)"
    )
    group.addoption(
        "--conformance-large-input",
        default=None,
        help="ROWSxLENGTH[@AXIS]: the input of the large_input property (used by bench)",
    )
    group.addoption(
        "--conformance-block",
        type=int,
        default=None,
        help="N: in dev, run N's block of each edge catalogue's covering design (used by the runner)",
    )
    group.addoption(
        "--conformance-cotangents",
        type=int,
        default=1,
        help="random cotangents for the large checks' VJP (used by bench)",
    )


def split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def asked(config: pytest.Config) -> bool:
    """Whether the command line gave any of the plugin's options."""
    return any(config.getoption(name) not in (None, False, []) for name in ASKING)


@dataclass(frozen=True)
class Settings:
    """What the command line asks of the plugin, checked."""

    profile: str  # the suite's profile, for the shape pools and the document
    hypothesis_profile: str | None  # the user's --hypothesis-profile, which wins over the suite's
    frameworks: tuple[str, ...]
    adapters: tuple[str, ...]
    all_paths: bool
    dtypes: tuple[str, ...]
    properties: tuple[str, ...] | None
    ops: tuple[str, ...]
    shard: tuple[int, int] | None
    call_timeout: float | None
    divergence_files: tuple[str, ...]
    default_divergences: bool
    json_path: str | None
    stream_path: str | None
    probes_folder: str | None
    skip_file: str | None
    large_input: str | None
    cotangents: int
    hypothesis_seed: Any
    block: int | None  # the run number that picks the edge catalogues' blocks; None: their full product

    @classmethod
    def read(cls, config: pytest.Config) -> Settings:
        try:
            profile = check_profile(config.getoption("conformance_profile") or default_profile())
            dtypes = tuple(dtype_name(dtype_named(name)) for name in split(config.getoption("dtypes"))) or DTYPE_NAMES
            wanted = check_properties(split(config.getoption("properties"))) or None
        except (UnknownProfile, UnknownDtype, UnknownProperty) as error:
            raise pytest.UsageError(str(error).replace("--profile=", "--conformance-profile=")) from None
        shard_text = config.getoption("conformance_shard")
        shard = None if shard_text is None else tuple(int(part) for part in shard_text.split("/"))
        ops = tuple(split(config.getoption("conformance_ops"))) or OPS
        return cls(
            profile=profile,
            hypothesis_profile=config.getoption("hypothesis_profile", None),
            frameworks=tuple(split(config.getoption("frameworks"))),
            adapters=tuple(config.getoption("conformance_adapters")),
            all_paths=bool(config.getoption("all_paths")),
            dtypes=dtypes,
            properties=tuple(wanted) if wanted else None,
            ops=ops,
            shard=(shard[0], shard[1]) if shard else None,
            call_timeout=config.getoption("call_timeout"),
            divergence_files=tuple(config.getoption("conformance_divergences")),
            default_divergences=not config.getoption("no_default_divergences"),
            json_path=config.getoption("conformance_json"),
            stream_path=config.getoption("conformance_stream"),
            probes_folder=config.getoption("conformance_probes"),
            skip_file=config.getoption("conformance_skip"),
            large_input=config.getoption("conformance_large_input"),
            cotangents=max(1, int(config.getoption("conformance_cotangents"))),
            hypothesis_seed=config.getoption("hypothesis_seed", None),
            block=config.getoption("conformance_block") if profile == "dev" else None,
        )
