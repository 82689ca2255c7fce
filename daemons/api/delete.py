"""Deleting a server (DELETE /servers/{id}): locally when no compute can do it, else through its host.

A server with no host (never scheduled, or failed before it got one), or whose compute service
is down, has nothing on a hypervisor that anyone could clean up now: it is deleted here, in one
transaction with the release of its allocations, as Nova's "local delete" does. Otherwise the
server is marked `deleting` by compare-and-swap, the `delete` action is recorded, and only after
that commit is `terminate_instance` cast to its host. A second DELETE while it is deleting is
answered 204 again and does nothing more.

With `[DEFAULT] reclaim_instance_interval` set, a delete is soft, as in Nova: the server is
powered off and becomes SOFT_DELETED, restorable (the restore action) until the interval has
passed; then the conductor's reconciler deletes it for good. forceDelete skips the wait.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ncloud.daemons.api import server_actions, server_images, server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import instances, placement, servicegroup, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance, utcnow
from ncloud.daemons.core.db.session import Database

LOG = logging.getLogger(__name__)

# Another request may change the server between our read and our swap; a few fresh looks settle it.
CAS_ATTEMPTS = 3


def delete(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str,
           force: bool = False) -> None:
    """DELETE /servers/{id}, or (`force`) the forceDelete action: no soft delete, in any state."""
    rule = "os_compute_api:os-deferred-delete:force" if force else "os_compute_api:servers:delete"
    for _ in range(CAS_ATTEMPTS):
        with db.writer() as session:
            instance = server_query.authorized(session, ctx, uuid, rule)
            if instance.locked and not ctx.is_admin:
                raise Fault(409, f"Instance {uuid} is locked")
            if instance.task_state == states.DELETING:
                return
            up = bool(instance.host) and servicegroup.host_service_up(session, instance.host, COMPUTE_BINARY,
                                                                      conf.default.service_down_time)
            host, previous = instance.host, instance.task_state
            soft = (conf.default.reclaim_instance_interval > 0 and not force and instance.host is not None
                    and instance.vm_state not in (states.SOFT_DELETED, states.BUILDING))
            if not soft and instance.vm_state in (states.SHELVED, states.SHELVED_OFFLOADED):
                server_images.delete_shelved_image(conf, session, instance)
            if soft and not up:
                _soft_delete_locally(session, ctx, instance)
                return
            if not up:
                _delete_locally(session, ctx, instance)
                return
            task_state = states.SOFT_DELETING if soft else states.DELETING
            changes = {"task_state": task_state, **({"deleted_at": utcnow()} if soft else {})}
            if not instances.update_state(session, uuid, changes, expected={"task_state": previous, "host": host}):
                continue
            instances.start_action(session, uuid, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
            payload = {**instances.to_dict(instance), "task_state": task_state}
        break
    else:
        raise Fault(409, f"Instance {uuid} kept changing state while being deleted; retry.")
    # Restorable until [DEFAULT] reclaim_instance_interval has passed (the reconciler then deletes it).
    send = (lambda: compute.power_action(ctx, host, payload, "soft_delete")) if soft else (
        lambda: compute.terminate_instance(ctx, host, payload))
    server_actions.send_or_undo(db, ctx, uuid, task_state, send, previous=previous,
                                restore={"deleted_at": None} if soft else None)


def _delete_locally(session: Session, ctx: RequestContext, instance: Instance) -> None:
    LOG.info("deleting instance %s locally (host %s has no running compute)", instance.uuid, instance.host or "none")
    instances.start_action(session, instance.uuid, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
    instances.mark_deleted(session, instance.uuid)
    placement.release(session, instance.uuid)
    instances.finish_action(session, instance.uuid, ctx.request_id)


def _soft_delete_locally(session: Session, ctx: RequestContext, instance: Instance) -> None:
    """Its host is down: the server is SOFT_DELETED in the database only (its guest stops with the host)."""
    instances.start_action(session, instance.uuid, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
    instances.update_state(session, instance.uuid, {"vm_state": states.SOFT_DELETED, "task_state": None,
                                                    "deleted_at": utcnow()})
    instances.finish_action(session, instance.uuid, ctx.request_id)
