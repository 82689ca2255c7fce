"""What the scheduler knows of each compute node during one scheduling pass.

Loaded in four queries (nodes with their services, then the providers' generations, inventories
and usage sums), never one query per host: the candidate list must stay cheap with hundreds of
hosts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import availability_zones, placement, servicegroup
from ncloud.daemons.core.db.models import ComputeNode, ResourceProvider, Service, utcnow
from ncloud.daemons.core.db.session import Database


@dataclass
class HostState:
    host: str
    nodename: str
    provider_id: int
    availability_zone: str
    service_up: bool
    service_disabled: bool
    # The provider as last read (or as our own last claim left it): claims are checked against it.
    provider: placement.ProviderSnapshot

    @property
    def inventory(self) -> dict[str, placement.InventoryRecord]:
        return self.provider.inventory

    @property
    def usage(self) -> dict[str, int]:
        return self.provider.usage

    def free(self, resource_class: str) -> int:
        record = self.inventory.get(resource_class)
        if record is None:
            return 0
        return record.capacity - self.usage.get(resource_class, 0)


def load(db: Database, service_down_time: float, default_az: str) -> list[HostState]:
    with db.reader() as session:
        rows = session.execute(
            select(ComputeNode.host, ComputeNode.hypervisor_hostname, ResourceProvider.id, Service.last_seen_up,
                   Service.forced_down, Service.disabled)
            .join(ResourceProvider, ResourceProvider.uuid == ComputeNode.uuid)
            .join(Service, (Service.host == ComputeNode.host) & (Service.binary == COMPUTE_BINARY))
        ).all()
        providers = placement.snapshots(session, [row[2] for row in rows])
        zones = availability_zones.host_zones(session)
    now = utcnow()
    return [HostState(host=host, nodename=nodename, provider_id=provider_id,
                      availability_zone=zones.get(host, default_az),
                      service_up=servicegroup.alive(last_seen_up, forced_down, service_down_time, now),
                      service_disabled=disabled, provider=providers[provider_id])
            for host, nodename, provider_id, last_seen_up, forced_down, disabled in rows
            if provider_id in providers]
