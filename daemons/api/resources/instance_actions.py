"""/servers/{id}/os-instance-actions[/{request_id}]: what was done to a server, by whom, and how it went.

Per microversion: 2.21 a deleted server's actions stay readable; 2.51 everyone sees the events
(admins only before), tracebacks remain an admin's; 2.58 `updated_at`, paging by request id
(`limit`, `marker`) and `changes-since`; 2.62 an event's `hostId` (and `host` for admins);
2.66 `changes-before`; 2.84 an event's `details`. Newest first.
"""

from __future__ import annotations

import falcon
from sqlalchemy import func, select

from ncloud.daemons.api import paging, policy, schemas, server_query, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, InstanceAction, InstanceActionEvent
from ncloud.daemons.core.db.session import Database

_ORDER = [(InstanceAction.start_time, False), (InstanceAction.id, False)]


def _action(row: InstanceAction, version: APIVersion) -> dict:
    body = {"action": row.action, "instance_uuid": row.instance_uuid, "message": row.message,
            "project_id": row.project_id, "request_id": row.request_id, "start_time": views.strtime(row.start_time),
            "user_id": row.user_id}
    if version >= (2, 58):
        body["updated_at"] = views.strtime(row.updated_at or row.start_time)
    return body


def _event(row: InstanceActionEvent, instance: Instance, version: APIVersion, ctx: RequestContext) -> dict:
    body = {"event": row.event, "start_time": views.strtime(row.start_time),
            "finish_time": views.strtime(row.finish_time), "result": row.result}
    if policy.allowed(ctx, "os_compute_api:os-instance-actions:events:details"):
        body["traceback"] = row.traceback
    if version >= (2, 62):
        body["hostId"] = views.host_id(instance.project_id, row.host)
        if policy.allowed(ctx, "os_compute_api:os-instance-actions:events:details"):
            body["host"] = row.host or ""
    if version >= (2, 84):
        body["details"] = row.details
    return body


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def instance(self, session, req: falcon.Request, uuid: str, rule: str) -> Instance:
        return server_query.authorized(session, req.context.ctx, uuid, rule,
                                       include_deleted=req.context.version >= (2, 21))


class InstanceActions(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.INSTANCE_ACTIONS_QUERY.validate(version, params)
        query = select(InstanceAction).where(InstanceAction.instance_uuid == server_id)
        limit = None
        with self.db.reader() as session:
            self.instance(session, req, server_id, "os_compute_api:os-instance-actions:list")
            if version >= (2, 58):
                query = server_query.changes_window(
                    query, params, version, func.coalesce(InstanceAction.updated_at, InstanceAction.start_time))
                query, limit = paging.page(
                    session, query, _ORDER, params, self.conf.api.max_limit,
                    lambda marker: (InstanceAction.instance_uuid == server_id) & (InstanceAction.request_id == marker))
            rows = list(session.scalars(paging.ordered(query, _ORDER))) if limit != 0 else []
        body: dict = {"instanceActions": [_action(row, version) for row in rows]}
        if limit and len(rows) == limit:
            urls = views.Urls.for_request(req, self.conf.api.public_endpoint)
            body["links"] = urls.next_link(f"servers/{server_id}/os-instance-actions", params, rows[-1].request_id)
        resp.media = body


class InstanceActionItem(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, request_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        with self.db.reader() as session:
            instance = self.instance(session, req, server_id, "os_compute_api:os-instance-actions:show")
            action = session.scalars(select(InstanceAction).where(
                InstanceAction.instance_uuid == server_id, InstanceAction.request_id == request_id)
                .order_by(InstanceAction.id.desc())).first()
            if action is None:
                raise Fault(404, f"Action for request_id {request_id} on instance {server_id} not found")
            body = _action(action, version)
            if version >= (2, 51) or policy.allowed(ctx, "os_compute_api:os-instance-actions:events"):
                events = session.scalars(select(InstanceActionEvent).where(InstanceActionEvent.action_id == action.id)
                                         .order_by(InstanceActionEvent.id))
                body["events"] = [_event(event, instance, version, ctx) for event in events]
        resp.media = {"instanceAction": body}
