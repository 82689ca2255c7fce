"""How other daemons talk to the conductor: the only path from compute hosts to the database."""

from __future__ import annotations

from ncloud.daemons.core import rpc
from ncloud.daemons.core.context import RequestContext

TOPIC = "conductor"
# Compute hosts ask again when a reply is lost (a broker restart): every call below is idempotent,
# the conductor counting an update that is already in place as done.
RETRIES = 3


class ConductorAPI:
    def __init__(self, transport: rpc.Transport, timeout: float = 60.0):
        self.client = rpc.RPCClient(transport, TOPIC, timeout=timeout)

    # builds
    def build_instances(self, ctx: RequestContext, instance_uuids: list[str], instances: list[dict] | None = None,
                        spec: dict | None = None) -> None:
        """`instances`/`spec`: what the caller has just written, so the conductor need not read it."""
        extra = {"instances_": instances, "spec": spec} if instances is not None else {}
        self.client.cast(ctx, "build_instances", instance_uuids=instance_uuids, **extra)

    def group_policy_violation(self, ctx: RequestContext, uuid: str, host: str, group: dict) -> str | None:
        return self.client.call(ctx, "group_policy_violation", retries=RETRIES, uuid=uuid, host=host, group=group)

    def network_info(self, ctx: RequestContext, uuid: str) -> dict | None:
        """The server's fixed IP, MAC and network (core/fixed_ips.py); None when it has no NIC."""
        return self.client.call(ctx, "network_info", retries=RETRIES, uuid=uuid)

    def build_failed(self, ctx: RequestContext, uuid: str, host: str, reason: str, details: str = "",
                     wait: bool = False) -> None:
        """`wait`: return once the conductor took the build back (a compute reconciling at start)."""
        if wait:
            self.client.call(ctx, "build_failed", retries=RETRIES, uuid=uuid, host=host, reason=reason,
                             details=details)
        else:
            self.client.cast(ctx, "build_failed", uuid=uuid, host=host, reason=reason, details=details)

    # moves between hosts (conductor/moves.py): started by the API, then reported by the hosts
    def migrate_server(self, ctx: RequestContext, uuid: str, migration_uuid: str) -> None:
        self.client.cast(ctx, "migrate_server", uuid=uuid, migration_uuid=migration_uuid)

    def live_migrate(self, ctx: RequestContext, uuid: str, migration_uuid: str, wait: bool = False) -> str | None:
        """`wait`: answer once the move started or failed to (before 2.34 the API said why at once)."""
        if wait:
            return self.client.call(ctx, "live_migrate", uuid=uuid, migration_uuid=migration_uuid)
        self.client.cast(ctx, "live_migrate", uuid=uuid, migration_uuid=migration_uuid)
        return None

    def evacuate_server(self, ctx: RequestContext, uuid: str, migration_uuid: str, image: dict) -> None:
        self.client.cast(ctx, "evacuate_server", uuid=uuid, migration_uuid=migration_uuid, image=image)

    def move_failed(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str, step: str, reason: str,
                    aborted: bool = False) -> None:
        self.client.call(ctx, "move_failed", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid, host=host,
                         step=step, reason=reason, aborted=aborted)

    def resize_migrated(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        self.client.call(ctx, "resize_migrated", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host)

    def resize_finished(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                        power_state: int) -> None:
        self.client.call(ctx, "resize_finished", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host, power_state=power_state)

    def resize_confirmed(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        self.client.call(ctx, "resize_confirmed", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host)

    def resize_reverted_at_dest(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        self.client.call(ctx, "resize_reverted_at_dest", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host)

    def resize_reverted(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                        power_state: int) -> None:
        self.client.call(ctx, "resize_reverted", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host, power_state=power_state)

    def live_migrated(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                      power_state: int) -> None:
        self.client.call(ctx, "live_migrated", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host, power_state=power_state)

    def rebuild_finished(self, ctx: RequestContext, uuid: str, migration_uuid: str | None, host: str,
                         power_state: int, error: str | None = None) -> None:
        self.client.call(ctx, "rebuild_finished", retries=RETRIES, uuid=uuid, migration_uuid=migration_uuid,
                         host=host, power_state=power_state, error=error)

    def evacuated_from(self, ctx: RequestContext, host: str) -> list[dict]:
        return self.client.call(ctx, "evacuated_from", retries=RETRIES, host=host)

    def migrations_in_progress(self, ctx: RequestContext, host: str) -> list[dict]:
        return self.client.call(ctx, "migrations_in_progress", retries=RETRIES, host=host)

    def evacuation_cleaned(self, ctx: RequestContext, migration_uuid: str) -> None:
        self.client.call(ctx, "evacuation_cleaned", retries=RETRIES, migration_uuid=migration_uuid)

    # shelved servers (conductor/shelving.py)
    def unshelve_instance(self, ctx: RequestContext, uuid: str, zone: str | None = None,
                          host: str | None = None) -> None:
        self.client.cast(ctx, "unshelve_instance", uuid=uuid, zone=zone, host=host)

    def instance_offloaded(self, ctx: RequestContext, uuid: str, host: str) -> None:
        self.client.call(ctx, "instance_offloaded", retries=RETRIES, uuid=uuid, host=host)

    def unshelve_failed(self, ctx: RequestContext, uuid: str, host: str | None, reason: str) -> None:
        self.client.call(ctx, "unshelve_failed", retries=RETRIES, uuid=uuid, host=host, reason=reason)

    # instance records
    def instance_update(self, ctx: RequestContext, uuid: str, updates: dict, expected: dict | None = None) -> bool:
        return self.client.call(ctx, "instance_update", retries=RETRIES, uuid=uuid, updates=updates,
                                expected=expected or {})

    def instance_built(self, ctx: RequestContext, uuid: str, host: str, power_state: int) -> bool:
        return self.client.call(ctx, "instance_built", retries=RETRIES, uuid=uuid, host=host, power_state=power_state)

    def instance_destroyed(self, ctx: RequestContext, uuid: str, host: str) -> None:
        self.client.call(ctx, "instance_destroyed", retries=RETRIES, uuid=uuid, host=host)

    def action_finished(self, ctx: RequestContext, uuid: str, host: str, event: str, updates: dict,
                        expected: dict, error: str | None = None) -> bool:
        return self.client.call(ctx, "action_finished", retries=RETRIES, uuid=uuid, host=host, event=event,
                                updates=updates, expected=expected, error=error)

    def instances_on_host(self, ctx: RequestContext, host: str) -> list[dict]:
        return self.client.call(ctx, "instances_on_host", retries=RETRIES, host=host)

    # services and inventory
    def service_register(self, ctx: RequestContext, host: str, binary: str, topic: str) -> dict:
        return self.client.call(ctx, "service_register", retries=RETRIES, host=host, binary=binary, topic=topic)

    def service_heartbeat(self, ctx: RequestContext, host: str, binary: str) -> None:
        self.client.cast(ctx, "service_heartbeat", host=host, binary=binary)

    def compute_node_update(self, ctx: RequestContext, host: str, node: dict, inventory: dict) -> None:
        self.client.call(ctx, "compute_node_update", retries=RETRIES, host=host, node=node, inventory=inventory)
