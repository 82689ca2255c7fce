"""The Compute API as a WSGI application: `create_app(conf, db, transport)`.

This module only wires things together: middleware (request id, authentication, microversion
headers), Nova-shaped error handling, and the route table. Resources live one per module under
`resources/`; what a server boot or delete does lives in `boot.py` and `delete.py`.

Routes (all under /compute/v2.1 unless noted):
    GET  /compute/, /compute/v2.1/        version documents (no token needed)
    GET  /healthcheck                     database and message bus reachable? (no token needed)
    GET, POST       /servers              GET /servers/detail     GET, DELETE /servers/{id}
    GET, POST       /flavors              GET /flavors/detail     GET, DELETE /flavors/{id}
    GET  /os-services
    GET  /os-hypervisors, /os-hypervisors/detail, /os-hypervisors/{id}
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api import errors, middleware
from ncloud.daemons.api.resources import flavors, health, hypervisors, servers, services, versions
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport

PREFIX = middleware.API_PREFIX


def create_app(conf: Config, db: Database, transport: Transport) -> falcon.App:
    if conf.api.auth_strategy != "noauth2":
        raise ValueError(f"unsupported [api] auth_strategy {conf.api.auth_strategy!r}")
    app = falcon.App(middleware=[middleware.RequestContextMiddleware(), middleware.NoAuthMiddleware(),
                                 middleware.MicroversionMiddleware()])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = True
    app.req_options.auto_parse_qs_csv = False
    errors.install(app)

    public = conf.api.public_endpoint
    app.add_route("/compute", versions.Versions(public))
    app.add_route(PREFIX, versions.Version(public))
    app.add_route("/healthcheck", health.Health(db, transport))

    app.add_route(f"{PREFIX}/servers", servers.Servers(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/detail", servers.ServersDetail(conf, db, transport))
    app.add_route(f"{PREFIX}/servers/{{server_id}}", servers.Server(conf, db, transport))

    app.add_route(f"{PREFIX}/flavors", flavors.Flavors(conf, db))
    app.add_route(f"{PREFIX}/flavors/detail", flavors.FlavorsDetail(conf, db))
    app.add_route(f"{PREFIX}/flavors/{{flavor_id}}", flavors.FlavorItem(conf, db))

    app.add_route(f"{PREFIX}/os-services", services.Services(conf, db))
    app.add_route(f"{PREFIX}/os-hypervisors", hypervisors.Hypervisors(conf, db))
    app.add_route(f"{PREFIX}/os-hypervisors/detail", hypervisors.HypervisorsDetail(conf, db))
    app.add_route(f"{PREFIX}/os-hypervisors/{{hypervisor_id}}", hypervisors.Hypervisor(conf, db))
    return app
