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

    def get_console(self, ctx: RequestContext, host: str, instance: dict, console_type: str) -> dict:
        return self._host(host).call(ctx, "get_console", instance=instance, console_type=console_type)

    def get_diagnostics(self, ctx: RequestContext, host: str, instance: dict) -> dict:
        return self._host(host).call(ctx, "get_diagnostics", instance=instance)

    # moves (compute/moves.py); `migration` is a core.migrations dict
    def resize_instance(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "resize_instance", instance=instance, migration=migration)

    def finish_resize(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "finish_resize", instance=instance, migration=migration)

    def confirm_resize(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "confirm_resize", instance=instance, migration=migration)

    def revert_resize(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "revert_resize", instance=instance, migration=migration)

    def finish_revert_resize(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "finish_revert_resize", instance=instance, migration=migration)

    def pre_live_migration(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).call(ctx, "pre_live_migration", instance=instance, migration=migration)

    def live_migration(self, ctx: RequestContext, host: str, instance: dict, migration: dict) -> None:
        self._host(host).cast(ctx, "live_migration", instance=instance, migration=migration)

    def post_live_migration_at_destination(self, ctx: RequestContext, host: str, instance: dict, migration: dict,
                                           power_state: int) -> None:
        self._host(host).call(ctx, "post_live_migration_at_destination", instance=instance, migration=migration,
                              power_state=power_state)

    def rollback_live_migration_at_destination(self, ctx: RequestContext, host: str, instance: dict,
                                               migration: dict) -> None:
        self._host(host).cast(ctx, "rollback_live_migration_at_destination", instance=instance, migration=migration)

    def live_migration_abort(self, ctx: RequestContext, host: str, instance: dict) -> None:
        self._host(host).call(ctx, "live_migration_abort", instance=instance)

    def live_migration_force_complete(self, ctx: RequestContext, host: str, instance: dict) -> None:
        self._host(host).call(ctx, "live_migration_force_complete", instance=instance)

    def rebuild_instance(self, ctx: RequestContext, host: str, instance: dict, image: dict,
                         migration: dict | None, stopped: bool) -> None:
        """Rebuild in place, or (with `migration`) evacuate to this host."""
        self._host(host).cast(ctx, "rebuild_instance", instance=instance, image=image, migration=migration,
                              stopped=stopped)

    # images of servers (compute/snapshots.py)
    def snapshot_instance(self, ctx: RequestContext, host: str, instance: dict, image_id: str, task_state: str,
                          backup: dict | None = None) -> None:
        self._host(host).cast(ctx, "snapshot_instance", instance=instance, image_id=image_id, task_state=task_state,
                              backup=backup)

    def shelve_instance(self, ctx: RequestContext, host: str, instance: dict, image_id: str, offload: bool) -> None:
        self._host(host).cast(ctx, "shelve_instance", instance=instance, image_id=image_id, offload=offload)

    def shelve_offload_instance(self, ctx: RequestContext, host: str, instance: dict) -> None:
        self._host(host).cast(ctx, "shelve_offload_instance", instance=instance)

    def unshelve_instance(self, ctx: RequestContext, host: str, instance: dict, image: dict) -> None:
        self._host(host).cast(ctx, "unshelve_instance", instance=instance, image=image)

    def cache_images(self, ctx: RequestContext, host: str, images: list[dict]) -> None:
        self._host(host).cast(ctx, "cache_images", images=images)

    def get_host_uptime(self, ctx: RequestContext, host: str, timeout: float = 5.0) -> str:
        return self.client.prepare(server=host, timeout=timeout).call(ctx, "get_host_uptime")

    def ping(self, ctx: RequestContext, host: str, timeout: float = 5.0) -> dict:
        return self.client.prepare(server=host, timeout=timeout).call(ctx, "ping")
