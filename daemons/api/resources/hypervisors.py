"""GET /os-hypervisors, /os-hypervisors/detail and /os-hypervisors/{id} (admin).

A hypervisor is a row of `compute_nodes`; whether it is up and enabled comes from its host's
`ncloud-compute` service, and its capacity and usage from its resource provider (same uuid as the
node, or failing that the same name), the figures the scheduler claims against. Used memory and
disk include what the provider reserves for the host, as Nova counts them. A page is a fixed
handful of queries however many nodes there are.
"""

from __future__ import annotations

import falcon
from sqlalchemy import func, or_, select

from ncloud.daemons.api import policy, schemas, validation
from ncloud.daemons.api import views as api_views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import placement, servicegroup
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import ComputeNode, Instance, ResourceProvider, Service, utcnow
from ncloud.daemons.core.db.session import Database


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def render(self, nodes: list[ComputeNode], session, detail: bool) -> list[dict]:
        hosts = {node.host for node in nodes}
        services = {row.host: row for row in session.scalars(
            select(Service).where(Service.binary == COMPUTE_BINARY, Service.host.in_(hosts)))} if hosts else {}
        now = utcnow()
        down_time = self.conf.default.service_down_time

        def up(node: ComputeNode) -> bool:
            service = services.get(node.host)
            return service is not None and servicegroup.is_up(service, down_time, now)

        if not detail:
            return [api_views.hypervisor_summary(node, services.get(node.host), up(node)) for node in nodes]
        capacities = _capacities(session, nodes)
        return [api_views.hypervisor_detail(node, services.get(node.host), up(node), capacities[node.id])
                for node in nodes]

    def page(self, req: falcon.Request, detail: bool) -> list[dict]:
        params = validation.query(req)
        schemas.HYPERVISOR_LIST_QUERY.validate(params)
        max_limit = self.conf.api.max_limit
        limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
        marker = validation.last(params, "marker")
        query = select(ComputeNode).order_by(ComputeNode.id)
        if marker:
            marker_id = validation.integer_id(marker)
            if marker_id is None:
                raise Fault(400, f"Marker {marker} could not be found.")
            query = query.where(ComputeNode.id > marker_id)
        with self.db.reader() as session:
            nodes = list(session.scalars(query.limit(limit))) if limit else []
            return self.render(nodes, session, detail)


class Hypervisors(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:list")
        resp.media = {"hypervisors": self.page(req, detail=False)}


class HypervisorsDetail(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:list-detail")
        resp.media = {"hypervisors": self.page(req, detail=True)}


class Hypervisor(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:show")
        with self.db.reader() as session:
            node_id = validation.integer_id(hypervisor_id)
            node = session.get(ComputeNode, node_id) if node_id is not None else None
            if node is None:
                raise Fault(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
            resp.media = {"hypervisor": self.render([node], session, detail=True)[0]}


def _capacities(session, nodes: list[ComputeNode]) -> dict[int, dict]:
    """Totals, usage and free space per node, from placement, in three queries."""
    providers = list(session.execute(
        select(ResourceProvider.id, ResourceProvider.uuid, ResourceProvider.name).where(or_(
            ResourceProvider.uuid.in_([n.uuid for n in nodes]),
            ResourceProvider.name.in_([n.hypervisor_hostname for n in nodes])))))
    by_uuid = {row.uuid: row.id for row in providers}
    by_name = {row.name: row.id for row in providers}
    provider_ids = list({row.id for row in providers})
    inventories = placement.inventories(session, provider_ids) if provider_ids else {}
    usages = placement.usages(session, provider_ids) if provider_ids else {}
    running = dict(session.execute(
        select(Instance.node, func.count()).where(Instance.deleted.is_(False),
                                                  Instance.node.in_([n.hypervisor_hostname for n in nodes]))
        .group_by(Instance.node)).all())
    result = {}
    for node in nodes:
        provider_id = by_uuid.get(node.uuid, by_name.get(node.hypervisor_hostname))
        inventory = inventories.get(provider_id, {}) if provider_id is not None else {}
        used = usages.get(provider_id, {}) if provider_id is not None else {}
        result[node.id] = _capacity(node, inventory, used, running.get(node.hypervisor_hostname, 0))
    return result


def _capacity(node: ComputeNode, inventory: dict, used: dict, running_vms: int) -> dict:
    def total(rc: str, fallback: int) -> int:
        return inventory[rc].total if rc in inventory else fallback

    def reserved(rc: str) -> int:
        return inventory[rc].reserved if rc in inventory else 0

    memory_mb = total(placement.MEMORY_MB, node.memory_mb)
    local_gb = total(placement.DISK_GB, node.local_gb)
    memory_used = used.get(placement.MEMORY_MB, 0) + reserved(placement.MEMORY_MB)
    disk_used = used.get(placement.DISK_GB, 0) + reserved(placement.DISK_GB)
    return {
        "vcpus": total(placement.VCPU, node.vcpus),
        "memory_mb": memory_mb,
        "local_gb": local_gb,
        "vcpus_used": used.get(placement.VCPU, 0),
        "memory_mb_used": memory_used,
        "local_gb_used": disk_used,
        "free_ram_mb": memory_mb - memory_used,
        "free_disk_gb": local_gb - disk_used,
        "running_vms": running_vms,
        "disk_available_least": local_gb - disk_used,
    }
