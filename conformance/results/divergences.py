"""Known divergences: results that are expected to fail, each with its reason.

They live in a TOML file (``known_divergences.toml`` at the repository root), one
``[[divergence]]`` table per entry::

    [[divergence]]
    adapter = "jax*"                # fnmatch glob (or list of globs) on the adapter name (required)
    property = "forward_accuracy"   # the property; a glob (or list of globs) is allowed (required)
    op = "log_softmax"              # softmax | log_softmax; omitted or "any": every op
    dtype = "float16"               # glob on the dtype name; omitted: every dtype
    framework = "jax"               # only records of this framework; omitted: any
    versions = ">=0.4,<0.11"        # PEP 440 specifiers on framework's version (needs framework)
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

An entry matches a record when every field given matches. ``versions`` is checked
against the version the run recorded in ``metadata.frameworks`` for ``framework``; an
entry whose version range excludes the installed version does not apply to that run at
all (and is not reported by the audit).

:func:`apply` turns matched failed/error records into ``xfailed`` with ``xfail_reason``;
:func:`audit` finds entries that are stale (they match a record that now passes) or that
match nothing although their framework has results in the run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from conformance.adapters import FRAMEWORKS
from conformance.results.merge import describe, record_framework
from conformance.results.records import read_text

OPS = ("softmax", "log_softmax", "any")
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "adapter": (str, list),
    "property": (str, list),
    "op": str,
    "dtype": str,
    "framework": str,
    "versions": str,
    "message": (str, list),
    "intermittent": bool,
    "shows_on": str,
    "reason": str,
    "reproducer": str,
    "max_error_ulp": (int, float),
}
_REQUIRED = ("adapter", "property", "reason")


class DivergenceFileError(ValueError):
    """A known-divergences file that cannot be used; the message is one line naming the file."""


# ---------------------------------------------------------------------------------------------
# A small PEP 440 version and specifier implementation (no dependency on `packaging`).
# Ordering follows PEP 440; local labels (+cpu) are ignored, and pre-releases are compared
# by ordering only (the version checked is the installed one, which PEP 440 lets match).

_VERSION_RE = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>\d+)!)?
    (?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


@dataclass(frozen=True)
class Version:
    epoch: int
    release: tuple[int, ...]
    pre: tuple[int, int] | None  # (rank, number)
    post: int | None
    dev: int | None
    local: str | None

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION_RE.match(text)
        if match is None:
            raise ValueError(f"not a PEP 440 version: {text!r}")
        pre = None
        if match["pre_l"]:
            pre = (_PRE_RANK[match["pre_l"].lower()], int(match["pre_n"] or 0))
        post = None
        if match["post_n1"] is not None:
            post = int(match["post_n1"])
        elif match["post_l"]:
            post = int(match["post_n2"] or 0)
        dev = int(match["dev_n"] or 0) if match["dev_l"] else None
        return cls(
            epoch=int(match["epoch"] or 0),
            release=tuple(int(part) for part in match["release"].split(".")),
            pre=pre,
            post=post,
            dev=dev,
            local=match["local"],
        )

    @property
    def base(self) -> tuple[int, tuple[int, ...]]:
        """Epoch and release with trailing zeros dropped (1.0 == 1.0.0)."""
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        return self.epoch, tuple(release)

    @property
    def key(self) -> tuple[Any, ...]:
        if self.pre is None and self.post is None and self.dev is not None:
            pre: tuple[int, int] = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
        elif self.pre is None:
            pre = (3, 0)  # a final release sorts after its pre-releases
        else:
            pre = self.pre
        post = -1 if self.post is None else self.post
        dev: tuple[int, int] = (1, 0) if self.dev is None else (0, self.dev)
        return (*self.base, pre, post, dev)


_SPEC_RE = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>)\s*(\S+?)\s*$")


@dataclass(frozen=True)
class _Clause:
    operator: str
    version: Version
    wildcard: tuple[int, ...] | None  # the release prefix of "==1.2.*"

    def contains(self, candidate: Version) -> bool:
        if self.wildcard is not None:
            padded = candidate.release + (0,) * max(0, len(self.wildcard) - len(candidate.release))
            same = candidate.epoch == self.version.epoch and padded[: len(self.wildcard)] == self.wildcard
            return same if self.operator == "==" else not same
        mine, theirs = candidate.key, self.version.key
        if self.operator == "==":
            return mine == theirs
        if self.operator == "!=":
            return mine != theirs
        if self.operator == "<=":
            return mine <= theirs
        if self.operator == ">=":
            return mine >= theirs
        if self.operator == "<":
            # <V excludes pre-releases of V itself unless V is one
            if self.version.pre is None and self.version.dev is None and candidate.base == self.version.base:
                return False
            return mine < theirs
        if self.operator == ">":
            # >V excludes post-releases of V itself unless V is one
            if self.version.post is None and candidate.post is not None and candidate.base == self.version.base:
                return False
            return mine > theirs
        raise AssertionError(self.operator)  # pragma: no cover


@dataclass(frozen=True)
class SpecifierSet:
    """Comma-separated PEP 440 specifiers (``>=0.4,<0.11``, ``==2.13.*``, ``~=2.16``); all must hold."""

    text: str
    clauses: tuple[_Clause, ...]

    @classmethod
    def parse(cls, text: str) -> SpecifierSet:
        parts = [part for part in text.split(",")]
        if not text.strip() or any(not part.strip() for part in parts):
            raise ValueError(f"empty version specifier in {text!r}")
        clauses: list[_Clause] = []
        for part in parts:
            match = _SPEC_RE.match(part)
            if match is None:
                raise ValueError(f"{part.strip()!r} is not a version specifier such as '>=0.4' or '==2.13.*'")
            operator, version_text = match.groups()
            if version_text.endswith(".*"):
                if operator not in ("==", "!="):
                    raise ValueError(f"{part.strip()!r}: a '.*' wildcard needs == or !=")
                version = Version.parse(version_text[:-2])
                if version.pre or version.post is not None or version.dev is not None or version.local:
                    raise ValueError(f"{part.strip()!r}: a wildcard goes after a plain release like 2.13.*")
                clauses.append(_Clause(operator, version, version.release))
                continue
            version = Version.parse(version_text)
            if version.local:
                raise ValueError(f"{part.strip()!r}: local version labels (+...) are not supported")
            if operator == "~=":
                if len(version.release) < 2:
                    raise ValueError(f"{part.strip()!r}: ~= needs at least two release numbers, e.g. ~=2.16")
                clauses.append(_Clause(">=", version, None))
                clauses.append(_Clause("==", version, version.release[:-1]))
            else:
                clauses.append(_Clause(operator, version, None))
        return cls(text.strip(), tuple(clauses))

    def contains(self, version: str | Version) -> bool:
        """Whether ``version`` satisfies every clause; an unparseable version satisfies none."""
        if isinstance(version, str):
            try:
                version = Version.parse(version)
            except ValueError:
                return False
        return all(clause.contains(version) for clause in self.clauses)


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    adapter: tuple[str, ...]
    property: tuple[str, ...]
    reason: str
    op: str | None = None
    dtype: str | None = None
    framework: str | None = None
    versions: SpecifierSet | None = None
    message: tuple[str, ...] | None = None
    intermittent: bool = False
    shows_on: str | None = None  # the machines where it shows, when the processor decides
    reproducer: str | None = None
    max_error_ulp: float | None = None
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
            parts.append(f"versions {self.versions.text!r}")
        return f"{self.source} divergence #{self.number} ({', '.join(parts)})"

    def about_adapter(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.adapter)

    def version_framework(self, record: Mapping[str, Any]) -> str | None:
        return self.framework if self.framework is not None else record_framework(record)

    def version_applies(self, framework: str | None, frameworks_versions: Mapping[str, str]) -> bool:
        """False when ``versions`` is given and the framework's version is outside it or unknown."""
        if self.versions is None:
            return True
        if framework is None or framework not in frameworks_versions:
            return False
        return self.versions.contains(str(frameworks_versions[framework]))

    def matches(
        self, record: Mapping[str, Any], frameworks_versions: Mapping[str, str], *, check_message: bool = True
    ) -> bool:
        """Whether this entry is about ``record``; with ``check_message``, also whether the
        record's failure is the documented one (the audit looks past the message)."""
        if check_message and self.message is not None:
            text = str(record.get("message", ""))
            if not any(fnmatchcase(text, pattern) for pattern in self.message):
                return False
        framework = record_framework(record)
        if self.framework is not None and framework != self.framework:
            return False
        if not self.about_adapter(str(record.get("adapter", ""))):
            return False
        if not any(fnmatchcase(str(record.get("property", "")), pattern) for pattern in self.property):
            return False
        if self.op is not None and self.op != "any" and record.get("op") != self.op:
            return False
        if self.dtype is not None and not fnmatchcase(str(record.get("dtype", "")), self.dtype):
            return False
        return self.version_applies(self.version_framework(record), frameworks_versions)


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
        try:
            versions = SpecifierSet.parse(raw["versions"])
        except ValueError as exc:
            raise DivergenceFileError(f"{where}: versions: {exc}") from None
    max_error = raw.get("max_error_ulp")
    return Divergence(
        adapter=_patterns(raw["adapter"], where, "adapter"),
        property=_patterns(raw["property"], where, "property"),
        reason=" ".join(raw["reason"].split()),
        op=raw.get("op"),
        dtype=raw.get("dtype"),
        framework=raw.get("framework"),
        versions=versions,
        message=_patterns(raw["message"], where, "message") if "message" in raw else None,
        intermittent=bool(raw.get("intermittent", False)) or "shows_on" in raw,
        shows_on=" ".join(raw["shows_on"].split()) if "shows_on" in raw else None,
        reproducer=raw["reproducer"].strip() + "\n" if "reproducer" in raw else None,
        max_error_ulp=None if max_error is None else float(max_error),
        source=source,
        number=number,
    )


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


def apply(
    records: Iterable[Mapping[str, Any]],
    entries: Iterable[Divergence],
    frameworks_versions: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Copies of ``records`` where each failed or error record that an entry matches has
    become ``"xfailed"`` with ``"xfail_reason"`` (the first matching entry's reason).
    The message and everything else are kept; other records are unchanged copies."""
    entries = list(entries)
    out: list[dict[str, Any]] = []
    for record in records:
        copied = dict(record)
        if copied.get("status") in ("failed", "error"):
            for entry in entries:
                if entry.matches(copied, frameworks_versions):
                    copied["status"] = "xfailed"
                    copied["xfail_reason"] = entry.reason
                    break
        out.append(copied)
    return out


def _builtin_frameworks_matching(entry: Divergence) -> set[str]:
    return {name for name, (_, adapters) in FRAMEWORKS.items() if any(entry.about_adapter(a) for a in adapters)}


def audit(
    records: Iterable[Mapping[str, Any]],
    entries: Iterable[Divergence],
    frameworks_versions: Mapping[str, str],
) -> list[str]:
    """Problems with ``entries`` given one run's records (before or after :func:`apply`).

    * stale: the entry matches a record that now passes (an entry pinned to a ``message``:
      no record it applies to fails with that message any more);
    * matches nothing: some adapter in the run matches the entry's glob (and, for an entry
      with ``framework``, is of that framework), but the entry matches no record.

    Entries about adapters or frameworks absent from the run (``torch-compile`` when only
    ``torch`` ran), and entries whose ``versions`` exclude the installed version, are not
    about this run and are ignored.
    """
    records = list(records)
    run_frameworks = {record_framework(record) for record in records}
    run_adapters = {str(record.get("adapter", "")) for record in records}
    problems: list[str] = []
    for entry in entries:
        if entry.intermittent:
            continue  # whether it shows depends on process state: absence proves nothing
        ran = any(entry.about_adapter(adapter) for adapter in run_adapters)
        if entry.framework is not None:
            relevant = ran and entry.framework in run_frameworks
            scope = {entry.framework}
        else:
            scope = _builtin_frameworks_matching(entry) & run_frameworks
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
        matched = [record for record in records if entry.matches(record, frameworks_versions, check_message=False)]
        if not matched:
            problems.append(f"{entry.label()}: matches nothing in this run; fix or remove it")
            continue
        if entry.message is not None:
            # Pinned to one failure: stale when that failure no longer occurs anywhere it applies.
            if not any(
                record.get("status") in ("failed", "error", "xfailed") and entry.matches(record, frameworks_versions)
                for record in matched
            ):
                problems.append(f"{entry.label()}: stale: no result fails with its message any more; remove it")
            continue
        passing = [record for record in matched if record.get("status") == "passed"]
        if passing:
            named = "; ".join(describe(record) for record in passing[:3])
            more = f" and {len(passing) - 3} more" if len(passing) > 3 else ""
            problems.append(f"{entry.label()}: stale: now passes: {named}{more}; remove or narrow it")
    return problems
