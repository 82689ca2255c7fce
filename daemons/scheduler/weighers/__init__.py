"""Host weighers: each scores hosts; scores are normalised to 0..1 and multiplied by a weight.

The highest total wins. Normalising keeps weighers comparable whatever their units.
"""

from __future__ import annotations

from ncloud.daemons.scheduler.weighers.ram import RAMWeigher
from ncloud.daemons.scheduler.weighers.server_group import (
    ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher,
)


def normalise(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high == low:
        return [0.0 for _ in values]
    return [(value - low) / (high - low) for value in values]


def weigh(hosts: list, weighers: list, spec: dict) -> list[tuple[float, object]]:
    """(total weight, host) pairs, best first."""
    totals = [0.0] * len(hosts)
    for weigher in weighers:
        scores = normalise([weigher.score(host, spec) for host in hosts])
        for index, score in enumerate(scores):
            totals[index] += weigher.multiplier * score
    return sorted(zip(totals, hosts, strict=True), key=lambda pair: pair[0], reverse=True)


def enabled(conf) -> list:
    return [RAMWeigher(conf.scheduler.ram_weight_multiplier),
            ServerGroupSoftAffinityWeigher(conf.scheduler.soft_affinity_weight_multiplier),
            ServerGroupSoftAntiAffinityWeigher(conf.scheduler.soft_anti_affinity_weight_multiplier)]
