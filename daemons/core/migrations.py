"""Migration records: the moves of a server between hosts, as os-migrations shows them.

Statuses are Nova's, per kind of move:
- resize and cold migration: pre-migrating -> migrating -> post-migrating -> finished
  (VERIFY_RESIZE) -> confirming -> confirmed, or reverting -> reverted;
- live migration: accepted -> preparing -> running -> completed (or failed, cancelled);
- evacuation: accepted -> pre-migrating -> done, then completed once the old host, back up,
  has cleaned up after it.
`error` ends any of them. Every change of status is a compare-and-swap, like an instance's.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.db.models import Migration, utcnow

RESIZE = "resize"
COLD = "migration"
LIVE = "live-migration"
EVACUATION = "evacuation"

# Finished moves: their migration holds no allocations any more.
FINAL = frozenset({"confirmed", "reverted", "completed", "error", "failed", "cancelled"})
# Live migrations still under way (GET /servers/{id}/migrations lists only those).
LIVE_IN_PROGRESS = ("accepted", "queued", "preparing", "running")

FIELDS = ("uuid", "instance_uuid", "migration_type", "status", "source_compute", "source_node", "dest_compute",
          "dest_node", "dest_host", "old_flavor", "new_flavor", "old_vm_state", "options")


class MigrationNotFound(exception.NotFound):
    message = "Migration {migration} could not be found for instance {instance}."


def to_dict(migration: Migration) -> dict[str, Any]:
    """The plain form that travels in RPC messages."""
    return {name: getattr(migration, name) for name in FIELDS}


def create(session: Session, instance, migration_type: str, status: str, new_flavor: dict | None = None,
           new_flavor_id: int | None = None, options: dict | None = None) -> Migration:
    migration = Migration(
        uuid=str(uuidlib.uuid4()), instance_uuid=instance.uuid, project_id=instance.project_id,
        user_id=instance.user_id, migration_type=migration_type, status=status,
        source_compute=instance.host, source_node=instance.node,
        old_instance_type_id=instance.instance_type_id,
        new_instance_type_id=new_flavor_id if new_flavor_id is not None else instance.instance_type_id,
        old_flavor=instance.flavor, new_flavor=new_flavor or instance.flavor, old_vm_state=instance.vm_state,
        options=options or {})
    session.add(migration)
    session.flush()
    return migration


def get(session: Session, uuid: str) -> Migration:
    migration = session.scalars(select(Migration).where(Migration.uuid == uuid)).first()
    if migration is None:
        raise MigrationNotFound(migration=uuid, instance="?")
    return migration


def latest(session: Session, instance_uuid: str, status: str | tuple[str, ...],
           migration_type: str | tuple[str, ...] | None = None) -> Migration | None:
    """The instance's most recent migration in `status` (of `migration_type`), if any."""
    statuses = (status,) if isinstance(status, str) else status
    query = select(Migration).where(Migration.instance_uuid == instance_uuid, Migration.status.in_(statuses))
    if migration_type is not None:
        types = (migration_type,) if isinstance(migration_type, str) else migration_type
        query = query.where(Migration.migration_type.in_(types))
    return session.scalars(query.order_by(Migration.id.desc()).limit(1)).first()


def set_status(session: Session, uuid: str, status: str, expected: str | tuple[str, ...] | None = None,
               **values: Any) -> bool:
    """Move a migration to `status` (and set `values`) if it is still in `expected`."""
    statement = update(Migration).where(Migration.uuid == uuid)
    if expected is not None:
        statement = statement.where(Migration.status.in_((expected,) if isinstance(expected, str) else expected))
    return session.execute(statement.values(status=status, updated_at=utcnow(), **values)).rowcount == 1
