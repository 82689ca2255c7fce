"""/os-simple-tenant-usage: what each project's servers used between `start` and `end`.

A server counts for the part of the window it ran: from when it was launched (or the window's
start) to when it was terminated (or the window's end), in hours, times its VCPUs, RAM and disk.
Deleted servers count for the time they ran. `start` and `end` default to now, as in Nova. An
admin lists every project's totals (`detailed=1` adds each server); a project reads its own.
From 2.40 the servers are paged (`limit`, `marker`: a server's uuid) with `*_links`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import falcon
from sqlalchemy import or_, select

from ncloud.daemons.api import paging, policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.api.server_query import timestamp
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, utcnow
from ncloud.daemons.core.db.session import Database

_ORDER = [(Instance.id, True)]


def _server_usage(row: Instance, start: dt.datetime, stop: dt.datetime, now: dt.datetime) -> dict:
    began = max(row.launched_at, start)
    ended = min(row.terminated_at or stop, stop)
    hours = max(0.0, (ended - began).total_seconds() / 3600)
    return {
        "instance_id": row.uuid, "name": row.display_name, "tenant_id": row.project_id,
        "flavor": (row.flavor or {}).get("name", ""), "vcpus": row.vcpus, "memory_mb": row.memory_mb,
        "local_gb": row.root_gb + (row.ephemeral_gb or 0), "hours": hours,
        "started_at": views.strtime(row.launched_at), "ended_at": views.strtime(row.terminated_at),
        "state": "terminated" if row.deleted else row.vm_state,
        "uptime": int(((row.terminated_at or now) - row.launched_at).total_seconds()),
    }


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def usages(self, req: falcon.Request, project_id: str | None) -> tuple[dict[str, dict], list | None]:
        """({project: totals with its server usages}, the `*_links` when the page is full)."""
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.TENANT_USAGE_QUERY.validate(version, params)
        now = utcnow()
        start, stop = timestamp(params, "start") or now, timestamp(params, "end") or now
        if start > stop:
            raise Fault(400, "Invalid start time. The start time cannot occur after the end time.")
        query = select(Instance).where(Instance.launched_at.is_not(None), Instance.launched_at < stop,
                                       or_(Instance.terminated_at.is_(None), Instance.terminated_at > start))
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        limit = None
        with self.db.reader() as session:
            if version >= (2, 40):
                query, limit = paging.page(session, query, _ORDER, params, self.conf.api.max_limit,
                                           lambda marker: Instance.uuid == marker)
            rows = list(session.scalars(paging.ordered(query, _ORDER))) if limit != 0 else []
        totals: dict[str, dict] = defaultdict(lambda: {"server_usages": [], "total_hours": 0.0,
                                                       "total_vcpus_usage": 0.0, "total_memory_mb_usage": 0.0,
                                                       "total_local_gb_usage": 0.0})
        for row in rows:
            usage = _server_usage(row, start, stop, now)
            total = totals[row.project_id]
            total["server_usages"].append(usage)
            total["total_hours"] += usage["hours"]
            total["total_vcpus_usage"] += usage["hours"] * usage["vcpus"]
            total["total_memory_mb_usage"] += usage["hours"] * usage["memory_mb"]
            total["total_local_gb_usage"] += usage["hours"] * usage["local_gb"]
        for project, total in totals.items():
            total.update(tenant_id=project, start=views.strtime(start), stop=views.strtime(stop))
        links = None
        if limit and len(rows) == limit:
            urls = views.Urls.for_request(req, self.conf.api.public_endpoint)
            links = urls.next_link(req.path.split("/v2.1/", 1)[1], params, rows[-1].uuid)
        return totals, links


class TenantUsages(_Base):
    """GET /os-simple-tenant-usage (admin): every project's usage."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-simple-tenant-usage:list")
        totals, links = self.usages(req, None)
        detailed = validation.to_bool(req.get_param("detailed") or "0", "detailed")
        listed = []
        for total in totals.values():
            if not detailed:
                total = {key: value for key, value in total.items() if key != "server_usages"}
            listed.append(total)
        body: dict = {"tenant_usages": listed}
        if links:
            body["tenant_usages_links"] = links
        resp.media = body


class TenantUsage(_Base):
    """GET /os-simple-tenant-usage/{project_id}: one project's usage, each server's included."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "os_compute_api:os-simple-tenant-usage:show", {"project_id": project_id})
        totals, links = self.usages(req, project_id)
        body: dict = {"tenant_usage": totals.get(project_id) or {}}
        if links:
            body["tenant_usage_links"] = links
        resp.media = body

