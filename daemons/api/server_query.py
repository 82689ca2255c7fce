"""Listing servers: the query string of GET /servers and /servers/detail turned into one SQL query.

Nova's rules, per microversion:
- Filters. Everyone may filter by name (a regular expression), status, image, flavor,
  reservation_id, ip, changes-since and all_tenants; from 2.5 ip6, 2.26 the tag filters, 2.66
  changes-before, 2.73 locked, 2.83 availability_zone, config_drive, key_name, created_at,
  launched_at, terminated_at, power_state, task_state, vm_state, progress and user_id. Other
  filters are an admin's: for anyone else they are dropped, as Nova drops them.
- Unknown parameters are ignored until 2.75 and refused (400) from it; internal names (a leading
  "_", joined tables) are always refused. An unknown status is an empty list before 2.38 and a
  400 from it.
- Sorting by `sort_key`/`sort_dir` (repeatable), then created_at and id: newest first by
  default. host and node are admin-only sort keys; keys Nova used to ignore are ignored until 2.75.
- Paging by `limit` and `marker` with a keyset condition (api/paging.py).
- changes-since / changes-before include deleted servers, as in Nova (a client syncing its view
  must see deletions).
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import re

import falcon
from sqlalchemy import and_, exists, false, func, not_, null, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from ncloud.daemons.api import paging, policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import availability_zones, fixed_ips, instances, server_groups, servicegroup, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, InstanceTag, RequestSpec, Service
from ncloud.daemons.core.db.session import Database

EPOCH = dt.datetime(1970, 1, 1)
# What each sort key sorts by (NULLs as a fixed low value, so that the keyset condition and ORDER BY
# agree on every database). Attributes ncloud does not keep (access IPs, kernel, ...) are the same
# for every server: sorting by them is accepted and changes nothing.
SORT_KEYS = {
    "availability_zone": func.coalesce(Instance.availability_zone, ""), "config_drive": Instance.config_drive,
    "created_at": Instance.created_at, "display_description": func.coalesce(Instance.description, ""),
    "display_name": Instance.display_name, "host": func.coalesce(Instance.host, ""),
    "hostname": func.coalesce(Instance.hostname, ""), "image_ref": func.coalesce(Instance.image_ref, ""),
    "instance_type_id": func.coalesce(Instance.instance_type_id, -1), "key_name": func.coalesce(Instance.key_name, ""),
    "launch_index": Instance.launch_index, "launched_at": func.coalesce(Instance.launched_at, EPOCH),
    "locked_by": func.coalesce(Instance.locked_by, ""), "node": func.coalesce(Instance.node, ""),
    "power_state": Instance.power_state, "progress": Instance.progress, "project_id": Instance.project_id,
    "task_state": func.coalesce(Instance.task_state, ""), "terminated_at": func.coalesce(Instance.terminated_at, EPOCH),
    "updated_at": func.coalesce(Instance.updated_at, Instance.created_at), "user_id": Instance.user_id,
    "uuid": Instance.uuid, "vm_state": Instance.vm_state, "locked": Instance.locked,
}
ADMIN_SORT_KEYS = ("host", "node")

# Who may use which filter, by the version that opened it to everyone.
_USER_FILTERS = {
    (2, 1): ("reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants"),
    (2, 5): ("ip6",),
    (2, 26): ("tags", "tags-any", "not-tags", "not-tags-any"),
    (2, 66): ("changes-before",),
    (2, 73): ("locked",),
    (2, 83): ("availability_zone", "config_drive", "key_name", "created_at", "launched_at", "terminated_at",
              "power_state", "task_state", "vm_state", "progress", "user_id"),
}
_ALWAYS = ("limit", "marker", "sort_key", "sort_dir")
_JOINED_TABLES = ("block_device_mapping", "services", "metadata", "system_metadata", "info_cache",
                  "security_groups", "pci_devices")
# Matched as regular expressions (Nova's filters that are not exact).
_REGEX_COLUMNS = {
    "name": Instance.display_name, "display_name": Instance.display_name, "hostname": Instance.hostname,
    "key_name": Instance.key_name, "node": Instance.node, "reservation_id": Instance.reservation_id,
    "availability_zone": Instance.availability_zone, "description": Instance.description,
    "display_description": Instance.description, "locked_by": Instance.locked_by,
}
_EXACT_COLUMNS = {
    "user_id": Instance.user_id, "image": Instance.image_ref, "image_ref": Instance.image_ref,
    "vm_state": Instance.vm_state, "task_state": Instance.task_state, "host": Instance.host,
    "uuid": Instance.uuid,
}
_INTEGER_COLUMNS = {"launch_index": Instance.launch_index, "power_state": Instance.power_state,
                    "progress": Instance.progress}
_DATE_COLUMNS = {"created_at": Instance.created_at, "launched_at": Instance.launched_at,
                 "terminated_at": Instance.terminated_at}

LIST_COLUMNS = (Instance.id, Instance.uuid, Instance.display_name, Instance.created_at, Instance.vm_state)
DETAIL_COLUMNS = LIST_COLUMNS + (
    Instance.project_id, Instance.user_id, Instance.metadata_, Instance.host, Instance.node, Instance.image_ref,
    Instance.flavor, Instance.updated_at, Instance.progress, Instance.availability_zone, Instance.config_drive,
    Instance.key_name, Instance.launched_at, Instance.terminated_at, Instance.task_state, Instance.power_state,
    Instance.locked, Instance.locked_reason, Instance.description, Instance.trusted_certs, Instance.hostname,
    Instance.reservation_id, Instance.launch_index)


def allowed_filters(ctx: RequestContext, version: APIVersion) -> set[str] | None:
    """The filters this caller may use at this version; None means every one (an admin)."""
    if policy.allowed(ctx, "os_compute_api:servers:allow_all_filters"):
        return None
    return {name for since, names in _USER_FILTERS.items() if version >= since for name in names}


def list_servers(conf: Config, db: Database, req: falcon.Request, all_tenants_rule: str, detail: bool = False):
    """(params, rows) for GET /servers, (params, rows, page) for /servers/detail."""
    ctx: RequestContext = req.context.ctx
    version: APIVersion = req.context.version
    params = validation.query(req)
    schemas.SERVER_LIST_QUERY.validate(version, params)
    for name in params:
        if name.startswith("_") or name in _JOINED_TABLES:
            raise Fault(400, f"Invalid filter field: {name}.")
    permitted = allowed_filters(ctx, version)
    if permitted is not None:
        params = {name: values for name, values in params.items() if name in permitted or name in _ALWAYS}
    limit = min(int(validation.last(params, "limit", str(conf.api.max_limit))), conf.api.max_limit)
    marker = validation.last(params, "marker")
    project_id = _project_scope(ctx, params, all_tenants_rule)
    order = _order(ctx, version, params)

    # Only the columns the views show: parsing unused ones (user_data, ...) is most of a list's cost.
    columns = DETAIL_COLUMNS if detail else LIST_COLUMNS
    if detail and version >= (2, 3) and policy.allowed(ctx, "os_compute_api:os-extended-server-attributes"):
        columns += (Instance.user_data,)  # up to 64 KiB each: read only for those who see it
    # Plain rows of those columns, not ORM objects: a page of a thousand servers is built several
    # times faster without the identity map and instance state, and leaves less for the GC.
    query = select(*columns)
    with_specs = detail and version >= (2, 98)
    if with_specs:
        # The two request spec parts 2.98 and 2.100 show, joined here: a second query would name
        # every server of the page again.
        hints = RequestSpec.spec["scheduler_hints"] if version >= (2, 100) else null()
        query = query.add_columns(RequestSpec.spec["image"]["properties"].label("spec_image_properties"),
                                  hints.label("spec_scheduler_hints")).outerjoin(
            RequestSpec, RequestSpec.instance_uuid == Instance.uuid)
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    query = _filters(query, version, params)
    try:
        with db.reader() as session:
            if marker:
                marker_clause = Instance.uuid == marker
                if project_id is not None:
                    marker_clause = and_(marker_clause, Instance.project_id == project_id)
                condition = paging.after(session, order, marker_clause)
                if condition is None:
                    raise Fault(400, f"Marker {marker} could not be found.")
                query = query.where(condition)
            rows = [] if limit == 0 else _plain(session.execute(paging.ordered(query, order).limit(limit)))
            if not detail:
                return params, rows
            specs = {row.uuid: (row.spec_image_properties, row.spec_scheduler_hints) for row in rows} \
                if with_specs else None
            return params, rows, page_of(session, rows, ctx, version, conf.default.service_down_time, specs=specs)
    except (sa_exc.ProgrammingError, sa_exc.DataError, sa_exc.OperationalError) as error:
        # A regular expression Python's re accepts but the database's does not.
        used = next((name for name in _REGEX_COLUMNS if validation.last(params, name)), None)
        if used and not error.connection_invalidated:
            raise Fault(400, f"Invalid regular expression for {used}: {validation.last(params, used)}") from None
        raise


@functools.lru_cache(maxsize=32)
def _row_type(keys: tuple[str, ...]) -> type:
    return collections.namedtuple("ServerRow", keys)


def _plain(result) -> list:
    """The rows as named tuples: an attribute of SQLAlchemy's Row costs about 0.9 us to read, a
    named tuple's 0.05; a server body reads some thirty of them (a 1000-server page: 27 ms less)."""
    row_type = _row_type(tuple(result.keys()))
    return [row_type._make(row) for row in result]


def authorized(session: Session, ctx: RequestContext, uuid: str, rule: str, include_deleted: bool = False) -> Instance:
    """The server a request names, if the caller may apply `rule` to it: another project's
    server is not found (404) for anyone but an admin, as in Nova."""
    instance = instances.get(session, uuid, project_id=None if ctx.is_admin else ctx.project_id,
                             include_deleted=include_deleted)
    policy.authorize(ctx, rule, {"project_id": instance.project_id})
    return instance


def next_link(body: dict, urls: views.Urls, path: str, params: dict, rows: list, max_limit: int) -> None:
    limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
    if limit and len(rows) == limit:
        body["servers_links"] = urls.next_link(path, params, rows[-1].uuid)


def page_of(session: Session, rows: list[Instance], ctx: RequestContext, version: APIVersion,
            down_time: float, with_groups: bool = False,
            specs: dict[str, tuple[dict | None, dict | None]] | None = None) -> views.ServerPage:
    """Everything server bodies at `version` show beyond the rows: one query per kind, none unasked
    (`with_groups`: the 2.71 `server_groups` of show and update; `specs`: the request spec parts
    of 2.98 and 2.100 when the caller read them already, {uuid: (image properties, hints)})."""
    page = views.ServerPage(
        extended=policy.allowed(ctx, "os_compute_api:os-extended-server-attributes"),
        show_host_status=version >= (2, 16) and policy.allowed(ctx, "os_compute_api:servers:show:host_status"),
        extra_specs=policy.allowed(ctx, "os_compute_api:os-flavor-extra-specs:index"))
    page.faults = instances.latest_faults(session, [row.uuid for row in rows if row.vm_state == states.ERROR])
    uuids = [row.uuid for row in rows]
    page.addresses = {uuid: fixed_ips.addresses(found) for uuid, found in fixed_ips.of_servers(session, uuids).items()}
    if version >= (2, 26) and uuids:
        for uuid, tag in session.execute(select(InstanceTag.instance_uuid, InstanceTag.tag)
                                         .where(InstanceTag.instance_uuid.in_(uuids)).order_by(InstanceTag.tag)):
            page.tags.setdefault(uuid, []).append(tag)
    hosts = {row.host for row in rows if row.host}
    if any(row.host and not row.availability_zone for row in rows):
        page.host_zones = availability_zones.host_zones(session, list(hosts))
    if page.show_host_status and hosts:
        for service in session.scalars(select(Service).where(Service.host.in_(hosts),
                                                             Service.binary == COMPUTE_BINARY)):
            page.host_status[service.host] = (
                "MAINTENANCE" if service.disabled else "UP" if servicegroup.is_up(service, down_time) else "DOWN")
    if with_groups and version >= (2, 71):
        page.groups = server_groups.groups_of(session, uuids)
    if version >= (2, 98) and uuids:
        if specs is None:
            # Only the two parts shown, extracted by the database: a whole spec is ten times their size.
            hints = RequestSpec.spec["scheduler_hints"] if version >= (2, 100) else null()
            specs = {uuid: (properties, scheduler_hints) for uuid, properties, scheduler_hints in session.execute(
                select(RequestSpec.instance_uuid, RequestSpec.spec["image"]["properties"], hints)
                .where(RequestSpec.instance_uuid.in_(uuids)))}
        for uuid, (properties, scheduler_hints) in specs.items():
            page.image_properties[uuid] = properties or {}
            page.scheduler_hints[uuid] = scheduler_hints or {}
    return page


def _project_scope(ctx: RequestContext, params: dict[str, list[str]], rule: str) -> str | None:
    """The project whose servers are listed; None for every project (admin, all_tenants)."""
    if "all_tenants" not in params:
        return ctx.project_id
    raw = validation.last(params, "all_tenants") or ""
    if raw and not validation.to_bool(raw, "all_tenants"):
        return ctx.project_id
    policy.authorize(ctx, rule)
    return validation.last(params, "tenant_id") or validation.last(params, "project_id")


def _order(ctx: RequestContext, version: APIVersion, params: dict[str, list[str]]) -> list[tuple]:
    keys, dirs = params.get("sort_key", []), params.get("sort_dir", [])
    if len(dirs) > max(len(keys), 1):
        raise Fault(400, "Sort direction size exceeds sort key size")
    pairs = []
    for index, key in enumerate(keys):
        direction = dirs[index] if index < len(dirs) else (dirs[0] if dirs else "desc")
        if direction not in ("asc", "desc"):
            raise Fault(400, f"Invalid sort direction: {direction}. It should be asc or desc.")
        if key not in SORT_KEYS or (key == "locked" and version < (2, 73)):
            continue  # a key the schema admits but that sorts nothing: ignored, as Nova ignores it
        if key in ADMIN_SORT_KEYS and not policy.allowed(ctx, "os_compute_api:servers:allow_all_filters"):
            raise Fault(403, f"Only administrators can sort servers by {key}")
        pairs.append((key, direction == "asc"))
    default_ascending = (dirs[0] == "asc") if dirs else False
    named = {key for key, _ in pairs}
    pairs += [(key, default_ascending) for key in ("created_at",) if key not in named]
    return [(SORT_KEYS[key], ascending) for key, ascending in pairs] + [(Instance.id, default_ascending)]


def _filters(query, version: APIVersion, params: dict[str, list[str]]):
    since, before = timestamp(params, "changes-since"), timestamp(params, "changes-before")
    if since and before and since > before:
        raise Fault(400, f"The value of changes-since ({since.isoformat()}) must be earlier than or equal to "
                         f"the value of changes-before ({before.isoformat()}).")
    updated = func.coalesce(Instance.updated_at, Instance.created_at)
    if since:
        query = query.where(updated >= since)
    if before:
        query = query.where(updated <= before)
    deleted = validation.last(params, "deleted")
    if deleted is not None and validation.to_bool(deleted, "deleted"):
        query = query.where(Instance.deleted.is_(True))
    elif not (since or before):
        query = query.where(Instance.deleted.is_(False))
    for name, column in _REGEX_COLUMNS.items():
        value = validation.last(params, name)
        if value:
            try:
                re.compile(value)
            except re.error as error:
                raise Fault(400, f"Invalid regular expression for {name}: {error}") from None
            query = query.where(column.regexp_match(value))
    for name, column in _EXACT_COLUMNS.items():
        if name in params:
            query = query.where(column.in_(params[name]))
    for name, column in _INTEGER_COLUMNS.items():
        if name in params:
            if not all(re.fullmatch(r"-?[0-9]{1,9}", value) for value in params[name]):
                raise Fault(400, f"Invalid {name} value: {validation.last(params, name)}")
            query = query.where(column.in_([int(value) for value in params[name]]))
    for name, column in _DATE_COLUMNS.items():
        value = timestamp(params, name)
        if value:
            query = query.where(column == value)
    flavor = validation.last(params, "flavor")
    if flavor:
        query = query.where(Instance.flavor["flavorid"].as_string() == flavor)
    for name, column in (("config_drive", Instance.config_drive), ("locked", Instance.locked)):
        value = validation.last(params, name)
        if value:
            query = query.where(column.is_(validation.to_bool(value, name)))
    if "status" in params:
        clauses = [_status_clause(status) for status in params["status"]]
        if version >= (2, 38) and any(clause is None for clause in clauses):
            raise Fault(400, "Invalid status value")
        query = query.where(or_(*[clause if clause is not None else false() for clause in clauses]))
    if "ip" in params or "ip6" in params:
        query = query.where(false())  # no server has an address until ncloud has networking
    return _tag_filters(query, params)


def _tag_filters(query, params: dict[str, list[str]]):
    def tags(name: str) -> list[str]:
        value = validation.last(params, name)
        return [tag for tag in value.split(",") if tag] if value else []

    def tagged(tag: str):
        return exists().where(InstanceTag.instance_uuid == Instance.uuid, InstanceTag.tag == tag)

    if tags("tags"):
        query = query.where(and_(*[tagged(tag) for tag in tags("tags")]))
    if tags("tags-any"):
        query = query.where(or_(*[tagged(tag) for tag in tags("tags-any")]))
    if tags("not-tags"):
        query = query.where(not_(and_(*[tagged(tag) for tag in tags("not-tags")])))
    if tags("not-tags-any"):
        query = query.where(not_(or_(*[tagged(tag) for tag in tags("not-tags-any")])))
    return query


def timestamp(params: dict[str, list[str]], name: str) -> dt.datetime | None:
    """An ISO 8601 time (the schema checked its form) as naive UTC, as the database stores times."""
    value = validation.last(params, name)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Fault(400, f"Invalid {name} value: {value}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def changes_window(query, params: dict[str, list[str]], version: APIVersion, updated):
    """`changes-since` (and from 2.66 `changes-before`) on `updated`, a record's last change."""
    since, before = timestamp(params, "changes-since"), timestamp(params, "changes-before")
    if since and before and since > before:
        raise Fault(400, "The value of changes-since must be earlier than or equal to the value of changes-before.")
    if since:
        query = query.where(updated >= since)
    if before and version >= (2, 66):
        query = query.where(updated <= before)
    return query


def _status_clause(status: str):
    """The vm/task states that show as `status` (Nova's task_and_vm_state_from_status); None for
    a status no server can have."""
    status = status.upper()
    clauses = []
    for vm_state in states.VM_STATES:
        if states.status_of(vm_state, None) == status:
            hidden = [t for t in states.STATUS_TASKS if states.status_of(vm_state, t) != status]
            clause = Instance.vm_state == vm_state
            if hidden:
                clause = and_(clause, or_(Instance.task_state.is_(None), Instance.task_state.not_in(hidden)))
            clauses.append(clause)
        for task in states.STATUS_TASKS:
            if states.status_of(vm_state, task) == status and states.status_of(vm_state, None) != status:
                clauses.append(and_(Instance.vm_state == vm_state, Instance.task_state == task))
    return or_(*clauses) if clauses else None
