"""Server actions that move a server between hosts: resize, confirmResize, revertResize, migrate,
os-migrateLive and evacuate.

Each checks what Nova checks (state, lock, policy, the flavor or host asked for), then, in one
transaction, sets the server's task state by compare-and-swap, creates the migration record and
records the instance action. Only after that commit does the conductor get the move
(conductor/moves.py), which chooses the destination and drives the hosts. If the message cannot
be published, the task state is put back, the migration ends in `error` and the client gets 503
(server_actions.send_or_undo).
"""

from __future__ import annotations

from sqlalchemy import select

from ncloud.daemons.api import boot, server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.api.server_actions import begin, image_info, send_or_undo, startable
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.moves import confirm_locally
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import instances, migrations, quotas, servicegroup, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Image, Service
from ncloud.daemons.core.db.session import Database


def _compute_up(conf: Config, session, host: str) -> bool:
    return servicegroup.host_service_up(session, host, COMPUTE_BINARY, conf.default.service_down_time)


def _check_known_host(session, host: str, status: int = 400) -> None:
    if session.scalar(select(Service.id).where(Service.host == host, Service.binary == COMPUTE_BINARY)) is None:
        raise Fault(status, f"Compute host {host} could not be found.")


# -- resize and cold migration --------------------------------------------------------------------
def resize(conf: Config, db: Database, conductor: ConductorAPI, ctx: RequestContext, uuid: str,
           flavor_ref: str) -> None:
    with db.writer() as session:
        current = server_query.authorized(session, ctx, uuid, "os_compute_api:servers:resize")
        flavor = boot.usable_flavor(session, ctx, flavor_ref)
        if flavor is None:
            raise Fault(400, "Unable to locate requested flavor.")
        if flavor.id == current.instance_type_id:
            raise Fault(400, "When resizing, instances must change flavor!")
        if flavor.root_gb < current.root_gb:
            raise Fault(400, "Server disk was unable to be resized because: Resizing to a smaller disk flavor is "
                             "not allowed.")
        quotas.check_growth(conf, session, current.project_id, current.user_id,
                            cores=flavor.vcpus - current.vcpus, ram=flavor.memory_mb - current.memory_mb)
        instance = begin(session, ctx, uuid, "resize", "os_compute_api:servers:resize",
                          (states.ACTIVE, states.STOPPED), states.RESIZE_PREP, "resize")
        migration = migrations.create(session, instance, migrations.RESIZE, "pre-migrating",
                                      new_flavor=boot.flavor_snapshot(flavor), new_flavor_id=flavor.id)
        migration_uuid = migration.uuid
    _send(db, ctx, uuid, states.RESIZE_PREP, migration_uuid,
          lambda: conductor.migrate_server(ctx, uuid, migration_uuid))


def migrate(db: Database, conductor: ConductorAPI, ctx: RequestContext, uuid: str, host: str | None) -> None:
    """Cold migration (admins): the same flavor, on another host (the one asked for from 2.56)."""
    with db.writer() as session:
        if host:
            server_query.authorized(session, ctx, uuid, "os_compute_api:os-migrate-server:migrate:host")
            _check_known_host(session, host)
        instance = begin(session, ctx, uuid, "migrate", "os_compute_api:os-migrate-server:migrate",
                          (states.ACTIVE, states.STOPPED), states.RESIZE_PREP, "migrate")
        if host and host == instance.host:
            raise Fault(400, f"Unable to migrate instance ({uuid}) to current host ({host}).")
        migration = migrations.create(session, instance, migrations.COLD, "pre-migrating",
                                      options={"host": host} if host else None)
        migration_uuid = migration.uuid
    _send(db, ctx, uuid, states.RESIZE_PREP, migration_uuid,
          lambda: conductor.migrate_server(ctx, uuid, migration_uuid))


def _send(db: Database, ctx: RequestContext, uuid: str, task_state: str, migration_uuid: str | None, cast) -> None:
    """Cast the move; refused by the message bus, its migration ends in `error` (nothing was sent)."""
    def undo(session) -> None:
        if migration_uuid:
            migrations.set_status(session, migration_uuid, "error")
    send_or_undo(db, ctx, uuid, task_state, cast, undo=undo)


def _resized(session, ctx: RequestContext, uuid: str, name: str, rule: str, task_state: str):
    """A server in VERIFY_RESIZE and its finished migration, its task state set for `name`."""
    instance = startable(session, ctx, uuid, name, rule, (states.RESIZED,), needs_host=False)
    migration = migrations.latest(session, uuid, "finished", (migrations.RESIZE, migrations.COLD))
    if migration is None:
        raise Fault(400, "Instance has not been resized.")
    if not instances.update_state(session, uuid, {"task_state": task_state},
                                  expected={"vm_state": states.RESIZED, "task_state": None}):
        raise Fault(409, f"Instance {uuid} changed state while '{name}' was being started; retry.")
    instances.start_action(session, uuid, name, ctx.request_id, ctx.user_id, ctx.project_id)
    return instance, migration


def confirm_resize(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    with db.writer() as session:
        instance, migration = _resized(session, ctx, uuid, "confirmResize", "os_compute_api:servers:confirm_resize",
                                       states.RESIZE_CONFIRMING)
        migrations.set_status(session, migration.uuid, "confirming", expected="finished")
        source = migration.source_compute
        if not _compute_up(conf, session, source):
            # Its source host is down: nothing to clean there now (it removes the old guest when it
            # comes back, as the database no longer places the server there).
            confirm_locally(session, ctx, instance, migration, None)
            instances.finish_action(session, uuid, ctx.request_id)
            return
        payload, migration_dict = instances.to_dict(instance), migrations.to_dict(migration)
        migration_dict["status"] = "confirming"
    _send(db, ctx, uuid, states.RESIZE_CONFIRMING, None,
          lambda: compute.confirm_resize(ctx, source, payload, migration_dict))


def revert_resize(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    with db.writer() as session:
        instance, migration = _resized(session, ctx, uuid, "revertResize", "os_compute_api:servers:revert_resize",
                                       states.RESIZE_REVERTING)
        if not _compute_up(conf, session, migration.source_compute):
            raise Fault(409, f"The resize of {uuid} cannot be reverted: its source host "
                             f"{migration.source_compute} is down. Confirm it, or revert when the host is back.")
        migrations.set_status(session, migration.uuid, "reverting", expected="finished")
        payload, migration_dict = instances.to_dict(instance), migrations.to_dict(migration)
        migration_dict["status"] = "reverting"
        dest = instance.host
    _send(db, ctx, uuid, states.RESIZE_REVERTING, None,
          lambda: compute.revert_resize(ctx, dest, payload, migration_dict))


# -- live migration and evacuation ----------------------------------------------------------------
def live_migrate(db: Database, conductor: ConductorAPI, ctx: RequestContext, uuid: str, request: dict,
                 version: APIVersion) -> None:
    host = request.get("host")
    with db.writer() as session:
        server_query.authorized(session, ctx, uuid, "os_compute_api:os-migrate-server:migrate_live")
        if host:
            _check_known_host(session, host)
        instance = begin(session, ctx, uuid, "os-migrateLive", "os_compute_api:os-migrate-server:migrate_live",
                          (states.ACTIVE, states.PAUSED), states.MIGRATING, "live-migration")
        if host and host == instance.host:
            raise Fault(400, f"Unable to migrate instance ({uuid}) to current host ({host}).")
        options = {"host": host, "force": bool(request.get("force")),
                   "block_migration": request.get("block_migration", "auto")}
        migration_uuid = migrations.create(session, instance, migrations.LIVE, "accepted", options=options).uuid
    # Before 2.34 the checks ran before the answer, and a failed one was a 400.
    wait = version < (2, 34)
    reason = None

    def start():
        nonlocal reason
        reason = conductor.live_migrate(ctx, uuid, migration_uuid, wait=wait)
    _send(db, ctx, uuid, states.MIGRATING, migration_uuid, start)
    if reason:
        raise Fault(400, f"Migration pre-check error: {reason}")


def evacuate(conf: Config, db: Database, conductor: ConductorAPI, ctx: RequestContext, uuid: str, request: dict,
             version: APIVersion) -> str | None:
    """Rebuild a server of a host that is down on another one; returns the adminPass before 2.14."""
    host = request.get("host")
    with db.writer() as session:
        current = server_query.authorized(session, ctx, uuid, "os_compute_api:os-evacuate")
        if host:
            _check_known_host(session, host, status=404)
            if host == current.host:
                raise Fault(400, "The target host can't be the same one.")
        if current.host and _compute_up(conf, session, current.host):
            raise Fault(400, f"Compute service of {current.host} is still in use.")
        instance = begin(session, ctx, uuid, "evacuate", "os_compute_api:os-evacuate",
                          (states.ACTIVE, states.STOPPED, states.ERROR), states.REBUILDING, "evacuate")
        # From 2.95 an evacuated server arrives stopped, whatever it was.
        options = {"host": host, "force": bool(request.get("force")), "stopped": version >= (2, 95)}
        migration_uuid = migrations.create(session, instance, migrations.EVACUATION, "accepted", options=options).uuid
        image = image_of(session, instance.image_ref)
    _send(db, ctx, uuid, states.REBUILDING, migration_uuid,
          lambda: conductor.evacuate_server(ctx, uuid, migration_uuid, image))
    return boot.admin_password(request.get("adminPass")) if version < (2, 14) else None


def image_of(session, image_id: str | None) -> dict:
    """What a host needs of the server's image to build it again."""
    image = session.get(Image, image_id) if image_id else None
    return {"id": image_id} if image is None else image_info(image)
