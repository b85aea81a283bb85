"""A record's status: the one table of what each status means (whether it ran, whether it fails
the run, how bad it is against the others)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    """A result's status; its value is how the JSON document spells it, so a member is the
    string it stands for (``Status.PASSED == "passed"``)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"

    @property
    def ran(self) -> bool:
        """A result; a skipped record is not one."""
        return self is not Status.SKIPPED

    @property
    def failing(self) -> bool:
        """Fails the run unless a known divergence explains it."""
        return self in (Status.FAILED, Status.ERROR)

    @property
    def bad(self) -> bool:
        """Fails, explained (xfailed) or not."""
        return self.failing or self is Status.XFAILED

    @property
    def badness(self) -> int:
        """The worst of several runs wins: skipped < passed < xfailed < failed < error."""
        return _BADNESS_ORDER.index(self)


_BADNESS_ORDER = (Status.SKIPPED, Status.PASSED, Status.XFAILED, Status.FAILED, Status.ERROR)


def worst_status(statuses: Iterable[Status]) -> Status:
    """The worst of ``statuses``; skipped when there are none."""
    return max(statuses, key=lambda status: status.badness, default=Status.SKIPPED)
