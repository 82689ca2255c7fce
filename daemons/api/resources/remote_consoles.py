"""Console URLs: POST /servers/{id}/remote-consoles (2.6) and, before it, the actions
os-getVNCConsole, os-getSPICEConsole and os-getSerialConsole (api/resources/server_action.py).

The server's host says where the guest's console listens (its driver); the API stores a
single-use token for it (core/consoles.py) and answers the console proxy's URL with that token.
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api import schemas, server_query, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import consoles, exception, instances, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport


def console_url(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, protocol: str,
                console_type: str) -> str:
    if (protocol, console_type) not in consoles.CONSOLE_TYPES:
        raise Fault(400, f"Unavailable console type {console_type}.")
    with db.reader() as session:
        instance = server_query.authorized(session, ctx, uuid, "os_compute_api:os-remote-consoles")
        if not instance.host or instance.power_state != states.RUNNING:
            raise Fault(409, f"Instance {uuid} is not ready: its console is available only while it runs.")
        host, payload = instance.host, instances.to_dict(instance)
    try:
        connect = compute.get_console(ctx, host, payload, console_type)
    except exception.RemoteError as error:
        raise Fault(409, f"The console of {uuid} is not available: {error.value}") from None
    except exception.MessagingTimeout:
        raise Fault(409, f"The console of {uuid} is not available: its host {host} did not answer.") from None
    with db.writer() as session:
        token = consoles.authorize(session, conf, uuid, console_type, connect)
    return consoles.access_url(conf, console_type, token)


class RemoteConsoles:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.compute = ComputeAPI(transport)

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        if req.context.version < (2, 6):
            raise Fault(404, "The resource could not be found.")
        body = validation.read_json(req)
        schemas.REMOTE_CONSOLE.validate(req.context.version, body)
        wanted = body["remote_console"]
        url = console_url(self.conf, self.db, self.compute, req.context.ctx, server_id, wanted["protocol"],
                          wanted["type"])
        resp.media = {"remote_console": {"protocol": wanted["protocol"], "type": wanted["type"], "url": url}}
