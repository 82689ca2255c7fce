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

    def build_failed(self, ctx: RequestContext, uuid: str, host: str, reason: str, details: str = "") -> None:
        self.client.cast(ctx, "build_failed", uuid=uuid, host=host, reason=reason, details=details)

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
