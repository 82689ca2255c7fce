"""Instance records: state transitions, faults and actions, used by the API and the conductor.

Every state change is a compare-and-swap (`update` with `expected`): a step that finds the
instance no longer in the state it expected (deleted meanwhile, already done by an earlier
delivery of the same message, taken over by the reconciler) is told so and backs off. That is
what makes RPC handlers idempotent and races between API, conductor and compute harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception, states
from ncloud.daemons.core.db.models import (
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    utcnow,
)

FIELDS = ("uuid", "project_id", "user_id", "display_name", "hostname", "image_ref", "flavor", "vcpus",
          "memory_mb", "root_gb", "ephemeral_gb", "vm_state", "task_state", "power_state", "host", "node",
          "availability_zone", "key_name", "user_data", "config_drive", "metadata_", "launch_index",
          "reservation_id")


class UnexpectedState(exception.Conflict):
    message = "Instance {uuid} is no longer in the expected state ({detail})."


def to_dict(instance: Instance) -> dict[str, Any]:
    """The plain form of an instance that travels in RPC messages."""
    return {name: getattr(instance, name) for name in FIELDS}


def get(session: Session, uuid: str, project_id: str | None = None, include_deleted: bool = False) -> Instance:
    query = select(Instance).where(Instance.uuid == uuid)
    if not include_deleted:
        query = query.where(Instance.deleted.is_(False))
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    instance = session.scalars(query).first()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return instance


def update_state(session: Session, uuid: str, updates: dict[str, Any],
                 expected: dict[str, Any] | None = None) -> bool:
    """Apply `updates` if the instance still matches `expected`; False when it does not.

    `expected` values may be a single value or a list/tuple of acceptable values. Setting
    `task_state` also restarts the reconciler's clock for it.
    """
    values = dict(updates)
    if "task_state" in values:
        values["task_started_at"] = utcnow() if values["task_state"] is not None else None
    values["updated_at"] = utcnow()
    query = update(Instance).where(Instance.uuid == uuid, Instance.deleted.is_(False))
    for name, want in (expected or {}).items():
        column = getattr(Instance, name)
        if isinstance(want, list | tuple | set | frozenset):
            options = [w for w in want if w is not None]
            clause = column.in_(options)
            if None in want:
                clause = clause | column.is_(None)
            query = query.where(clause)
        elif want is None:
            query = query.where(column.is_(None))
        else:
            query = query.where(column == want)
    return session.execute(query.values(**values)).rowcount == 1


def already_applied(session: Session, uuid: str, updates: dict[str, Any]) -> bool:
    """True when the instance already holds `updates` (timestamps aside): a repeated request."""
    instance = session.scalars(select(Instance).where(Instance.uuid == uuid)).first()
    if instance is None or instance.deleted:
        return False
    return all(getattr(instance, name) == value for name, value in updates.items() if not name.endswith("_at"))


def apply_once(session: Session, uuid: str, updates: dict[str, Any], expected: dict[str, Any]) -> bool:
    """`update_state`, counting an update that is already in place as done.

    A caller whose reply was lost asks again; this answers it as the first time did.
    """
    return update_state(session, uuid, updates, expected) or already_applied(session, uuid, updates)


def require_state(session: Session, uuid: str, updates: dict[str, Any], expected: dict[str, Any]) -> None:
    if not update_state(session, uuid, updates, expected):
        detail = ", ".join(f"{k}={v}" for k, v in expected.items())
        raise UnexpectedState(uuid=uuid, detail=f"expected {detail}")


def mark_deleted(session: Session, uuid: str) -> bool:
    now = utcnow()
    result = session.execute(
        update(Instance).where(Instance.uuid == uuid, Instance.deleted.is_(False)).values(
            vm_state=states.DELETED, task_state=None, task_started_at=None, power_state=states.NOSTATE,
            deleted=True, deleted_at=now, terminated_at=now, updated_at=now))
    return result.rowcount == 1


def add_fault(session: Session, uuid: str, message: str, code: int = 500, details: str | None = None,
              host: str | None = None) -> None:
    """Record what went wrong, in words the server's owner can act on (shown as `fault`)."""
    session.add(InstanceFault(instance_uuid=uuid, code=code, message=message[:255],
                              details=details or (message if len(message) > 255 else None), host=host))


def latest_faults(session: Session, uuids: list[str]) -> dict[str, InstanceFault]:
    if not uuids:
        return {}
    rows = session.scalars(select(InstanceFault).where(InstanceFault.instance_uuid.in_(uuids))
                           .order_by(InstanceFault.id)).all()
    return {row.instance_uuid: row for row in rows}  # later rows overwrite earlier ones


def start_action(session: Session, uuid: str, action: str, request_id: str, user_id: str | None,
                 project_id: str | None) -> None:
    session.add(InstanceAction(action=action, instance_uuid=uuid, request_id=request_id, user_id=user_id,
                               project_id=project_id, start_time=utcnow()))


def _action_id(session: Session, uuid: str, request_id: str | None) -> int | None:
    """The action a request started; with no request id (periodic tasks), the latest one."""
    query = select(InstanceAction.id).where(InstanceAction.instance_uuid == uuid)
    if request_id is not None:
        query = query.where(InstanceAction.request_id == request_id)
    return session.scalar(query.order_by(InstanceAction.id.desc()).limit(1))


def record_event(session: Session, uuid: str, request_id: str | None, event: str, host: str | None,
                 result: str | None = None, details: str | None = None, started: dt.datetime | None = None,
                 finish: bool = False, traceback: str | None = None) -> None:
    """Record one step of an action (`compute_build_and_run_instance`, ...); `result` closes the step,
    `finish` the whole action. An error marks the action's message 'Error', as Nova does."""
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    session.execute(insert(InstanceActionEvent).values(
        action_id=action_id, event=event, start_time=started or now, finish_time=now if result else None,
        result=result, host=host, details=details, traceback=traceback))
    values: dict[str, Any] = {"updated_at": now}
    if result == "Error":
        values["message"] = "Error"
    if finish:
        values["finish_time"] = now
    session.execute(update(InstanceAction).where(InstanceAction.id == action_id).values(**values))


def finish_action(session: Session, uuid: str, request_id: str | None, message: str | None = None) -> None:
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    values: dict[str, Any] = {"finish_time": utcnow(), "updated_at": utcnow()}
    if message:
        values["message"] = message
    session.execute(update(InstanceAction).where(InstanceAction.id == action_id,
                                                 InstanceAction.finish_time.is_(None)).values(**values))
