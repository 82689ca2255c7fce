"""SameHostFilter and DifferentHostFilter: the scheduler hints `same_host` and `different_host`.

Each names servers (uuids); the host must run at least one of them (same_host) or none of them
(different_host). `spec["hint_hosts"]` holds the hosts of the named servers, read once per request.
"""

from __future__ import annotations


class SameHostFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        wanted = (spec.get("hint_hosts") or {}).get("same_host")
        if wanted is not None and host.host not in wanted:
            return "runs none of the servers named by same_host"
        return None


class DifferentHostFilter:
    def rejects(self, host, spec: dict, request: dict) -> str | None:
        avoided = (spec.get("hint_hosts") or {}).get("different_host")
        if avoided and host.host in avoided:
            return "runs a server named by different_host"
        return None
