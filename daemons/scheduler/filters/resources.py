"""ResourceFilter: only hosts with room for the server's VCPU, MEMORY_MB and DISK_GB.

Capacity is Placement's: (total - reserved) * allocation_ratio - used, within min/max unit. The
reason names the first short resource class, so the fault can say which one ran out.
"""

from ncloud.daemons.core import placement


class ResourceFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        short = placement.shortfall(host.inventory, host.usage, request)
        if short:
            return f"{sorted(short)[0]} short"
        return None
