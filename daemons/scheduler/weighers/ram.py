"""RAMWeigher: prefers hosts with more free RAM, spreading servers (default multiplier 1.0).

A negative `[scheduler] ram_weight_multiplier` prefers the fullest hosts instead, packing
servers to keep whole hosts free.
"""

from ncloud.daemons.core import placement


class RAMWeigher:
    def __init__(self, multiplier: float = 1.0):
        self.multiplier = multiplier

    def score(self, host, spec: dict) -> float:
        return float(host.free(placement.MEMORY_MB))
