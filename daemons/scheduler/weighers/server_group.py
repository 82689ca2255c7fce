"""The soft policies of server groups: prefer hosts with more (soft-affinity) or fewer
(soft-anti-affinity) of the group's servers, never refusing one.

Their default multiplier (2.0) outweighs the RAM weigher's (1.0), so a soft policy decides
between hosts whenever both can take the server, and free RAM only breaks ties.
"""

from __future__ import annotations

from ncloud.daemons.core import server_groups


class _GroupWeigher:
    policy = ""
    sign = 1.0

    def __init__(self, multiplier: float):
        self.multiplier = multiplier

    def score(self, host, spec: dict) -> float:
        group = spec.get("group")
        if not group or group.get("policy") != self.policy:
            return 0.0
        return self.sign * (spec.get("group_hosts") or {}).get(host.host, 0)


class ServerGroupSoftAffinityWeigher(_GroupWeigher):
    policy = server_groups.SOFT_AFFINITY


class ServerGroupSoftAntiAffinityWeigher(_GroupWeigher):
    policy = server_groups.SOFT_ANTI_AFFINITY
    sign = -1.0
