"""How the conductor and the API send work to one compute host (topic `compute.<host>`)."""

from __future__ import annotations

from ncloud.daemons.core import rpc
from ncloud.daemons.core.context import RequestContext

TOPIC = "compute"
BINARY = "ncloud-compute"  # the name compute services have in the services table


class ComputeAPI:
    def __init__(self, transport: rpc.Transport, timeout: float = 60.0):
        self.client = rpc.RPCClient(transport, TOPIC, timeout=timeout)

    def _host(self, host: str) -> rpc.RPCClient:
        return self.client.prepare(server=host)

    def build_and_run_instance(self, ctx: RequestContext, host: str, instance: dict, spec: dict) -> None:
        self._host(host).cast(ctx, "build_and_run_instance", instance=instance, spec=spec)

    def terminate_instance(self, ctx: RequestContext, host: str, instance: dict) -> None:
        self._host(host).cast(ctx, "terminate_instance", instance=instance)

    def power_action(self, ctx: RequestContext, host: str, instance: dict, action: str, **options) -> None:
        """stop, start, reboot, pause, unpause, suspend, resume (see compute.manager.ACTIONS)."""
        self._host(host).cast(ctx, "power_action", instance=instance, action=action, options=options)

    def set_admin_password(self, ctx: RequestContext, host: str, instance: dict, password: str) -> None:
        self._host(host).call(ctx, "set_admin_password", instance=instance, password=password)

    def trigger_crash_dump(self, ctx: RequestContext, host: str, instance: dict) -> None:
        self._host(host).cast(ctx, "trigger_crash_dump", instance=instance)

    def get_console_output(self, ctx: RequestContext, host: str, instance: dict, length: int | None) -> str:
        return self._host(host).call(ctx, "get_console_output", instance=instance, length=length)

    def get_host_uptime(self, ctx: RequestContext, host: str, timeout: float = 5.0) -> str:
        return self.client.prepare(server=host, timeout=timeout).call(ctx, "get_host_uptime")

    def ping(self, ctx: RequestContext, host: str, timeout: float = 5.0) -> dict:
        return self.client.prepare(server=host, timeout=timeout).call(ctx, "ping")
