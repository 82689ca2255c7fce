"""Deleting a server (DELETE /servers/{id}): locally when no compute can do it, else through its host.

A server with no host (never scheduled, or failed before it got one), or whose compute service
is down, has nothing on a hypervisor that anyone could clean up now: it is deleted here, in one
transaction with the release of its allocations, as Nova's "local delete" does. Otherwise the
server is marked `deleting` by compare-and-swap, the `delete` action is recorded, and only after
that commit is `terminate_instance` cast to its host. A second DELETE while it is deleting is
answered 204 again and does nothing more.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncloud.daemons.api import server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import exception, instances, placement, servicegroup, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, Service
from ncloud.daemons.core.db.session import Database

LOG = logging.getLogger(__name__)

# Another request may change the server between our read and our swap; a few fresh looks settle it.
CAS_ATTEMPTS = 3


def delete(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    for _ in range(CAS_ATTEMPTS):
        with db.writer() as session:
            instance = server_query.authorized(session, ctx, uuid, "os_compute_api:servers:delete")
            if instance.locked and not ctx.is_admin:
                raise Fault(409, f"Instance {uuid} is locked")
            if instance.task_state == states.DELETING:
                return
            if not instance.host or not _compute_is_up(session, conf, instance.host):
                _delete_locally(session, ctx, instance)
                return
            host, previous = instance.host, instance.task_state
            swapped = instances.update_state(session, uuid, {"task_state": states.DELETING},
                                             expected={"task_state": previous, "host": host})
            if not swapped:
                continue
            instances.start_action(session, uuid, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
            payload = {**instances.to_dict(instance), "task_state": states.DELETING}
        _cast_terminate(db, compute, ctx, uuid, host, payload, previous)
        return
    raise Fault(409, f"Instance {uuid} kept changing state while being deleted; retry.")


def _compute_is_up(session: Session, conf: Config, host: str) -> bool:
    service = session.scalars(select(Service).where(Service.host == host, Service.binary == COMPUTE_BINARY)).first()
    return service is not None and servicegroup.is_up(service, conf.default.service_down_time)


def _delete_locally(session: Session, ctx: RequestContext, instance: Instance) -> None:
    LOG.info("deleting instance %s locally (host %s has no running compute)", instance.uuid, instance.host or "none")
    instances.start_action(session, instance.uuid, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
    instances.mark_deleted(session, instance.uuid)
    placement.release(session, instance.uuid)
    instances.finish_action(session, instance.uuid, ctx.request_id)


def _cast_terminate(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, host: str,
                    payload: dict, previous: str | None) -> None:
    try:
        compute.terminate_instance(ctx, host, payload)
    except exception.MessagingUnavailable:
        # Undo the mark so the server is not left `deleting` with nobody deleting it.
        with db.writer() as session:
            instances.update_state(session, uuid, {"task_state": previous}, expected={"task_state": states.DELETING})
            instances.finish_action(session, uuid, ctx.request_id, message="Error")
        raise
