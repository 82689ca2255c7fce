"""POST /servers/{id}/action: the power actions, lock/unlock and the console log.

A power action is Nova's: the server must be in a state the action applies to (else 409 in
Nova's words), and not locked unless the caller is an admin. Its task state is set by
compare-and-swap together with the instance action record, and only after that commit is the
work cast to the server's host; the compute clears the task state when done (or records a fault),
and the reconciler's timeout bounds it if the host never answers. If the cast cannot be
published, the task state is put back and the client gets 503: nothing is left waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ncloud.daemons.api import boot, policy, server_query
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import exception, instances, quotas, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.session import Database


@dataclass(frozen=True)
class PowerAction:
    compute_action: str  # the compute manager's name (compute/manager.py ACTIONS)
    record: str  # the instance action's name, as Nova records it
    rule: str
    vm_states: tuple[str, ...]
    task_state: str
    task_states: tuple[str | None, ...] = (None,)  # task states the action may start from


POWER_ACTIONS = {
    "os-stop": PowerAction("stop", "stop", "os_compute_api:servers:stop", (states.ACTIVE, states.ERROR),
                           states.POWERING_OFF),
    "os-start": PowerAction("start", "start", "os_compute_api:servers:start", (states.STOPPED,),
                            states.POWERING_ON),
    "pause": PowerAction("pause", "pause", "os_compute_api:os-pause-server:pause", (states.ACTIVE,),
                         states.PAUSING),
    "unpause": PowerAction("unpause", "unpause", "os_compute_api:os-pause-server:unpause", (states.PAUSED,),
                           states.UNPAUSING),
    "suspend": PowerAction("suspend", "suspend", "os_compute_api:os-suspend-server:suspend", (states.ACTIVE,),
                           states.SUSPENDING),
    "resume": PowerAction("resume", "resume", "os_compute_api:os-suspend-server:resume", (states.SUSPENDED,),
                          states.RESUMING),
}
SOFT_REBOOT = PowerAction("reboot", "reboot", "os_compute_api:servers:reboot", (states.ACTIVE,), states.REBOOTING)
# A hard reboot also rescues a server that is stuck rebooting, stopped, paused, suspended or broken.
HARD_REBOOT = PowerAction("reboot_hard", "reboot", "os_compute_api:servers:reboot",
                          (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR),
                          states.REBOOTING_HARD,
                          (None, states.REBOOTING, states.REBOOTING_HARD))


def invalid_state(action: str, uuid: str, attribute: str, value: str | None) -> Fault:
    return Fault(409, f"Cannot '{action}' instance {uuid} while it is in {attribute} {value}")


RESCUE = PowerAction("rescue", "rescue", "os_compute_api:os-rescue", (states.ACTIVE, states.STOPPED, states.ERROR),
                     states.RESCUING)
UNRESCUE = PowerAction("unrescue", "unrescue", "os_compute_api:os-unrescue", (states.RESCUED,), states.UNRESCUING)
RESTORE = PowerAction("restore", "restore", "os_compute_api:os-deferred-delete:restore", (states.SOFT_DELETED,),
                      states.RESTORING)


def power(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, name: str,
          action: PowerAction, changes: dict | None = None, **options) -> None:
    """Start `action`; `changes`: more columns to set with its task state (restore's deleted_at)."""
    with db.writer() as session:
        instance = server_query.authorized(session, ctx, uuid, action.rule)
        check_not_locked(ctx, instance)
        if instance.vm_state not in action.vm_states:
            raise invalid_state(name, uuid, "vm_state", instance.vm_state)
        if instance.task_state not in action.task_states:
            raise invalid_state(name, uuid, "task_state", instance.task_state)
        if not instance.host:
            raise invalid_state(name, uuid, "vm_state", instance.vm_state)
        previous = instance.task_state
        if not instances.update_state(session, uuid, {"task_state": action.task_state, **(changes or {})},
                                      expected={"vm_state": instance.vm_state, "task_state": previous,
                                                "host": instance.host}):
            raise Fault(409, f"Instance {uuid} changed state while '{name}' was being started; retry.")
        instances.start_action(session, uuid, action.record, ctx.request_id, ctx.user_id, ctx.project_id)
        host, payload = instance.host, {**instances.to_dict(instance), "task_state": action.task_state}
    send_or_undo(db, ctx, uuid, action.task_state, lambda: compute.power_action(
        ctx, host, payload, action.compute_action, **options), previous=previous)


def send_or_undo(db: Database, ctx: RequestContext, uuid: str, task_state: str, send, previous: str | None = None,
                 restore: dict | None = None, undo=None):
    """Send the work (after the commit that set `task_state`); if the message bus refuses it, put
    the task state back to `previous` (with the columns of `restore`, and `undo(session)` in the
    same transaction) and close the action as an error: nothing is left waiting for work that was
    never sent. The client then gets the 503 of the refusal."""
    try:
        return send()
    except exception.MessagingUnavailable:
        with db.writer() as session:
            instances.update_state(session, uuid, {"task_state": previous, **(restore or {})},
                                   expected={"task_state": task_state})
            if undo is not None:
                undo(session)
            instances.finish_action(session, uuid, ctx.request_id, message="Error")
        raise


def startable(session, ctx: RequestContext, uuid: str, name: str, rule: str, vm_states: tuple[str, ...],
              needs_host: bool = True):
    """The server, if `name` may start on it now: the caller may (`rule`), it is not locked, it is
    in one of `vm_states`, on a host (an offloaded server has none) and doing nothing else. Else
    Nova's 404, 403 or 409."""
    instance = server_query.authorized(session, ctx, uuid, rule)
    check_not_locked(ctx, instance)
    if instance.vm_state not in vm_states or (
            needs_host and not instance.host and instance.vm_state != states.SHELVED_OFFLOADED):
        raise invalid_state(name, uuid, "vm_state", instance.vm_state)
    if instance.task_state is not None:
        raise invalid_state(name, uuid, "task_state", instance.task_state)
    return instance


def begin(session, ctx: RequestContext, uuid: str, name: str, rule: str, vm_states: tuple[str, ...],
          task_state: str, action: str):
    """`startable`, then its task state set by compare-and-swap and the instance action `action`
    recorded, in the caller's transaction; the work is sent after its commit."""
    instance = startable(session, ctx, uuid, name, rule, vm_states)
    if not instances.update_state(session, uuid, {"task_state": task_state},
                                  expected={"vm_state": instance.vm_state, "task_state": None, "host": instance.host}):
        raise Fault(409, f"Instance {uuid} changed state while '{name}' was being started; retry.")
    instances.start_action(session, uuid, action, ctx.request_id, ctx.user_id, ctx.project_id)
    return instance


def check_not_locked(ctx: RequestContext, instance) -> None:
    """A locked server refuses changes from anyone but an admin (Nova's rule)."""
    if instance.locked and not ctx.is_admin:
        raise Fault(409, f"Instance {instance.uuid} is locked")


def lock(db: Database, ctx: RequestContext, uuid: str, reason: str | None) -> None:
    with db.writer() as session:
        instance = server_query.authorized(session, ctx, uuid, "os_compute_api:os-lock-server:lock")
        instances.start_action(session, uuid, "lock", ctx.request_id, ctx.user_id, ctx.project_id)
        owner = instance.project_id == ctx.project_id
        instances.update_state(session, uuid, {"locked": True, "locked_by": "owner" if owner else "admin",
                                               "locked_reason": reason})
        instances.finish_action(session, uuid, ctx.request_id)


def unlock(db: Database, ctx: RequestContext, uuid: str) -> None:
    with db.writer() as session:
        instance = server_query.authorized(session, ctx, uuid, "os_compute_api:os-lock-server:unlock")
        if instance.locked and instance.locked_by == "admin" and instance.project_id == ctx.project_id:
            # An admin's lock on the owner's server: only the admin (override) may lift it.
            policy.authorize(ctx, "os_compute_api:os-lock-server:unlock:unlock_override",
                             {"project_id": instance.project_id})
        instances.start_action(session, uuid, "unlock", ctx.request_id, ctx.user_id, ctx.project_id)
        instances.update_state(session, uuid, {"locked": False, "locked_by": None, "locked_reason": None})
        instances.finish_action(session, uuid, ctx.request_id)


def console_output(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, length: int | None) -> str:
    with db.reader() as session:
        instance = server_query.authorized(session, ctx, uuid, "os_compute_api:os-console-output")
        # As Nova: any server that has a host, but not while it is deleted or live-migrating away.
        if instance.task_state in (states.DELETING, states.MIGRATING):
            raise invalid_state("get_console_output", uuid, "task_state", instance.task_state)
        if not instance.host or instance.vm_state in (states.SHELVED_OFFLOADED, states.BUILDING):
            raise invalid_state("get_console_output", uuid, "vm_state", instance.vm_state)
        host, payload = instance.host, instances.to_dict(instance)
    try:
        return compute.get_console_output(ctx, host, payload, length)
    except exception.MessagingTimeout:
        raise Fault(409, f"The console of {uuid} is not available: its host {host} did not answer.") from None


def change_password(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, password: str) -> None:
    """changePassword: the compute sets it through the guest's agent while the API waits."""
    with db.writer() as session:
        instance = server_query.authorized(session, ctx, uuid, "os_compute_api:os-admin-password")
        check_not_locked(ctx, instance)
        if instance.vm_state != states.ACTIVE or not instance.host:
            raise invalid_state("changePassword", uuid, "vm_state", instance.vm_state)
        if not instances.update_state(session, uuid, {"task_state": states.UPDATING_PASSWORD},
                                      expected={"task_state": None, "vm_state": states.ACTIVE}):
            raise invalid_state("changePassword", uuid, "task_state", instance.task_state)
        instances.start_action(session, uuid, "changePassword", ctx.request_id, ctx.user_id, ctx.project_id)
        host, payload = instance.host, {**instances.to_dict(instance), "task_state": states.UPDATING_PASSWORD}
    try:
        send_or_undo(db, ctx, uuid, states.UPDATING_PASSWORD,
                     lambda: compute.set_admin_password(ctx, host, payload, password))
    except exception.RemoteError as error:  # the driver could not: the compute recorded why and cleared the task
        raise Fault(409, f"Unable to set password on instance {uuid}: {error.value}") from None


CRASH_DUMP_VM_STATES = (states.ACTIVE, states.PAUSED, states.RESCUED, states.RESIZED, states.ERROR)


def trigger_crash_dump(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str) -> None:
    with db.writer() as session:
        instance = startable(session, ctx, uuid, "trigger_crash_dump", "os_compute_api:servers:trigger_crash_dump",
                             CRASH_DUMP_VM_STATES)
        instances.start_action(session, uuid, "trigger_crash_dump", ctx.request_id, ctx.user_id, ctx.project_id)
        host, payload = instance.host, instances.to_dict(instance)
    compute.trigger_crash_dump(ctx, host, payload)


def reset_state(db: Database, ctx: RequestContext, uuid: str, state: str) -> None:
    """os-resetState (admins): the way out of a state nothing else will change."""
    with db.writer() as session:
        server_query.authorized(session, ctx, uuid, "os_compute_api:os-admin-actions:reset_state")
        instances.start_action(session, uuid, "reset_state", ctx.request_id, ctx.user_id, ctx.project_id)
        instances.update_state(session, uuid, {"vm_state": state, "task_state": None})
        instances.finish_action(session, uuid, ctx.request_id)


def lock_reason(version: APIVersion, body: dict | None) -> str | None:
    """2.73's `locked_reason`; before 2.73 the lock action takes no body."""
    if version < (2, 73) or not body:
        return None
    return body.get("locked_reason")


REBUILD_VM_STATES = (states.ACTIVE, states.STOPPED, states.ERROR)
# What a rebuild may change besides the image: request key -> instance column.
_REBUILD_FIELDS = {"name": "display_name", "description": "description", "user_data": "user_data",
                   "trusted_image_certificates": "trusted_certs", "hostname": "hostname"}


def rebuild(conf: Config, db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, request: dict,
            answer: Callable[[], dict]) -> dict:
    """Recreate the server from an image on its host, keeping its identity; returns the body `answer` made.

    `request` has passed the schema of its microversion: only that version's keys are present.
    The new name, metadata (replacing the old), key and user data are committed with the task
    state, as in Nova; the compute brings the server back ACTIVE (SHUTOFF if it was stopped).
    `answer` runs after that commit and before the compute is asked, so the response shows the
    server in REBUILD as Nova's does, never the state a fast compute has already moved it on to.
    """
    with db.writer() as session:
        instance = startable(session, ctx, uuid, "rebuild", "os_compute_api:servers:rebuild", REBUILD_VM_STATES)
        image = boot.usable_image(session, ctx, request["imageRef"])
        boot.check_image_fits(instance, image)
        updates = {column: request[key] for key, column in _REBUILD_FIELDS.items() if key in request}
        updates.update({"image_ref": image.id, "task_state": states.REBUILDING})
        if "metadata" in request:
            allowed = quotas.project_limits(conf, session, instance.project_id, instance.user_id)["metadata_items"]
            if allowed != quotas.UNLIMITED and len(request["metadata"]) > allowed:
                raise quotas.TooManyMetadataItems(allowed=allowed)
            updates["metadata_"] = dict(request["metadata"])
        if "key_name" in request:  # 2.54; null removes the key
            updates.update({"key_name": request["key_name"],
                            "key_data": boot.public_key(session, ctx, request["key_name"])})
        if not instances.update_state(session, uuid, updates, expected={"vm_state": instance.vm_state,
                                                                        "task_state": None, "host": instance.host}):
            raise Fault(409, f"Instance {uuid} changed state while 'rebuild' was being started; retry.")
        instances.start_action(session, uuid, "rebuild", ctx.request_id, ctx.user_id, ctx.project_id)
        host, stopped = instance.host, instance.vm_state == states.STOPPED
        session.expire(instance)
        payload, wanted = instances.to_dict(instance), image_info(image)
    answered = answer()
    send_or_undo(db, ctx, uuid, states.REBUILDING,
                 lambda: compute.rebuild_instance(ctx, host, payload, wanted, None, stopped))
    return answered


def image_info(image) -> dict:
    """What a host needs of an image to build a server from it."""
    return {"id": image.id, "min_ram": image.min_ram or 0, "min_disk": image.min_disk or 0,
            "properties": image.properties or {}}


def rescue(db: Database, compute: ComputeAPI, ctx: RequestContext, uuid: str, request: dict | None) -> None:
    """Boot the server from a rescue image (the one asked for, else its own) with its disk attached."""
    request = request or {}
    with db.reader() as session:
        instance = server_query.authorized(session, ctx, uuid, RESCUE.rule)
        image = boot.usable_image(session, ctx, request.get("rescue_image_ref") or instance.image_ref)
        wanted = image_info(image)
    power(db, compute, ctx, uuid, "rescue", RESCUE, image=wanted)
