"""ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter: a group's hard policies.

`spec["group_hosts"]` counts the group's servers per host, as the scheduler read them when the
request came, plus those it placed for the same request since (a multi-server request into an
anti-affinity group lands on different hosts).
"""

from __future__ import annotations

from ncloud.daemons.core import server_groups


def _group(spec: dict, policy: str) -> dict | None:
    group = spec.get("group")
    return group if group and group.get("policy") == policy else None


class ServerGroupAffinityFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        if _group(spec, server_groups.AFFINITY) is None:
            return None
        hosts = spec.get("group_hosts") or {}
        if hosts and host.host not in hosts:
            return "not the host of the server's affinity group"
        return None


class ServerGroupAntiAffinityFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        group = _group(spec, server_groups.ANTI_AFFINITY)
        if group is None:
            return None
        limit = int((group.get("rules") or {}).get("max_server_per_host", 1))
        if (spec.get("group_hosts") or {}).get(host.host, 0) >= limit:
            return "has as many of the server's anti-affinity group as allowed"
        return None
