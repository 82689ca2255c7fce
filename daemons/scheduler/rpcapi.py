"""How the conductor asks the scheduler for hosts."""

from __future__ import annotations

from ncloud.daemons.core import rpc
from ncloud.daemons.core.context import RequestContext

TOPIC = "scheduler"


class SchedulerAPI:
    def __init__(self, transport: rpc.Transport, timeout: float = 60.0):
        self.client = rpc.RPCClient(transport, TOPIC, timeout=timeout)

    def select_destinations(self, ctx: RequestContext, spec: dict, instance_uuids: list[str]) -> list[dict]:
        """Claim resources for each instance; a list of {host, node, provider_id} in the same order.

        Raises NoValidHost (with the reason per filter and resource) when one does not fit. Idempotent
        per instance, so a call whose reply was lost is asked again.
        """
        return self.client.call(ctx, "select_destinations", retries=2, spec=spec, instance_uuids=instance_uuids)
