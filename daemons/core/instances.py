"""Instance records: state transitions, faults and actions, used by the API and the conductor.

Every state change is a compare-and-swap (`update` with `expected`): a step that finds the
instance no longer in the state it expected (deleted meanwhile, already done by an earlier
delivery of the same message, taken over by the reconciler) is told so and backs off. That is
what makes RPC handlers idempotent and races between API, conductor and compute harmless.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception, fixed_ips, migrations, placement, states
from ncloud.daemons.core.db.models import (
    ConsoleAuthToken,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    Migration,
    ServerGroupMember,
    utcnow,
)

FIELDS = ("uuid", "project_id", "user_id", "display_name", "hostname", "image_ref", "flavor", "vcpus",
          "memory_mb", "root_gb", "ephemeral_gb", "vm_state", "task_state", "power_state", "host", "node",
          "availability_zone", "key_name", "key_data", "user_data", "config_drive", "metadata_", "launch_index",
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
    shape = []
    params: dict[str, Any] = {"w_uuid": uuid}
    for name, want in (expected or {}).items():
        if isinstance(want, list | tuple | set | frozenset):
            shape.append((name, "in_or_null" if None in want else "in"))
            params[f"w_{name}"] = [w for w in want if w is not None]
        elif want is None:
            shape.append((name, "null"))
        else:
            shape.append((name, "eq"))
            params[f"w_{name}"] = want
    params.update({f"v_{name}": value for name, value in values.items()})
    statement = _compare_and_swap(tuple(values), tuple(shape))
    return session.connection().execute(statement, params).rowcount == 1


_INSTANCES = Instance.__table__
_COLUMNS = {attribute.key: attribute.columns[0] for attribute in Instance.__mapper__.column_attrs}


@functools.lru_cache(maxsize=256)
def _compare_and_swap(names: tuple[str, ...], shape: tuple[tuple[str, str], ...]):
    """The UPDATE for one shape of `update_state` call, built once.

    A handful of shapes cover every state change, and a Core statement with bound parameters,
    built once, costs a fraction of building an ORM update per call (a third of the
    conductor's work in a boot went there).
    """
    statement = update(_INSTANCES).where(_INSTANCES.c.uuid == bindparam("w_uuid"), _INSTANCES.c.deleted.is_(False))
    for name, test in shape:
        column = _COLUMNS[name]
        if test == "null":
            statement = statement.where(column.is_(None))
        elif test == "eq":
            statement = statement.where(column == bindparam(f"w_{name}", type_=column.type))
        else:
            clause = column.in_(bindparam(f"w_{name}", expanding=True, type_=column.type))
            statement = statement.where(clause | column.is_(None) if test == "in_or_null" else clause)
    return statement.values({_COLUMNS[name]: bindparam(f"v_{name}", type_=_COLUMNS[name].type) for name in names})


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
    if result.rowcount == 1:  # a deleted server leaves its group, as in Nova, and its consoles close
        session.execute(delete(ServerGroupMember).where(ServerGroupMember.instance_uuid == uuid))
        session.execute(delete(ConsoleAuthToken).where(ConsoleAuthToken.instance_uuid == uuid))
        fixed_ips.release(session, [uuid])  # its address is free for the next server
        # A move under way ends with it, and the allocations it held on the other host go.
        for migration_uuid in session.scalars(select(Migration.uuid).where(
                Migration.instance_uuid == uuid, Migration.status.not_in(migrations.FINAL))).all():
            placement.release(session, migration_uuid)
            migrations.set_status(session, migration_uuid, "error")
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


_ACTIONS = InstanceAction.__table__
_ACTION_OF_REQUEST = (select(_ACTIONS.c.id).where(_ACTIONS.c.instance_uuid == bindparam("uuid"),
                                                  _ACTIONS.c.request_id == bindparam("request_id"))
                      .order_by(_ACTIONS.c.id.desc()).limit(1))
_LATEST_ACTION = (select(_ACTIONS.c.id).where(_ACTIONS.c.instance_uuid == bindparam("uuid"))
                  .order_by(_ACTIONS.c.id.desc()).limit(1))
_INSERT_EVENT = insert(InstanceActionEvent.__table__)


def _action_id(session: Session, uuid: str, request_id: str | None) -> int | None:
    """The action a request started; with no request id (periodic tasks), the latest one."""
    if request_id is None:
        return session.connection().scalar(_LATEST_ACTION, {"uuid": uuid})
    return session.connection().scalar(_ACTION_OF_REQUEST, {"uuid": uuid, "request_id": request_id})


@functools.lru_cache(maxsize=16)
def _update_action(names: tuple[str, ...], unfinished_only: bool):
    statement = update(_ACTIONS).where(_ACTIONS.c.id == bindparam("w_id"))
    if unfinished_only:
        statement = statement.where(_ACTIONS.c.finish_time.is_(None))
    return statement.values({_ACTIONS.c[name]: bindparam(f"v_{name}") for name in names})


def _set_action(session: Session, action_id: int, values: dict[str, Any], unfinished_only: bool = False) -> None:
    session.connection().execute(_update_action(tuple(values), unfinished_only),
                                 {"w_id": action_id, **{f"v_{name}": value for name, value in values.items()}})


def record_event(session: Session, uuid: str, request_id: str | None, event: str, host: str | None,
                 result: str | None = None, details: str | None = None, started: dt.datetime | None = None,
                 finish: bool = False, traceback: str | None = None) -> None:
    """Record one step of an action (`compute_build_and_run_instance`, ...); `result` closes the step,
    `finish` the whole action. An error marks the action's message 'Error', as Nova does."""
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    session.connection().execute(_INSERT_EVENT, {
        "action_id": action_id, "event": event, "start_time": started or now, "finish_time": now if result else None,
        "result": result, "host": host, "details": details, "traceback": traceback})
    values: dict[str, Any] = {"updated_at": now}
    if result == "Error":
        values["message"] = "Error"
    if finish:
        values["finish_time"] = now
    _set_action(session, action_id, values)


def finish_action(session: Session, uuid: str, request_id: str | None, message: str | None = None) -> None:
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    values: dict[str, Any] = {"finish_time": utcnow(), "updated_at": utcnow()}
    if message:
        values["message"] = message
    _set_action(session, action_id, values, unfinished_only=True)
