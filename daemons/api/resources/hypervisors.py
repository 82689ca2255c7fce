"""GET /os-hypervisors, /os-hypervisors/detail and /os-hypervisors/{id} (admin).

A hypervisor is a row of `compute_nodes`; whether it is up and enabled comes from its host's
`ncloud-compute` service, and its capacity and usage from its resource provider (same uuid as the
node, or failing that the same name), the figures the scheduler claims against. Used memory and
disk include what the provider reserves for the host, as Nova counts them. A page is a fixed
handful of queries however many nodes there are; from 2.88, which shows each host's uptime instead
of its figures, also one RPC call per node that is up.

Per microversion: 2.28 `cpu_info` as an object; 2.33 paging; 2.53 uuids as ids, `with_servers`
and `hypervisor_hostname_pattern`; 2.75 `servers` even when empty; 2.88 `uptime` for the figures.
"""

from __future__ import annotations

import logging

import falcon
from sqlalchemy import func, or_, select

from ncloud.daemons.api import policy, schemas, validation
from ncloud.daemons.api import views as api_views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import exception, placement, servicegroup
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import ComputeNode, Instance, ResourceProvider, Service, utcnow
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport

LOG = logging.getLogger(__name__)
UPTIME_TIMEOUT = 5.0  # seconds a compute gets to tell its uptime


class _Base:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.compute = ComputeAPI(transport)

    def render(self, req: falcon.Request, nodes: list[ComputeNode], session, detail: bool,
               with_servers: bool) -> list[dict]:
        version: APIVersion = req.context.version
        hosts = {node.host for node in nodes}
        services = {row.host: row for row in session.scalars(
            select(Service).where(Service.binary == COMPUTE_BINARY, Service.host.in_(hosts)))} if hosts else {}
        now = utcnow()
        down_time = self.conf.default.service_down_time

        def up(node: ComputeNode) -> bool:
            service = services.get(node.host)
            return service is not None and servicegroup.is_up(service, down_time, now)

        servers = _servers(session, nodes) if with_servers else {}

        def servers_of(node: ComputeNode) -> list[dict] | None:
            return servers.get(node.hypervisor_hostname, []) if with_servers else None

        if not detail:
            return [api_views.hypervisor_summary(node, services.get(node.host), up(node), version, servers_of(node))
                    for node in nodes]
        capacities = _capacities(session, nodes) if version < (2, 88) else {}
        return [api_views.hypervisor_detail(node, services.get(node.host), up(node), capacities.get(node.id, {}),
                                            version, servers_of(node)) for node in nodes]

    def add_uptimes(self, req: falcon.Request, nodes: list[ComputeNode], bodies: list[dict]) -> None:
        """From 2.88, each up host's uptime, asked of its compute service (None when it does not
        answer in time). Called after the database transaction: RPC calls hold no connection."""
        for node, body in zip(nodes, bodies, strict=True):
            if "uptime" not in body or body["state"] != "up":
                continue
            try:
                body["uptime"] = self.compute.get_host_uptime(req.context.ctx, node.host, timeout=UPTIME_TIMEOUT)
            except exception.NcloudError as error:  # no answer in time, or a driver that cannot tell
                LOG.warning("no uptime from %s: %s", node.host, error)

    def page(self, req: falcon.Request, detail: bool) -> dict:
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.HYPERVISOR_LIST_QUERY.validate(version, params)
        query = select(ComputeNode).order_by(ComputeNode.id)
        pattern = validation.last(params, "hypervisor_hostname_pattern")
        if pattern is not None:
            if "limit" in params or "marker" in params:
                raise Fault(400, "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is "
                                 "not supported.")
            query = query.where(ComputeNode.hypervisor_hostname.contains(pattern, autoescape=True))
        # Paging from 2.33 (by id, by uuid from 2.53); before, every node in one answer.
        limit = None
        with self.db.reader() as session:
            if version >= (2, 33):
                max_limit = self.conf.api.max_limit
                limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
                marker = validation.last(params, "marker")
                if marker:
                    query = query.where(ComputeNode.id > _marker_id(session, marker, version))
                query = query.limit(limit)
            nodes = list(session.scalars(query)) if limit != 0 else []
            if pattern is not None and not nodes:
                raise Fault(404, f"No hypervisor matching '{pattern}' could be found.")
            bodies = self.render(req, nodes, session, detail, _with_servers(version, params))
        if detail:
            self.add_uptimes(req, nodes, bodies)
        body: dict = {"hypervisors": bodies}
        if limit and len(nodes) == limit:
            urls = api_views.Urls.for_request(req, self.conf.api.public_endpoint)
            last = nodes[-1].uuid if version >= (2, 53) else str(nodes[-1].id)
            body["hypervisors_links"] = urls.next_link("os-hypervisors/detail" if detail else "os-hypervisors",
                                                       params, last)
        return body


class Hypervisors(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:list")
        resp.media = self.page(req, detail=False)


class HypervisorsDetail(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:list-detail")
        resp.media = self.page(req, detail=True)


class Hypervisor(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-hypervisors:show")
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.HYPERVISOR_SHOW_QUERY.validate(version, params)
        with self.db.reader() as session:
            node = _node(session, hypervisor_id, version)
            if node is None:
                raise Fault(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
            bodies = self.render(req, [node], session, True, _with_servers(version, params))
        self.add_uptimes(req, [node], bodies)
        resp.media = {"hypervisor": bodies[0]}


def _with_servers(version: APIVersion, params: dict[str, list[str]]) -> bool:
    return version >= (2, 53) and validation.to_bool(validation.last(params, "with_servers", "false"), "with_servers")


def _node(session, ident: str, version: APIVersion) -> ComputeNode | None:
    """A node by its public id: the row id before 2.53, the uuid from 2.53."""
    if version >= (2, 53):
        return session.scalars(select(ComputeNode).where(ComputeNode.uuid == ident)).first()
    node_id = validation.integer_id(ident)
    return session.get(ComputeNode, node_id) if node_id is not None else None


def _marker_id(session, marker: str, version: APIVersion) -> int:
    node = _node(session, marker, version)
    if node is None:
        raise Fault(400, f"Marker {marker} could not be found.")
    return node.id


def _servers(session, nodes: list[ComputeNode]) -> dict[str, list[dict]]:
    """`with_servers`: each node's servers as {uuid, name}, in one query."""
    found: dict[str, list[dict]] = {}
    for node, uuid, name in session.execute(
            select(Instance.node, Instance.uuid, Instance.display_name)
            .where(Instance.deleted.is_(False), Instance.node.in_([n.hypervisor_hostname for n in nodes]))
            .order_by(Instance.id)):
        found.setdefault(node, []).append({"uuid": uuid, "name": name})
    return found


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
