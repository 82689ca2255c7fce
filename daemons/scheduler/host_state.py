"""What the scheduler knows of each compute node during one scheduling pass.

Loaded in a handful of queries (nodes with their services, inventories, usage sums), never one
query per host: the candidate list must stay cheap with hundreds of hosts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ncloud.daemons.core import placement, servicegroup
from ncloud.daemons.core.db.models import ComputeNode, ResourceProvider, Service
from ncloud.daemons.core.db.session import Database

COMPUTE_BINARY = "ncloud-compute"


@dataclass
class HostState:
    host: str
    nodename: str
    provider_id: int
    availability_zone: str
    service_up: bool
    service_disabled: bool
    inventory: dict[str, placement.InventoryRecord] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    def free(self, resource_class: str) -> int:
        record = self.inventory.get(resource_class)
        if record is None:
            return 0
        return record.capacity - self.usage.get(resource_class, 0)

    def consume(self, resources: dict[str, int]) -> None:
        """Account a claim just made, so the rest of a multi-server request sees it."""
        for rc, amount in resources.items():
            self.usage[rc] = self.usage.get(rc, 0) + amount


def load(db: Database, service_down_time: float, default_az: str) -> list[HostState]:
    with db.reader() as session:
        rows = session.execute(
            select(ComputeNode.host, ComputeNode.hypervisor_hostname, ResourceProvider.id, Service)
            .join(ResourceProvider, ResourceProvider.uuid == ComputeNode.uuid)
            .join(Service, (Service.host == ComputeNode.host) & (Service.binary == COMPUTE_BINARY))
        ).all()
        provider_ids = [row[2] for row in rows]
        inventories = placement.inventories(session, provider_ids)
        usages = placement.usages(session, provider_ids)
    return [HostState(host=host, nodename=nodename, provider_id=provider_id, availability_zone=default_az,
                      service_up=servicegroup.is_up(service, service_down_time),
                      service_disabled=service.disabled,
                      inventory=inventories.get(provider_id, {}), usage=dict(usages.get(provider_id, {})))
            for host, nodename, provider_id, service in rows]
