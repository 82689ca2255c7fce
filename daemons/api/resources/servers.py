"""/servers, /servers/detail and /servers/{id}: boot, list, show and delete servers.

Listing is newest first (created_at, then id, both descending, as Nova sorts), paginated by
`limit` and `marker` with keyset conditions rather than offsets, so a page costs the same however
deep it is. A page of details is two queries: the instances, then the latest fault of those in
ERROR.
"""

from __future__ import annotations

import re

import falcon
from sqlalchemy import and_, false, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, load_only

from ncloud.daemons.api import boot, delete, policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import instances, servicegroup, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, InstanceTag, RequestSpec, Service
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport

VM_STATES = (states.ACTIVE, states.BUILDING, states.STOPPED, states.RESIZED, states.PAUSED, states.SUSPENDED,
             states.RESCUED, states.ERROR, states.DELETED, states.SOFT_DELETED, states.SHELVED,
             states.SHELVED_OFFLOADED)
# Task states that show through as their own status (REBOOT, HARD_REBOOT) on some vm states.
STATUS_TASKS = (states.REBOOTING, states.REBOOTING_HARD)


class _Base:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.transport = transport

    def urls(self, req: falcon.Request) -> views.Urls:
        return views.Urls.for_request(req, self.conf.api.public_endpoint)


class Servers(_Base):
    """GET /servers (id, name, links) and POST /servers (boot)."""

    def __init__(self, conf: Config, db: Database, transport: Transport):
        super().__init__(conf, db, transport)
        self.conductor = ConductorAPI(transport)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:servers:index")
        urls = self.urls(req)
        params, rows = _list(self.conf, self.db, req, "os_compute_api:servers:index:get_all_tenants")
        body = {"servers": [views.server_summary(row, urls) for row in rows]}
        _add_next_link(body, urls, "servers", params, rows, self.conf.api.max_limit)
        resp.media = body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:servers:create")
        body = validation.read_json(req)
        schemas.SERVER_CREATE.validate(req.context.version, body)
        created = boot.create(self.conf, self.db, self.conductor, req.context.ctx, body)
        resp.status = 202
        if created.return_reservation_id:
            resp.media = {"reservation_id": created.reservation_id}
            return
        urls = self.urls(req)
        resp.media = {"server": views.server_created(created.uuids[0], urls, created.admin_pass,
                                                     created.security_groups)}
        resp.set_header("Location", f"{urls.versioned}/servers/{created.uuids[0]}")


class ServersDetail(_Base):
    """GET /servers/detail: full server bodies, paginated like /servers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "os_compute_api:servers:detail")
        urls = self.urls(req)
        params, rows, page = _list(self.conf, self.db, req, "os_compute_api:servers:detail:get_all_tenants",
                                   detail=True)
        zone, version = self.conf.default.default_availability_zone, req.context.version
        body = {"servers": [views.server_detail(row, urls, ctx, zone, version, page) for row in rows]}
        _add_next_link(body, urls, "servers/detail", params, rows, self.conf.api.max_limit)
        resp.media = body


class Server(_Base):
    """GET /servers/{id} and DELETE /servers/{id}."""

    def __init__(self, conf: Config, db: Database, transport: Transport):
        super().__init__(conf, db, transport)
        self.compute = ComputeAPI(transport)

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.reader() as session:
            row = instances.get(session, server_id, project_id=None if ctx.is_admin else ctx.project_id)
            policy.authorize(ctx, "os_compute_api:servers:show", {"project_id": row.project_id})
            page = page_of(session, [row], ctx, req.context.version, self.conf.default.service_down_time)
        zone = self.conf.default.default_availability_zone
        resp.media = {"server": views.server_detail(row, self.urls(req), ctx, zone, req.context.version, page,
                                                    with_groups=True)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        delete.delete(self.conf, self.db, self.compute, req.context.ctx, server_id)
        resp.status = 204


# -- listing ---------------------------------------------------------------------------------

_LIST_COLUMNS = (Instance.id, Instance.uuid, Instance.display_name, Instance.created_at, Instance.vm_state)
_DETAIL_COLUMNS = _LIST_COLUMNS + (
    Instance.project_id, Instance.user_id, Instance.metadata_, Instance.host, Instance.node, Instance.image_ref,
    Instance.flavor, Instance.updated_at, Instance.progress, Instance.availability_zone, Instance.config_drive,
    Instance.key_name, Instance.launched_at, Instance.terminated_at, Instance.task_state, Instance.power_state,
    Instance.locked, Instance.locked_reason, Instance.description, Instance.trusted_certs, Instance.hostname,
    Instance.reservation_id, Instance.launch_index)


def page_of(session: Session, rows: list[Instance], ctx: RequestContext, version: APIVersion,
            down_time: float) -> views.ServerPage:
    """Everything server bodies at `version` show beyond the rows: one query per kind, none unasked."""
    page = views.ServerPage(
        extended=policy.allowed(ctx, "os_compute_api:os-extended-server-attributes"),
        show_host_status=version >= (2, 16) and policy.allowed(ctx, "os_compute_api:servers:show:host_status"),
        extra_specs=policy.allowed(ctx, "os_compute_api:os-flavor-extra-specs:index"))
    page.faults = instances.latest_faults(session, [row.uuid for row in rows if row.vm_state == states.ERROR])
    uuids = [row.uuid for row in rows]
    if version >= (2, 26) and uuids:
        for uuid, tag in session.execute(select(InstanceTag.instance_uuid, InstanceTag.tag)
                                         .where(InstanceTag.instance_uuid.in_(uuids)).order_by(InstanceTag.tag)):
            page.tags.setdefault(uuid, []).append(tag)
    hosts = {row.host for row in rows if row.host}
    if page.show_host_status and hosts:
        for service in session.scalars(select(Service).where(Service.host.in_(hosts),
                                                             Service.binary == COMPUTE_BINARY)):
            page.host_status[service.host] = (
                "MAINTENANCE" if service.disabled else "UP" if servicegroup.is_up(service, down_time) else "DOWN")
    if version >= (2, 98) and uuids:
        page.specs = dict(session.execute(select(RequestSpec.instance_uuid, RequestSpec.spec)
                                          .where(RequestSpec.instance_uuid.in_(uuids))).all())
    return page


def _list(conf: Config, db: Database, req: falcon.Request, all_tenants_rule: str, detail: bool = False):
    ctx: RequestContext = req.context.ctx
    params = validation.query(req)
    schemas.SERVER_LIST_QUERY.validate(params)
    limit = min(int(validation.last(params, "limit", str(conf.api.max_limit))), conf.api.max_limit)
    marker = validation.last(params, "marker")
    project_id = _project_scope(ctx, params, all_tenants_rule)

    # Only the columns the views show: parsing unused ones (user_data, ...) is most of a list's cost.
    columns = _DETAIL_COLUMNS if detail else _LIST_COLUMNS
    if detail and req.context.version >= (2, 3) and policy.allowed(ctx, "os_compute_api:os-extended-server-attributes"):
        columns += (Instance.user_data,)  # up to 64 KiB each: read only for those who see it
    query = select(Instance).options(load_only(*columns)).where(Instance.deleted.is_(False))
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    query = _filters(query, ctx, params)
    try:
        with db.reader() as session:
            if marker:
                query = query.where(_after(session, marker, project_id))
            rows = [] if limit == 0 else list(session.scalars(
                query.order_by(Instance.created_at.desc(), Instance.id.desc()).limit(limit)))
            if not detail:
                return params, rows
            return params, rows, page_of(session, rows, ctx, req.context.version, conf.default.service_down_time)
    except (sa_exc.ProgrammingError, sa_exc.DataError, sa_exc.OperationalError) as error:
        # A `name` that Python's re accepts but the database's regular expressions do not.
        if "name" in params and not error.connection_invalidated:
            raise Fault(400, f"Invalid regular expression for name: {validation.last(params, 'name')}") from None
        raise


def _project_scope(ctx: RequestContext, params: dict[str, list[str]], rule: str) -> str | None:
    """The project whose servers are listed; None for every project (admin, all_tenants)."""
    if "all_tenants" not in params:
        return ctx.project_id
    raw = validation.last(params, "all_tenants") or ""
    if raw and not validation.to_bool(raw, "all_tenants"):
        return ctx.project_id
    policy.authorize(ctx, rule)
    return validation.last(params, "tenant_id") or validation.last(params, "project_id")


def _filters(query, ctx: RequestContext, params: dict[str, list[str]]):
    name = validation.last(params, "name")
    if name:
        try:
            re.compile(name)
        except re.error as error:
            raise Fault(400, f"Invalid regular expression for name: {error}") from None
        query = query.where(Instance.display_name.regexp_match(name))
    if "status" in params:
        query = query.where(or_(*[_status_clause(status) for status in params["status"]]))
    for param, column in (("image", Instance.image_ref), ("reservation_id", Instance.reservation_id)):
        value = validation.last(params, param)
        if value:
            query = query.where(column == value)
    flavor = validation.last(params, "flavor")
    if flavor:
        query = query.where(Instance.flavor["flavorid"].as_string() == flavor)
    if ctx.is_admin:
        for param, column in (("host", Instance.host), ("node", Instance.node)):
            value = validation.last(params, param)
            if value:
                query = query.where(column == value)
    return query


def _status_clause(status: str):
    """The vm/task states that show as `status` (Nova's task_and_vm_state_from_status)."""
    status = status.upper()
    clauses = []
    for vm_state in VM_STATES:
        if states.status_of(vm_state, None) == status:
            hidden = [t for t in STATUS_TASKS if states.status_of(vm_state, t) != status]
            clause = Instance.vm_state == vm_state
            if hidden:
                clause = and_(clause, or_(Instance.task_state.is_(None), Instance.task_state.not_in(hidden)))
            clauses.append(clause)
        for task in STATUS_TASKS:
            if states.status_of(vm_state, task) == status and states.status_of(vm_state, None) != status:
                clauses.append(and_(Instance.vm_state == vm_state, Instance.task_state == task))
    return or_(*clauses) if clauses else false()  # an unknown status matches nothing, as in Nova


def _after(session: Session, marker: str, project_id: str | None):
    """Rows after the marker in (created_at, id) descending order."""
    query = select(Instance.created_at, Instance.id).where(Instance.uuid == marker)
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    found = session.execute(query).first()
    if found is None:
        raise Fault(400, f"Marker {marker} could not be found.")
    created_at, row_id = found
    return or_(Instance.created_at < created_at, and_(Instance.created_at == created_at, Instance.id < row_id))


def _add_next_link(body: dict, urls: views.Urls, path: str, params: dict, rows: list, max_limit: int) -> None:
    limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
    if limit and len(rows) == limit:
        body["servers_links"] = urls.next_link(path, params, rows[-1].uuid)
