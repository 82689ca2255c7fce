"""AvailabilityZoneFilter: only hosts in the availability zone the server asked for (if any)."""


class AvailabilityZoneFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        wanted = spec.get("availability_zone")
        if wanted and wanted != host.availability_zone:
            return f"not in availability zone {wanted}"
        return None
