"""What a check found: a status as monitoring systems count them, a one-line summary, figures."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.IntEnum):
    """Nagios plugin exit codes, so the worst status is the command's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass
class Finding:
    check: str
    status: Status
    summary: str
    # name -> (value, unit), printed as Nagios perfdata
    figures: dict[str, tuple[float, str]] = field(default_factory=dict)


def worst(findings: list[Finding]) -> Status:
    """UNKNOWN only when nothing is worse: a known CRITICAL beats an unknown."""
    statuses = {finding.status for finding in findings}
    for status in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN):
        if status in statuses:
            return status
    return Status.OK
