"""/servers, /servers/detail and /servers/{id}: boot, list, show and delete servers.

What a boot does is api/boot.py, a delete api/delete.py, and how a list reads its query string
api/server_query.py: this module only routes and renders.
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api import boot, delete, policy, schemas, server_query, validation, views
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import instances
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport


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
        params, rows = server_query.list_servers(self.conf, self.db, req,
                                                 "os_compute_api:servers:index:get_all_tenants")
        body = {"servers": [views.server_summary(row, urls) for row in rows]}
        server_query.next_link(body, urls, "servers", params, rows, self.conf.api.max_limit)
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
        params, rows, page = server_query.list_servers(self.conf, self.db, req,
                                                       "os_compute_api:servers:detail:get_all_tenants", detail=True)
        zone, version = self.conf.default.default_availability_zone, req.context.version
        body = {"servers": [views.server_detail(row, urls, ctx, zone, version, page) for row in rows]}
        server_query.next_link(body, urls, "servers/detail", params, rows, self.conf.api.max_limit)
        resp.media = body


class Server(_Base):
    """GET, PUT and DELETE /servers/{id}."""

    def __init__(self, conf: Config, db: Database, transport: Transport):
        super().__init__(conf, db, transport)
        self.compute = ComputeAPI(transport)

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        with self.db.reader() as session:
            row = server_query.authorized(session, ctx, server_id, "os_compute_api:servers:show")
            page = server_query.page_of(session, [row], ctx, req.context.version,
                                        self.conf.default.service_down_time, with_groups=True)
        zone = self.conf.default.default_availability_zone
        resp.media = {"server": views.server_detail(row, self.urls(req), ctx, zone, req.context.version, page,
                                                    with_groups=True)}

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        """Rename, describe (2.19), set the hostname (2.90): database only, the guest is not told."""
        ctx: RequestContext = req.context.ctx
        version = req.context.version
        body = validation.read_json(req)
        schemas.SERVER_UPDATE.validate(version, body)
        changes = body["server"]
        updates = {column: changes[key] for key, column in (
            ("name", "display_name"), ("description", "description"), ("hostname", "hostname")) if key in changes}
        with self.db.writer() as session:
            row = server_query.authorized(session, ctx, server_id, "os_compute_api:servers:update")
            if updates:
                instances.update_state(session, server_id, updates)
                session.expire(row)
                row = instances.get(session, server_id)
            page = server_query.page_of(session, [row], ctx, version, self.conf.default.service_down_time,
                                        with_groups=True)
            zone = self.conf.default.default_availability_zone
            resp.media = {"server": views.server_updated(row, self.urls(req), ctx, zone, version, page)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        delete.delete(self.conf, self.db, self.compute, req.context.ctx, server_id)
        resp.status = 204
