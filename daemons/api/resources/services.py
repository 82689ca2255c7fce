"""/os-services (admin): every daemon the cloud runs, where, whether it is alive; enable, disable, delete.

"Alive" is the services table's verdict (core/servicegroup): a heartbeat younger than
`service_down_time` and not forced down. Compute services are shown in the default availability
zone, every other service in Nova's pseudo-zone `internal`. A disabled compute takes no new
servers (the scheduler's ComputeFilter); forcing one down lets its servers be evacuated at once.

Per microversion: before 2.53 a service is changed by host and binary through
PUT /os-services/{enable,disable,disable-log-reason,force-down (2.11)} and deleted by row id;
from 2.53 by its uuid, PUT /os-services/{uuid} with status, disabled_reason and forced_down.
Deleting a compute service that still hosts servers is refused; otherwise its hypervisors and
their resource providers go with it.
"""

from __future__ import annotations

import falcon
from sqlalchemy import delete, func, select

from ncloud.daemons.api import policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import servicegroup
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import ComputeNode, Instance, ResourceProvider, Service, utcnow
from ncloud.daemons.core.db.session import Database


class Services:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-services:list")
        params = validation.query(req)
        schemas.SERVICE_LIST_QUERY.validate(params)
        query = select(Service).order_by(Service.id)
        for name, column in (("host", Service.host), ("binary", Service.binary)):
            value = validation.last(params, name)
            if value:
                query = query.where(column == value)
        with self.db.reader() as session:
            rows = list(session.scalars(query))
        resp.media = {"services": [self.view(row, req.context.version) for row in rows]}

    def view(self, row: Service, version: APIVersion) -> dict:
        up = servicegroup.is_up(row, self.conf.default.service_down_time, utcnow())
        return views.service(row, up, self.conf.default.default_availability_zone, version)


def _find(session, version: APIVersion, ident: str) -> Service:
    if version >= (2, 53):
        service = session.scalars(select(Service).where(Service.uuid == ident)).first()
    else:
        row_id = validation.integer_id(ident)
        service = session.get(Service, row_id) if row_id is not None else None
    if service is None:
        raise Fault(404, f"Service {ident} could not be found.")
    return service


def _by_host_binary(session, host: str, binary: str) -> Service:
    service = session.scalars(select(Service).where(Service.host == host, Service.binary == binary)).first()
    if service is None:
        raise Fault(404, f"Service {binary} on host {host} could not be found.")
    return service


class ServiceItem(Services):
    """PUT /os-services/{uuid} (2.53) or the older verbs PUT /os-services/{action}; DELETE /os-services/{id}."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        ctx = req.context.ctx
        version: APIVersion = req.context.version
        policy.authorize(ctx, "os_compute_api:os-services:update")
        body = validation.read_json(req)
        if version < (2, 53):
            resp.media = self._legacy_action(version, service_id, body)
            return
        schemas.SERVICE_UPDATE.validate(body)
        status, reason = body.get("status"), body.get("disabled_reason")
        if reason is not None and status != "disabled":
            raise Fault(400, "Specifying 'disabled_reason' with status other than 'disabled' is invalid.")
        with self.db.writer() as session:
            service = _find(session, version, service_id)
            if status is not None:
                service.disabled = status == "disabled"
                service.disabled_reason = reason if service.disabled else None
            if "forced_down" in body:
                if service.binary != COMPUTE_BINARY:
                    raise Fault(400, f"Updating a non {COMPUTE_BINARY} service is not supported.")
                service.forced_down = body["forced_down"]
            session.flush()
            resp.media = {"service": self.view(service, version)}

    def _legacy_action(self, version: APIVersion, action: str, body: dict) -> dict:
        schema = schemas.SERVICE_LEGACY_ACTIONS.get(action)
        if schema is None or (action == "force-down" and version < (2, 11)):
            raise Fault(404, "The resource could not be found.")
        schema.validate(body)
        with self.db.writer() as session:
            service = _by_host_binary(session, body["host"], body["binary"])
            shown = {"host": service.host, "binary": service.binary}
            if action == "force-down":
                service.forced_down = validation.to_bool(body["forced_down"], "forced_down")
                return {"service": {**shown, "forced_down": service.forced_down}}
            service.disabled = action != "enable"
            service.disabled_reason = body.get("disabled_reason") if service.disabled else None
            shown["status"] = "disabled" if service.disabled else "enabled"
            if action == "disable-log-reason":
                shown["disabled_reason"] = service.disabled_reason
            return {"service": shown}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-services:delete")
        with self.db.writer() as session:
            service = _find(session, req.context.version, service_id)
            if service.binary == COMPUTE_BINARY:
                hosting = session.scalar(select(func.count()).select_from(Instance).where(
                    Instance.host == service.host, Instance.deleted.is_(False)))
                if hosting:
                    raise Fault(409, "Unable to delete compute service that is hosting instances. Migrate or "
                                     "delete the instances first.")
                nodes = list(session.scalars(select(ComputeNode).where(ComputeNode.host == service.host)))
                for node in nodes:
                    session.execute(delete(ResourceProvider).where(ResourceProvider.uuid == node.uuid))
                    session.delete(node)
            session.delete(service)
        resp.status = 204
