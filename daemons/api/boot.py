"""Creating servers (POST /servers): check the request, record it, hand the build to the conductor.

The Ganeti shape: the body has passed its schema (syntax); here the flavor, image and
availability zone are resolved and checked against each other without side effects, then ONE
transaction writes every instance (`building`/`scheduling`), its request spec and its `create`
action. Only after that commit is `build_instances` cast, so the conductor never sees a server
that is not in the database. If the cast cannot be published, the servers just written go to
ERROR with a fault that says why and the client gets 503: nothing is left waiting for a build
that will never come.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import uuid as uuidlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from ncloud.daemons.api import policy
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.validation import to_bool
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import availability_zones, exception, fixed_ips, instances, quotas, server_groups, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import (
    ComputeNode,
    Flavor,
    FlavorAccess,
    Image,
    ImageMember,
    Instance,
    InstanceAction,
    InstanceTag,
    KeyPair,
    RequestSpec,
    ServerGroup,
    ServerGroupMember,
    utcnow,
)
from ncloud.daemons.core.db.session import Database

LOG = logging.getLogger(__name__)

GIB = 1024 ** 3
PASSWORD_LENGTH = 12
_PASSWORD_CHARS = string.ascii_letters + string.digits
_UID_CHARS = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Created:
    uuids: list[str]
    reservation_id: str
    admin_pass: str
    security_groups: list[str]
    return_reservation_id: bool


def create(conf: Config, db: Database, conductor: ConductorAPI, ctx: RequestContext, body: dict) -> Created:
    """`body` has passed the schema of the request's microversion: only that version's keys are present."""
    server = body["server"]
    min_count, max_count = _counts(server)
    zone, force_host, force_node = _availability_zone(ctx, server.get("availability_zone"), conf)
    destination = _requested_destination(ctx, server, force_host or force_node)
    if server.get("hostname") and max_count > 1:
        raise Fault(400, "Unable to set hostname when creating more than one server: each needs its own.")
    image_id = _image_id(server.get("imageRef"), server.get("block_device_mapping_v2") or [],
                         server.get("block_device_mapping") or [])
    flavor_id = _flavor_id(server["flavorRef"])
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    reservation_id = "r-" + random_string(_UID_CHARS, 8)
    uuids = [str(uuidlib.uuid4()) for _ in range(max_count)]

    tags = list(dict.fromkeys(server.get("tags") or ()))
    network_request = fixed_ips.parse_request(conf, server.get("networks"), max_count)
    with db.writer() as session:
        flavor, image = _flavor_and_image(session, flavor_id, image_id, ctx)
        check_image_fits(flavor, image)
        check_zone(session, conf, zone)
        key_data = public_key(session, ctx, server.get("key_name"))
        if destination:
            _check_destination(session, destination)
        # Last before the inserts: from here to the commit the project's quota lock is held.
        count = quotas.servers_allowed(conf, session, ctx.project_id, ctx.user_id, min_count, max_count,
                                       flavor.vcpus, flavor.memory_mb, len(server.get("metadata") or {}))
        uuids = uuids[:count]
        group = _join_group(conf, session, ctx, hints.get("group"), uuids)
        snapshot = flavor_snapshot(flavor)
        spec = {
            "flavor": snapshot,
            "image": {"id": image.id, "min_ram": image.min_ram or 0, "min_disk": image.min_disk or 0,
                      "properties": image.properties or {}},
            "availability_zone": zone,
            "force_host": force_host,
            "force_node": force_node,
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "num_instances": max_count,
            "retry": {"num_attempts": 0, "hosts": []},
            "scheduler_hints": hints,
        }
        if destination:
            spec["requested_destination"] = destination
        if group is not None:
            spec["group"] = {"uuid": group.uuid, "policy": group.policy, "rules": group.rules or {}}
        now = utcnow()
        rows = []
        for index, uuid in enumerate(uuids):
            name = server["name"] if max_count == 1 else f"{server['name']}-{index + 1}"
            rows.append(dict(
                uuid=uuid, project_id=ctx.project_id, user_id=ctx.user_id, display_name=name,
                hostname=server.get("hostname") or hostname_for(name, uuid), description=server.get("description"),
                reservation_id=reservation_id, launch_index=index, image_ref=image.id,
                instance_type_id=flavor.id, flavor=snapshot, vcpus=flavor.vcpus, memory_mb=flavor.memory_mb,
                root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb, vm_state=states.BUILDING,
                task_state=states.SCHEDULING, task_started_at=now, power_state=states.NOSTATE, host=None, node=None,
                availability_zone=zone, key_name=server.get("key_name"), key_data=key_data,
                user_data=server.get("user_data"), trusted_certs=server.get("trusted_image_certificates"),
                config_drive=to_bool(server.get("config_drive", False), "config_drive"),
                metadata_=dict(server.get("metadata") or {}), created_at=now))
        # Core statements on the session's connection rather than ORM objects and the ORM
        # execution path: a boot is the API's hottest write.
        connection = session.connection()
        connection.execute(_INSERT_INSTANCE, [
            {("metadata" if key == "metadata_" else key): value for key, value in row.items()} for row in rows])
        connection.execute(_INSERT_SPEC, [{"instance_uuid": uuid, "spec": spec} for uuid in uuids])
        connection.execute(_INSERT_ACTION, [
            {"action": "create", "instance_uuid": uuid, "request_id": ctx.request_id, "user_id": ctx.user_id,
             "project_id": ctx.project_id, "start_time": now} for uuid in uuids])
        if tags:
            connection.execute(insert(InstanceTag.__table__), [{"instance_uuid": uuid, "tag": tag}
                                                                for uuid in uuids for tag in tags])
        if network_request is not None:
            fixed_ips.allocate(session, conf, uuids, network_request)

    try:
        conductor.build_instances(ctx, uuids, [{name: row.get(name) for name in instances.FIELDS} for row in rows],
                                  spec)
    except exception.MessagingUnavailable as error:
        _fail_builds(db, ctx, uuids, error)
        raise Fault(503, "The message bus is unreachable, so the build could not be started; the "
                         f"server{'s were' if len(uuids) > 1 else ' was'} set to ERROR. Retry later.") from error
    return Created(
        uuids=uuids, reservation_id=reservation_id,
        admin_pass=admin_password(server.get("adminPass")),
        security_groups=[group["name"] for group in server.get("security_groups") or []] or ["default"],
        return_reservation_id=to_bool(server.get("return_reservation_id", False), "return_reservation_id"))


def admin_password(given: str | None = None) -> str:
    """The password a request gave, or one generated (create, rebuild, rescue, evacuate answer it)."""
    return given or random_string(_PASSWORD_CHARS, PASSWORD_LENGTH)


def random_string(alphabet: str, length: int) -> str:
    """`length` characters drawn uniformly from `alphabet` with the OS's CSPRNG.

    One `secrets.token_bytes` call instead of a `secrets.choice` per character, which costs a
    tenth of a millisecond per boot; bytes beyond the largest multiple of the alphabet's size
    are dropped so that every character stays equally likely.
    """
    limit = 256 - 256 % len(alphabet)
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(alphabet[byte % len(alphabet)] for byte in secrets.token_bytes(2 * length) if byte < limit)
    return "".join(chars[:length])


def flavor_snapshot(flavor: Flavor | SimpleNamespace) -> dict[str, Any]:
    """The flavor as it is now, kept with the instance: later flavor changes do not touch it."""
    return {"id": flavor.id, "flavorid": flavor.flavorid, "name": flavor.name, "vcpus": flavor.vcpus,
            "memory_mb": flavor.memory_mb, "root_gb": flavor.root_gb, "ephemeral_gb": flavor.ephemeral_gb,
            "swap": flavor.swap, "extra_specs": dict(flavor.extra_specs or {})}


def hostname_for(display_name: str, uuid: str) -> str:
    """Nova's sanitize_hostname: what a guest can use as its hostname, derived from the name."""
    name = display_name.encode("latin-1", "ignore").decode("latin-1")[:63]
    name = re.sub(r"[ _.]", "-", name)
    name = re.sub(r"[^\w-]+", "", name).lower().strip(".-")
    return name or f"Server-{uuid}"


def _counts(server: dict) -> tuple[int, int]:
    min_count = int(server.get("min_count", 1))
    max_count = int(server.get("max_count", min_count))
    if min_count > max_count:
        raise Fault(400, "min_count must be <= max_count")
    return min_count, max_count


def _availability_zone(ctx: RequestContext, requested: str | None,
                       conf: Config) -> tuple[str | None, str | None, str | None]:
    """`zone`, `zone:host`, `zone:host:node` or `zone::node` (Nova's legacy way to force a host)."""
    if not requested:
        return None, None, None
    zone, host, node = requested, None, None
    colons = requested.count(":")
    if colons == 1:
        zone, host = requested.split(":")
    elif colons == 2:
        if "::" in requested:
            zone, node = requested.split("::")
        else:
            zone, host, node = requested.split(":")
    elif colons > 2:
        raise Fault(400, "Invalid input received: Unable to parse availability_zone")
    if host or node:
        policy.authorize(ctx, "os_compute_api:servers:create:forced_host")
    return zone or None, host or None, node or None


def check_zone(session: Session, conf: Config, zone: str | None) -> None:
    """The default zone, or one an aggregate defines (core/availability_zones.py)."""
    if zone and zone != conf.default.default_availability_zone and zone not in availability_zones.named_zones(session):
        raise Fault(400, "The requested availability zone is not available")


def _join_group(conf: Config, session: Session, ctx: RequestContext, group_id, uuids: list[str]):
    """The scheduler hint `group`: the servers join the caller's project's group, within the
    `server_group_members` quota (counted under the group's lock)."""
    if group_id is None:
        return None
    group_uuid = str(uuidlib.UUID(group_id))  # the schema checked its form
    group = session.scalars(select(ServerGroup).where(ServerGroup.uuid == group_uuid)).first()
    if group is None or group.project_id != ctx.project_id:
        raise Fault(400, f"Server group {group_uuid} could not be found.")
    limit = quotas.project_limits(conf, session, ctx.project_id, ctx.user_id)["server_group_members"]
    if limit != quotas.UNLIMITED:
        quotas.lock(session, f"group:{group_uuid}")
        members = len(server_groups.members(session, [group.id])[group.id])
        if members + len(uuids) > limit:
            raise Fault(403, "Quota exceeded, too many servers in group")
    session.add_all(ServerGroupMember(group_id=group.id, instance_uuid=uuid) for uuid in uuids)
    return group


def _requested_destination(ctx: RequestContext, server: dict, forced: bool) -> dict | None:
    """2.74's `host` / `hypervisor_hostname`: where the scheduler must place the server, filters
    still applied (unlike the forced `zone:host`, which skips them)."""
    host, node = server.get("host"), server.get("hypervisor_hostname")
    if not (host or node):
        return None
    policy.authorize(ctx, "compute:servers:create:requested_destination")
    if forced:
        raise Fault(400, "Requesting a host or hypervisor_hostname and forcing one through availability_zone "
                         "(zone:host:node) cannot be combined.")
    return {"host": host, "node": node}


def _check_destination(session: Session, destination: dict) -> None:
    host, node = destination["host"], destination["node"]
    if host and session.scalar(select(ComputeNode.id).where(ComputeNode.host == host).limit(1)) is None:
        raise Fault(400, f"Compute host {host} could not be found.")
    if node and session.scalar(select(ComputeNode.id).where(
            ComputeNode.hypervisor_hostname == node, *([ComputeNode.host == host] if host else []))) is None:
        raise Fault(400, f"Compute node {node} could not be found.")


def public_key(session: Session, ctx: RequestContext, key_name: str | None) -> str | None:
    """The public key of the caller's key pair `key_name`, kept with the server as it is now."""
    if key_name is None:
        return None
    found = session.scalar(select(KeyPair.public_key).where(KeyPair.user_id == ctx.user_id,
                                                            KeyPair.name == key_name))
    if found is None:
        raise Fault(400, "Invalid key_name provided.")
    return found


def _image_id(image_ref: str | None, mappings: list[dict], legacy_mappings: list[dict]) -> str:
    """The image of the root disk: imageRef, or the one block device mapping ncloud can honour,
    an image copied to a local disk at boot index 0 (what the `openstack` client sends with
    `--image`). Volumes and extra local disks need a block storage service ncloud does not have."""
    for mapping in mappings:
        local_image = (mapping.get("source_type") == "image" and mapping.get("destination_type", "local") == "local"
                       and str(mapping.get("boot_index")) == "0")
        if not local_image:
            raise Fault(400, "Block device mapping is not supported beyond the image's local root disk "
                             "(source_type image, destination_type local, boot_index 0): this cloud has no "
                             "block storage service.")
        from_mapping = mapping.get("uuid") or mapping.get("image_id")
        if image_ref and from_mapping and str(from_mapping) != str(image_ref):
            raise Fault(400, "The image of the root disk mapping differs from imageRef.")
        image_ref = image_ref or from_mapping
    if legacy_mappings:
        raise Fault(400, "block_device_mapping (volumes) is not supported: this cloud has no block storage service.")
    if not image_ref:
        raise Fault(400, "Invalid imageRef provided.")
    try:
        return str(uuidlib.UUID(str(image_ref)))
    except ValueError:
        raise Fault(400, "Invalid imageRef provided.") from None


def _flavor_id(flavor_ref: str | int) -> str:
    # Nova accepts a flavor's link as well as its id and keeps the last path segment.
    return str(flavor_ref).rstrip("/").rsplit("/", 1)[-1]


_FLAVOR_COLUMNS = ("id", "flavorid", "name", "vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "extra_specs",
                   "disabled", "is_public")
_IMAGE_COLUMNS = ("id", "status", "visibility", "owner", "min_ram", "min_disk", "size", "properties")


# Built once: constructing a statement of 19 columns costs more than running it.
_INSERT_INSTANCE = insert(Instance.__table__)
_INSERT_SPEC = insert(RequestSpec.__table__)
_INSERT_ACTION = insert(InstanceAction.__table__)
_FLAVOR_AND_IMAGE = (
    select(*(getattr(Flavor, c).label(f"f_{c}") for c in _FLAVOR_COLUMNS),
           *(getattr(Image, c).label(f"i_{c}") for c in _IMAGE_COLUMNS))
    .select_from(Flavor).outerjoin(Image, Image.id == bindparam("image_id"))
    .where(Flavor.flavorid == bindparam("flavor_id")))


def _flavor_and_image(session: Session, flavor_id: str, image_id: str,
                      ctx: RequestContext) -> tuple[SimpleNamespace, SimpleNamespace]:
    """Both in one round trip (the boot's hottest read), only the columns a boot needs."""
    row = session.connection().execute(_FLAVOR_AND_IMAGE, {"flavor_id": flavor_id, "image_id": image_id}).first()
    if row is None:
        raise Fault(400, str(exception.FlavorNotFound(flavor_id=flavor_id)))
    flavor = SimpleNamespace(**{c: getattr(row, f"f_{c}") for c in _FLAVOR_COLUMNS})
    image = SimpleNamespace(**{c: getattr(row, f"i_{c}") for c in _IMAGE_COLUMNS})
    if not _may_use(session, ctx, flavor):
        raise Fault(400, str(exception.FlavorNotFound(flavor_id=flavor_id)))
    _check_image(session, ctx, image, image_id)
    return flavor, image


def _check_image(session: Session, ctx: RequestContext, image, image_id: str) -> None:
    """The image exists as the Image API shows it to the caller, and is active."""
    visible = image is not None and image.id is not None and (
        ctx.is_admin or image.visibility in ("public", "community") or image.owner in (None, ctx.project_id)
        or (image.visibility == "shared" and session.get(ImageMember, (image.id, ctx.project_id)) is not None))
    if not visible:
        raise Fault(400, "Can not find requested image")
    if image.status != "active":
        raise Fault(400, f"Image {image_id} is not active.")


def usable_image(session: Session, ctx: RequestContext, image_id: str) -> Image:
    """The image a rebuild or rescue names, if the caller may boot from it (a 400 otherwise)."""
    image = session.get(Image, image_id)
    _check_image(session, ctx, image, image_id)
    return image


def _may_use(session: Session, ctx: RequestContext, flavor) -> bool:
    """Enabled, and public or given to the caller's project (a private flavor), or the caller an admin."""
    return not flavor.disabled and (flavor.is_public or ctx.is_admin
                                    or session.get(FlavorAccess, (flavor.id, ctx.project_id)) is not None)


def usable_flavor(session: Session, ctx: RequestContext, flavor_ref: str | int) -> Flavor | None:
    """The flavor a request names (by id or link), if the caller may use it."""
    flavor = session.scalars(select(Flavor).where(Flavor.flavorid == _flavor_id(flavor_ref))).first()
    return flavor if flavor is not None and _may_use(session, ctx, flavor) else None


def check_image_fits(flavor: SimpleNamespace, image: SimpleNamespace) -> None:
    """Nova's flavor/image checks: RAM always, disk when the flavor has a root disk size."""
    if flavor.memory_mb < (image.min_ram or 0):
        raise Fault(400, "Flavor's memory is too small for requested image.")
    root_bytes = flavor.root_gb * GIB
    if not root_bytes:
        return  # a root disk of 0 means "the image's size", as in Nova
    if image.size and image.size > root_bytes:
        raise Fault(400, f"Flavor's disk is too small for requested image. Flavor disk is {root_bytes} bytes, "
                         f"image is {image.size} bytes.")
    if (image.min_disk or 0) * GIB > root_bytes:
        raise Fault(400, "Flavor's disk is smaller than the minimum size specified in image metadata. "
                         f"Flavor disk is {root_bytes} bytes, minimum size is {image.min_disk * GIB} bytes.")


def _fail_builds(db: Database, ctx: RequestContext, uuids: list[str], error: Exception) -> None:
    message = "Build not started: the message bus was unreachable when the server was created."
    LOG.error("could not cast build_instances for %s: %s", ", ".join(uuids), error)
    try:
        with db.writer() as session:
            for uuid in uuids:
                if instances.update_state(session, uuid, {"vm_state": states.ERROR, "task_state": None},
                                          expected={"vm_state": states.BUILDING, "task_state": states.SCHEDULING}):
                    instances.add_fault(session, uuid, message, code=500, details=str(error))
                instances.finish_action(session, uuid, ctx.request_id, message="Error")
    except Exception:
        # The conductor's reconciler finishes them after build_timeout; the client still gets its 503.
        LOG.exception("could not set %s to ERROR after the failed cast", ", ".join(uuids))
