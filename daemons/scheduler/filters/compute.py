"""ComputeFilter: only hosts whose compute service is up and enabled."""


class ComputeFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        if not host.service_up:
            return "compute service down"
        if host.service_disabled:
            return "compute service disabled"
        return None
