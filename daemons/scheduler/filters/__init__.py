"""Host filters: each says why a host cannot take a request, or None when it can.

A filter is one small class with one contract, `rejects(host, spec, request) -> str | None`,
where `request` is the resources a server needs. The reason strings are counted per filter, and
the counts become the fault message of a build nobody could take.
"""

from __future__ import annotations

from ncloud.daemons.scheduler.filters.affinity_hints import DifferentHostFilter, SameHostFilter
from ncloud.daemons.scheduler.filters.availability_zone import AvailabilityZoneFilter
from ncloud.daemons.scheduler.filters.compute import ComputeFilter
from ncloud.daemons.scheduler.filters.resources import ResourceFilter
from ncloud.daemons.scheduler.filters.retry import RetryFilter
from ncloud.daemons.scheduler.filters.server_group import ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter

ALL = {cls.__name__: cls for cls in (ComputeFilter, AvailabilityZoneFilter, ResourceFilter, RetryFilter,
                                     ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter, SameHostFilter,
                                     DifferentHostFilter)}


def enabled(names: list[str]) -> list:
    unknown = [name for name in names if name not in ALL]
    if unknown:
        raise ValueError(f"unknown scheduler filter(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    # Hosts already tried for this build are always skipped, whatever the configuration says.
    return [RetryFilter()] + [ALL[name]() for name in names if name != "RetryFilter"]
