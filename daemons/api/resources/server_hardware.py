"""What one server is made of: GET /servers/{id}/diagnostics (admins; its hypervisor's figures,
asked of its host) and GET /servers/{id}/topology (2.78; its NUMA layout).

Diagnostics are Nova's standard form from 2.48; before, the driver's flat dictionary of counters.
ncloud does not pin CPUs or place guests on NUMA nodes, so a topology has no nodes.
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api import server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import exception, instances, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport


def _legacy(diagnostics: dict) -> dict:
    """The pre-2.48 form: one flat dictionary of counters, as libvirt's driver gave it."""
    flat = {f"cpu{cpu['id']}_time": cpu["time"] for cpu in diagnostics["cpu_details"]}
    flat["memory"] = (diagnostics["memory_details"]["maximum"] or 0) * 1024
    for index, disk in enumerate(diagnostics["disk_details"]):
        name = f"vd{chr(ord('a') + index)}"
        flat.update({f"{name}_read": disk["read_bytes"], f"{name}_read_req": disk["read_requests"],
                     f"{name}_write": disk["write_bytes"], f"{name}_write_req": disk["write_requests"],
                     f"{name}_errors": disk["errors_count"]})
    return flat


class ServerDiagnostics:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.compute = ComputeAPI(transport)

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        ctx = req.context.ctx
        with self.db.reader() as session:
            instance = server_query.authorized(session, ctx, server_id, "os_compute_api:os-server-diagnostics")
            if not instance.host or instance.power_state != states.RUNNING:
                raise Fault(409, f"Instance {server_id} in power state {instance.power_state}. Cannot "
                                 "get_diagnostics while the instance is in this state.")
            host, payload = instance.host, instances.to_dict(instance)
        try:
            diagnostics = self.compute.get_diagnostics(ctx, host, payload)
        except exception.RemoteError as error:
            raise Fault(409, f"Diagnostics of {server_id} are not available: {error.value}") from None
        except exception.MessagingTimeout:
            raise Fault(409, f"Diagnostics of {server_id} are not available: its host {host} did not "
                             "answer.") from None
        resp.media = diagnostics if req.context.version >= (2, 48) else _legacy(diagnostics)


class ServerTopology:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        if req.context.version < (2, 78):
            raise Fault(404, "The resource could not be found.")
        with self.db.reader() as session:
            server_query.authorized(session, req.context.ctx, server_id, "os_compute_api:server-topology:index")
        resp.media = {"nodes": [], "pagesize_kb": None}
