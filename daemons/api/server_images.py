"""Server actions that make images of a server: createImage, createBackup, shelve, shelveOffload
and unshelve.

The API creates the image record here (queued, private, owned by the server's project, carrying
`instance_uuid`, `image_type` and the base image's properties, as Nova's snapshots do), sets the
server's task state and records the action in the same transaction, then casts the work to the
server's host (compute/snapshots.py), which uploads the data. An offloaded server is unshelved
through the conductor, which must find it a host first (conductor/shelving.py).
"""

from __future__ import annotations

import uuid as uuidlib

from sqlalchemy import select

from ncloud.daemons.api import boot, policy, server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.image.resources import check_image_count
from ncloud.daemons.api.image.store import FileStore
from ncloud.daemons.api.server_actions import begin, send_or_undo
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import instances, quotas, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Image, Service
from ncloud.daemons.core.db.session import Database

SNAPSHOT_VM_STATES = (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED)


def _image(conf: Config, session, ctx: RequestContext, instance, name: str, image_type: str,
           metadata: dict | None = None, **extra: str) -> str:
    """The queued image record a snapshot of `instance` fills; returns its id."""
    if metadata:
        allowed = quotas.project_limits(conf, session, instance.project_id, instance.user_id)["metadata_items"]
        if allowed != quotas.UNLIMITED and len(metadata) > allowed:
            raise quotas.TooManyMetadataItems(allowed=allowed)
    check_image_count(conf, session, instance.project_id)
    base = session.get(Image, instance.image_ref) if instance.image_ref else None
    inherited = {key: value for key, value in ((base.properties or {}) if base else {}).items()
                 if key not in ("instance_uuid", "image_type", "backup_type", "base_image_ref")}
    image_id = str(uuidlib.uuid4())
    session.add(Image(
        id=image_id, name=name, status="queued", owner=instance.project_id, visibility="private",
        disk_format=base.disk_format if base else "raw", container_format=base.container_format if base else "bare",
        min_ram=(base.min_ram or 0) if base else 0, min_disk=max((base.min_disk or 0) if base else 0, instance.root_gb),
        tags=[], properties={**inherited, **(metadata or {}), "instance_uuid": instance.uuid, "image_type": image_type,
                             "base_image_ref": instance.image_ref or "", "user_id": ctx.user_id or "", **extra}))
    return image_id


def _start(db: Database, ctx: RequestContext, uuid: str, name: str, rule: str, vm_states: tuple[str, ...],
           task_state: str, action: str, make_image=None):
    """Check, set the task state, record the action (and create the image): (instance dict, image id)."""
    with db.writer() as session:
        instance = begin(session, ctx, uuid, name, rule, vm_states, task_state, action)
        image_id = make_image(session, instance) if make_image else None
        return {**instances.to_dict(instance), "task_state": task_state}, image_id


def _send(db: Database, ctx: RequestContext, uuid: str, task_state: str, image_id: str | None, send) -> None:
    """Cast the work; refused by the message bus, the image made for it goes (nothing was sent)."""
    def undo(session) -> None:
        image = session.get(Image, image_id) if image_id else None
        if image is not None:
            session.delete(image)
    send_or_undo(db, ctx, uuid, task_state, send, undo=undo)


def create_image(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str,
                 request: dict) -> str:
    instance, image_id = _start(
        db, ctx, uuid, "createImage", "os_compute_api:servers:create_image", SNAPSHOT_VM_STATES,
        states.IMAGE_SNAPSHOT, "createImage",
        lambda session, row: _image(conf, session, ctx, row, request["name"], "snapshot", request.get("metadata")))
    _send(db, ctx, uuid, states.IMAGE_SNAPSHOT, image_id, lambda: compute.snapshot_instance(
        ctx, instance["host"], instance, image_id, states.IMAGE_SNAPSHOT))
    return image_id


def create_backup(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str,
                  request: dict) -> str:
    """A snapshot kept among the newest `rotation` of its `backup_type` (older ones are deleted)."""
    backup = {"type": request["backup_type"], "rotation": int(request["rotation"])}
    instance, image_id = _start(
        db, ctx, uuid, "createBackup", "os_compute_api:os-create-backup", SNAPSHOT_VM_STATES,
        states.IMAGE_BACKUP, "createBackup",
        lambda session, row: _image(conf, session, ctx, row, request["name"], "backup", request.get("metadata"),
                                    backup_type=backup["type"]))
    _send(db, ctx, uuid, states.IMAGE_BACKUP, image_id, lambda: compute.snapshot_instance(
        ctx, instance["host"], instance, image_id, states.IMAGE_BACKUP, backup))
    return image_id


def shelve(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    """Stop the server and keep its disk as an image; offloaded at once unless [DEFAULT]
    shelved_offload_time says to wait."""
    instance, image_id = _start(
        db, ctx, uuid, "shelve", "os_compute_api:os-shelve:shelve", SNAPSHOT_VM_STATES, states.SHELVING, "shelve",
        lambda session, row: _image(conf, session, ctx, row, f"{row.display_name}-shelved", "snapshot"))
    offload = conf.default.shelved_offload_time == 0
    _send(db, ctx, uuid, states.SHELVING, image_id, lambda: compute.shelve_instance(
        ctx, instance["host"], instance, image_id, offload))


def shelve_offload(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    instance, _ = _start(db, ctx, uuid, "shelveOffload", "os_compute_api:os-shelve:shelve_offload",
                         (states.SHELVED,), states.SHELVING_OFFLOADING, "shelveOffload")
    _send(db, ctx, uuid, states.SHELVING_OFFLOADING, None,
          lambda: compute.shelve_offload_instance(ctx, instance["host"], instance))


def unshelve(conf: Config, db: Database, compute: ComputeAPI, conductor: ConductorAPI, ctx: RequestContext,
             uuid: str, request: dict | None) -> None:
    """Where it still is (SHELVED), or wherever the scheduler finds room (SHELVED_OFFLOADED), in the
    zone (2.77; null: any, 2.91) or on the host (2.91, admins) asked for."""
    request = request or {}
    zone_given, host = "availability_zone" in request, request.get("host")
    zone = request.get("availability_zone")
    if host:
        policy.authorize(ctx, "os_compute_api:os-shelve:unshelve_to_host")
    with db.reader() as session:
        current = server_query.authorized(session, ctx, uuid, "os_compute_api:os-shelve:unshelve")
        if (zone_given or host) and current.vm_state == states.SHELVED:
            raise Fault(409, "The availability_zone or host can only be given to unshelve a shelved offloaded "
                             "server: this one is still on its host.")
        if zone:
            boot.check_zone(session, conf, zone)
        if host and session.scalar(select(Service.id).where(Service.host == host,
                                                            Service.binary == COMPUTE_BINARY)) is None:
            raise Fault(400, f"Compute host {host} could not be found.")
        image_id = (current.system_metadata or {}).get("shelved_image_id")
    instance, _ = _start(db, ctx, uuid, "unshelve", "os_compute_api:os-shelve:unshelve",
                         (states.SHELVED, states.SHELVED_OFFLOADED), states.UNSHELVING, "unshelve")
    if instance["vm_state"] == states.SHELVED:
        _send(db, ctx, uuid, states.UNSHELVING, None,
              lambda: compute.unshelve_instance(ctx, instance["host"], instance, {"id": image_id}))
    else:
        # A null zone (2.91) unpins the server: it may come back in any zone.
        chosen = (zone or "") if zone_given else None
        _send(db, ctx, uuid, states.UNSHELVING, None, lambda: conductor.unshelve_instance(ctx, uuid, chosen, host))


def delete_shelved_image(conf: Config, session, instance) -> None:
    """A shelved server is being deleted: its shelved image goes with it, as in Nova."""
    image_id = (instance.system_metadata or {}).get("shelved_image_id")
    image = session.get(Image, image_id) if image_id else None
    if image is not None:
        session.delete(image)
        FileStore(conf.image_store_path).delete(image_id)
