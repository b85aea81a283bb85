"""Known divergences: results that are expected to fail, each with its reason.

The suite's own entries ship in the package (``conformance/results/known_divergences.toml``,
read with ``importlib.resources``); a user adds files of their own, merged with those. A file
holds one ``[[divergence]]`` table per entry::

    [[divergence]]
    adapter = "jax*"                # fnmatch glob (or list of globs) on the adapter name (required)
    property = "forward_accuracy"   # the property; a glob (or list of globs) is allowed (required)
    op = "log_softmax"              # softmax | log_softmax; omitted or "any": every op
    dtype = "float16"               # glob on the dtype name; omitted: every dtype
    framework = "jax"               # only records of this framework; omitted: any
    versions = ">=0.4,<0.11"        # PEP 440 specifiers on framework's version (needs framework)
    environment = { onednn = "on" } # facts the run probed (needs framework): the framework's own
                                    # (TensorFlow's onednn, rank_6_softmax_raises, XLA_FLAGS ...) and
                                    # the machine's (cpu, cpu_features); a bool, or a glob on a string;
                                    # a fact probed per dtype is read at the result's dtype
    intermittent = true             # optional: the failure shows in some runs only (it needs inputs
                                    # a run may not draw, or depends on process state), so a run
                                    # without it is not "stale" (default false)
    shows_on = "x86-64 with AVX2"   # optional: the machines where it shows, when that depends on the
                                    # processor; implies intermittent, and a reproducer that finds no
                                    # divergence on another machine is not taken as a fix
    message = "*flush*"             # glob (or list of globs) on the failure's message: only that
                                    # failure is expected; any other failure of the result still fails
    reason = "XLA's float16 exp is 2 ulp off near underflow"   # required
    reproducer = "import ..."       # a minimal script for the framework's issue tracker: it
                                    # shows the divergence, and fails once it is gone
    max_error_ulp = 6.0             # optional, informational
    machinery = true                # optional: about the AD path's machinery (autodiff, compiler,
                                    # runtime), not the framework's softmax kernel (default false)

An entry matches a record when every field given matches.

A user's function wrapped by ``from_torch``, ``from_jax`` or ``from_tensorflow`` runs on the
machinery of a built-in AD path, and its records carry that ``ad_path`` (and its framework)
beside the user's adapter name. The ``adapter`` globs of an entry with ``machinery = true``
match such a record's path as well as its name: the zero-size Jacobian of
torch.autograd.functional, or XLA's flush to zero, shows in whatever function that path
differentiates. An entry without it, whose globs name a built-in adapter (``"torch*"``), is
about that framework's own softmax and never applies to a user's function, whatever the
function is called; an entry naming only the user's adapter (``"my-softmax@torch"``) applies
to it as to any adapter. ``versions`` is checked
against the version the run recorded in ``metadata.frameworks`` for ``framework``; an
entry whose version range excludes the installed version does not apply to that run at
all (and is not reported by the audit). ``environment`` is checked the same way against the
facts the run recorded in ``metadata.environment`` (see :mod:`conformance.results.environment`):
an entry about oneDNN's kernels applies where the run had them on, and only to the dtypes the
probe found affected on that machine.

:func:`apply` turns matched failed/error records into ``xfailed`` with ``xfail_reason``;
:func:`audit` finds entries that are stale (they match a record that now passes) or that
match nothing although their framework has results in the run; :func:`audit_versions`,
given runs of several versions of a framework, finds entries whose version range is too
wide or too narrow for them, and the range that fits.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.checks.names import PROPERTY_NAMES
from conformance.results.documents import read_text
from conformance.results.environment import Environment, facts_for, holds
from conformance.results.records import Record
from conformance.results.status import Status
from conformance.truth.frameworks import FRAMEWORKS

DEFAULT_NAME = "known_divergences.toml"
DEFAULT_SOURCE = f"conformance/results/{DEFAULT_NAME}"  # how messages name the packaged file

OPS = ("softmax", "log_softmax", "any")
RANGE_PROBLEM = "version range"  # what a problem of audit_versions says after the entry's label
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "adapter": (str, list),
    "property": (str, list),
    "op": str,
    "dtype": str,
    "framework": str,
    "versions": str,
    "environment": dict,
    "message": (str, list),
    "intermittent": bool,
    "shows_on": str,
    "reason": str,
    "reproducer": str,
    "max_error_ulp": (int, float),
    "machinery": bool,
}
_REQUIRED = ("adapter", "property", "reason")


class DivergenceFileError(ValueError):
    """A known-divergences file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Divergence:
    adapter: tuple[str, ...]
    property: tuple[str, ...]
    reason: str
    op: str | None = None
    dtype: str | None = None
    framework: str | None = None
    versions: SpecifierSet | None = None  # packaging's: PEP 440, the same as pip's
    environment: Mapping[str, str | bool] | None = None  # facts of the run it holds under
    message: tuple[str, ...] | None = None
    intermittent: bool = False
    shows_on: str | None = None  # the machines where it shows, when the processor decides
    reproducer: str | None = None
    max_error_ulp: float | None = None
    machinery: bool = False  # about the AD path's machinery, so it applies to a user's function on it
    source: str = field(default="known_divergences.toml", compare=False)
    number: int = field(default=0, compare=False)  # 1-based position in the file

    def label(self) -> str:
        adapters = repr(self.adapter[0]) if len(self.adapter) == 1 else repr(list(self.adapter))
        properties = repr(self.property[0]) if len(self.property) == 1 else repr(list(self.property))
        parts = [f"adapter {adapters}", f"property {properties}"]
        if self.op is not None:
            parts.append(f"op {self.op}")
        if self.dtype is not None:
            parts.append(f"dtype {self.dtype!r}")
        if self.framework is not None:
            parts.append(f"framework {self.framework}")
        if self.versions is not None:
            parts.append(f"versions {str(self.versions)!r}")
        if self.environment is not None:
            parts.append("environment " + ", ".join(f"{name}={value!r}" for name, value in self.environment.items()))
        return f"{self.source} divergence #{self.number} ({', '.join(parts)})"

    def about_adapter(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.adapter)

    def about(self, adapter: str, ad_path: str | None) -> bool:
        """Whether the entry is about the adapter named ``adapter``; ``ad_path``: the built-in
        AD path that differentiates it, when it is a user's function (from_torch, ...)."""
        if ad_path is None:
            return self.about_adapter(adapter)
        if self.machinery and self.about_adapter(ad_path):
            return True
        return self.about_adapter(adapter) and not self.about_builtin()

    def about_builtin(self) -> bool:
        """Whether the globs name a built-in adapter (then, without ``machinery``, the entry is
        about that framework's own softmax)."""
        return any(self.about_adapter(name) for _, names in FRAMEWORKS.values() for name in names)

    def version_framework(self, record: Record) -> str | None:
        return self.framework if self.framework is not None else record.framework

    def version_applies(self, framework: str | None, frameworks_versions: Mapping[str, str]) -> bool:
        """False when ``versions`` is given and the framework's version is outside it or unknown.
        Pre-releases and local builds (``2.13.0+cpu``) count as the release they are of."""
        if self.versions is None:
            return True
        if framework is None or framework not in frameworks_versions:
            return False
        try:
            version = Version(str(frameworks_versions[framework]))
        except InvalidVersion:
            return False
        return self.versions.contains(version, prereleases=True)

    def environment_applies(self, record: Record, environment: Environment | None) -> bool:
        """Whether the run's facts, for the entry's framework and the record's dtype, are those
        ``environment`` asks for (always, when it asks for none)."""
        if self.environment is None:
            return True
        if environment is None:
            return False
        return holds(self.environment, facts_for(environment, self.version_framework(record)), record.failing_dtype)

    def matches(
        self,
        record: Record,
        frameworks_versions: Mapping[str, str],
        *,
        check_message: bool = True,
        environment: Environment | None = None,
    ) -> bool:
        """Whether this entry is about ``record`` in a run with ``environment``'s facts; with
        ``check_message``, also whether the record's failure is the documented one (the audit
        looks past the message)."""
        if (
            check_message
            and self.message is not None
            and not any(fnmatchcase(record.message, pattern) for pattern in self.message)
        ):
            return False
        if self.framework is not None and record.framework != self.framework:
            return False
        if not self.about(record.adapter, record.ad_path):
            return False
        if not self.about_check(record):
            return False
        if not self.environment_applies(record, environment):
            return False
        return self.version_applies(self.version_framework(record), frameworks_versions)

    def names_a_property(self) -> bool:
        """Whether a property of the suite matches the entry's globs (one that matches none is a
        typo, which every run reports as matching nothing)."""
        return any(fnmatchcase(name, pattern) for name in PROPERTY_NAMES for pattern in self.property)

    def about_check(self, record: Record) -> bool:
        """Whether ``record``'s property, op and dtype are ones this entry is about, whatever
        the adapter: a run that checked none of them (``bench``, ``--properties``, ``--dtypes``)
        says nothing about the entry."""
        if not any(fnmatchcase(record.property, pattern) for pattern in self.property):
            return False
        if self.op is not None and self.op != "any" and record.op != self.op:
            return False
        return self.dtype is None or fnmatchcase(record.failing_dtype, self.dtype)


def _patterns(value: str | list[Any], where: str, name: str) -> tuple[str, ...]:
    patterns = [value] if isinstance(value, str) else value
    if not patterns or not all(isinstance(pattern, str) and pattern.strip() for pattern in patterns):
        raise DivergenceFileError(f"{where}: {name} must be a glob or a non-empty list of globs")
    return tuple(patterns)


def _entry(raw: Any, number: int, source: str) -> Divergence:
    where = f"{source}: divergence #{number}"
    if not isinstance(raw, dict):
        raise DivergenceFileError(f"{where}: expected a table ([[divergence]]), got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise DivergenceFileError(
            f"{where}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(_FIELDS)}"
        )
    for name in _REQUIRED:
        if name not in raw:
            raise DivergenceFileError(f"{where}: missing required field {name!r}")
    for name, value in raw.items():
        expected = _FIELDS[name]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            kind = {
                "max_error_ulp": "a number",
                "message": "a string or a list of strings",
                "adapter": "a string or a list of strings",
                "property": "a string or a list of strings",
                "intermittent": "true or false",
                "machinery": "true or false",
                "environment": 'a table of facts (environment = { onednn = "on" })',
            }.get(name, "a string")
            raise DivergenceFileError(f"{where}: {name} must be {kind}, got {value!r}")
        if isinstance(value, str) and not value.strip():
            raise DivergenceFileError(f"{where}: {name} is empty")
    if "op" in raw and raw["op"] not in OPS:
        raise DivergenceFileError(f"{where}: op {raw['op']!r} is not one of {', '.join(OPS)}")
    if "framework" in raw and raw["framework"] not in FRAMEWORKS:
        raise DivergenceFileError(
            f"{where}: framework {raw['framework']!r} is not one of {', '.join(sorted(FRAMEWORKS))}"
        )
    versions = None
    if "versions" in raw:
        if "framework" not in raw:
            raise DivergenceFileError(f"{where}: versions needs framework (whose version it constrains)")
        if any(not part.strip() for part in raw["versions"].split(",")):
            raise DivergenceFileError(f"{where}: versions: empty version specifier in {raw['versions']!r}")
        try:
            versions = SpecifierSet(raw["versions"])
        except InvalidSpecifier as exc:
            raise DivergenceFileError(f"{where}: versions: {exc}") from None
    max_error = raw.get("max_error_ulp")
    environment = _environment(raw, where) if "environment" in raw else None
    return Divergence(
        adapter=_patterns(raw["adapter"], where, "adapter"),
        property=_patterns(raw["property"], where, "property"),
        reason=" ".join(raw["reason"].split()),
        op=raw.get("op"),
        dtype=raw.get("dtype"),
        framework=raw.get("framework"),
        versions=versions,
        environment=environment,
        message=_patterns(raw["message"], where, "message") if "message" in raw else None,
        intermittent=bool(raw.get("intermittent", False)) or "shows_on" in raw,
        shows_on=" ".join(raw["shows_on"].split()) if "shows_on" in raw else None,
        reproducer=raw["reproducer"].strip() + "\n" if "reproducer" in raw else None,
        max_error_ulp=None if max_error is None else float(max_error),
        machinery=bool(raw.get("machinery", False)),
        source=source,
        number=number,
    )


def _environment(raw: Mapping[str, Any], where: str) -> dict[str, str | bool]:
    """The ``environment`` table of an entry: fact names to a bool or a non-empty glob."""
    if "framework" not in raw:
        raise DivergenceFileError(f"{where}: environment needs framework (whose facts it names)")
    table = raw["environment"]
    if not table:
        raise DivergenceFileError(f"{where}: environment is empty; name at least one fact")
    for name, value in table.items():
        if not isinstance(value, bool) and not (isinstance(value, str) and value.strip()):
            raise DivergenceFileError(
                f"{where}: environment.{name} must be true, false or a glob on the fact, got {value!r}"
            )
    return dict(table)


def parse(text: str, source: str = "known_divergences.toml") -> list[Divergence]:
    """The entries of a known-divergences TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DivergenceFileError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    unknown = sorted(set(data) - {"divergence"})
    if unknown:
        raise DivergenceFileError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}; write entries as [[divergence]] tables"
        )
    entries = data.get("divergence", [])
    if not isinstance(entries, list):
        raise DivergenceFileError(f"{source}: 'divergence' must be an array of tables ([[divergence]])")
    return [_entry(raw, number, source) for number, raw in enumerate(entries, start=1)]


def load(path: str | Path) -> list[Divergence]:
    """The entries of the known-divergences file at ``path``.

    Raises DivergenceFileError (one line, naming the file) when it is missing, unreadable,
    not TOML, or has an entry with a missing/unknown/mistyped field or a bad ``versions``.
    """
    path = Path(path)
    text = read_text(path, DivergenceFileError, "TOML file")
    return parse(text, source=str(path))


def load_default() -> list[Divergence]:
    """The suite's own entries, from the package's data."""
    text = importlib.resources.files("conformance.results").joinpath(DEFAULT_NAME).read_text(encoding="utf-8")
    return parse(text, source=DEFAULT_SOURCE)


def load_all(paths: Sequence[str | Path] = (), *, defaults: bool = True) -> tuple[list[Divergence], list[str]]:
    """The entries of the suite's own file (unless ``defaults`` is off) and of each of
    ``paths``, merged in that order, and the names of the files they came from."""
    entries = load_default() if defaults else []
    sources = [DEFAULT_SOURCE] if defaults else []
    for path in paths:
        entries.extend(load(path))
        sources.append(str(path))
    return entries, sources


def apply(
    records: Iterable[Record],
    entries: Iterable[Divergence],
    frameworks_versions: Mapping[str, str],
    environment: Environment | None = None,
) -> list[Record]:
    """``records`` where each failed or error record that an entry matches, in a run with
    ``environment``'s facts, has become ``xfailed`` with ``xfail_reason`` (the first matching
    entry's reason); its message and everything else are kept."""
    entries = list(entries)
    out: list[Record] = []
    for record in records:
        if record.failing:
            entry = next(
                (entry for entry in entries if entry.matches(record, frameworks_versions, environment=environment)),
                None,
            )
            if entry is not None:
                record = record.replace(status=Status.XFAILED, xfail_reason=entry.reason)
        out.append(record)
    return out


def _builtin_frameworks_matching(entry: Divergence) -> set[str]:
    return {name for name, (_, adapters) in FRAMEWORKS.items() if any(entry.about_adapter(a) for a in adapters)}


def audit(
    records: Iterable[Record],
    entries: Iterable[Divergence],
    frameworks_versions: Mapping[str, str],
    environment: Environment | None = None,
) -> list[str]:
    """Problems with ``entries`` given one run's records (before or after :func:`apply`).

    * stale: the entry matches a record that now passes (an entry pinned to a ``message``:
      no record it applies to fails with that message any more);
    * matches nothing: some adapter in the run matches the entry's glob (and, for an entry
      with ``framework``, is of that framework), but the entry matches no record.

    Entries about adapters or frameworks absent from the run (``torch-compile`` when only
    ``torch`` ran) or about checks it did not make (a property, op or dtype left out), and
    entries whose ``versions`` exclude the installed version, are not about this run and are
    ignored, and so are entries whose ``environment`` the run's facts do not satisfy for any
    record (oneDNN was off; the probe found no dtype affected on this machine). An entry about
    an edge catalogue's record that checked only a block of its product (a ``dev`` run) is
    treated like an intermittent one: its case may not have been drawn.
    """
    records = list(records)
    run_frameworks = {record.framework for record in records}
    run_adapters = {(record.adapter, record.ad_path) for record in records}
    problems: list[str] = []
    for entry in entries:
        if entry.intermittent:
            continue  # whether it shows depends on process state or the processor: absence proves nothing
        if any(record.partial and entry.about_check(record) for record in records):
            continue  # a dev run checked a block of its catalogue that may not hold its case: not drawn
        checked = any(entry.about_check(record) for record in records) or not entry.names_a_property()
        ran = checked and any(entry.about(adapter, ad_path) for adapter, ad_path in run_adapters)
        if entry.framework is not None:
            relevant = ran and entry.framework in run_frameworks
            scope = {entry.framework}
        else:
            scope = _builtin_frameworks_matching(entry) & {f for f in run_frameworks if f is not None}
            relevant = ran
        if not relevant:
            continue
        if entry.versions is not None and not any(
            entry.version_applies(framework, frameworks_versions) for framework in scope
        ):
            if any(framework in frameworks_versions for framework in scope):
                continue  # the installed version is outside the entry's range: not about this run
            problems.append(
                f"{entry.label()}: matches nothing: the run did not record the version of "
                f"{', '.join(sorted(f for f in scope if f))}"
            )
            continue
        if entry.environment is not None and not any(
            entry.environment_applies(record, environment) for record in records if entry.about_check(record)
        ):
            continue  # the run's facts are not the ones the entry holds under: not about this run
        matched = [
            record
            for record in records
            if entry.matches(record, frameworks_versions, check_message=False, environment=environment)
        ]
        if not matched:
            problems.append(f"{entry.label()}: matches nothing in this run; fix or remove it")
            continue
        if entry.message is not None:
            # Pinned to one failure: stale when that failure no longer occurs anywhere it applies.
            if not any(
                record.status.bad and entry.matches(record, frameworks_versions, environment=environment)
                for record in matched
            ):
                problems.append(f"{entry.label()}: stale: no result fails with its message any more; remove it")
            continue
        passing = [record for record in matched if record.status == Status.PASSED]
        if passing:
            named = "; ".join(record.describe() for record in passing[:3])
            more = f" and {len(passing) - 3} more" if len(passing) > 3 else ""
            problems.append(f"{entry.label()}: stale: now passes: {named}{more}; remove or narrow it")
    return problems


def fitting_range(ran: Sequence[str], failing: Iterable[str]) -> str:
    """The narrowest ``versions`` specifier that covers every version in ``failing`` and no
    other version in ``ran`` (both oldest first, in ``ran``'s order); "" when that is every
    version that ran."""
    failing = set(failing)
    inside = [n for n, version in enumerate(ran) if version in failing]
    first, last = inside[0], inside[-1]
    parts = [f">={ran[first]}"] if first > 0 else []
    if last < len(ran) - 1:
        parts.append(f"<{ran[last + 1]}")
    parts += [f"!={version}" for version in ran[first : last + 1] if version not in failing]
    return ",".join(parts)


def audit_versions(
    runs: Sequence[tuple[Mapping[str, str], Sequence[Record]]], entries: Iterable[Divergence]
) -> list[str]:
    """Problems with the version ranges of ``entries`` given runs of several versions of one
    framework: ``runs`` holds each run's framework versions and its records (after
    :func:`apply`).

    For an entry with ``framework``, each version of it that ran (with an adapter the entry is
    about) either fails the way the entry describes (a failed, error or xfailed record that the
    entry matches, its ``versions`` aside) or not. The range is

    * too wide when it covers a version that does not fail that way (not for an intermittent
      entry: absence proves nothing);
    * too narrow when a version outside it fails that way, unexplained.

    Either is reported with the range that fits the runs (:func:`fitting_range`). An entry
    that fits no version at all is left to :func:`audit` (it matches nothing).
    """
    from conformance.results.versions import version_key

    runs = list(runs)
    problems: list[str] = []
    for entry in entries:
        framework = entry.framework
        if framework is None:
            continue
        by_version: dict[str, list[Record]] = {}
        for versions, records in runs:
            version = versions.get(framework)
            own = [r for r in records if r.framework == framework and entry.about_adapter(r.adapter)]
            if version is None or "|" in version or not any(r.ran for r in own):
                continue
            by_version.setdefault(version, []).extend(own)
        if len(by_version) < 2:
            continue
        ran = sorted(by_version, key=version_key)
        anywhere = replace(entry, versions=None, environment=None)  # the versions' facts were not kept
        same_way = {
            version: [r for r in by_version[version] if r.status.bad and anywhere.matches(r, {})] for version in ran
        }
        failing = [version for version in ran if same_way[version]]
        if not failing:
            continue
        covers = {version: entry.version_applies(framework, {framework: version}) for version in ran}
        not_drawn = any(r.partial and entry.about_check(r) for v in ran for r in by_version[v])  # a dev block
        too_wide = [] if entry.intermittent or not_drawn else [v for v in ran if covers[v] and not same_way[v]]
        too_narrow = [v for v in ran if not covers[v] and any(r.failing for r in same_way[v])]
        if not (too_wide or too_narrow):
            continue
        found = []
        if too_wide:
            found.append(f"too wide: it covers {framework} {', '.join(too_wide)}, where nothing fails its way")
        if too_narrow:
            found.append(f"too narrow: {framework} {', '.join(too_narrow)}, outside it, fails its way unexplained")
        fit = fitting_range(ran, failing)
        fits = f"versions = {fit!r}" if fit else "no versions (every version that ran)"
        problems.append(
            f"{entry.label()}: {RANGE_PROBLEM} {'; '.join(found)}; the range that fits the runs "
            f"({', '.join(ran)}): {fits}"
        )
    return problems
