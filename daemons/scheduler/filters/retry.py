"""RetryFilter: a build that failed on a host is not sent there again."""


class RetryFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        if host.host in (spec.get("retry") or {}).get("hosts", ()):
            return "already tried for this build"
        return None
