"""Resource accounting after OpenStack Placement: providers, inventories, allocations, claims.

A resource provider (one per compute node) has an inventory per resource class (VCPU, MEMORY_MB,
DISK_GB): `total`, `reserved`, `allocation_ratio`, `min_unit`/`max_unit`/`step_size`. Its capacity
is `(total - reserved) * allocation_ratio`. Allocations record what each consumer (an instance)
uses on which provider.

A claim is one transaction that reads the provider's generation, checks capacity, writes the
allocations and bumps the generation only if nobody else did meanwhile; a lost race retries
with fresh figures. So two schedulers, or many threads of one, can never over-commit a host,
on SQLite, MariaDB or PostgreSQL alike, without holding a lock across the whole scheduling pass.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, exc, func, insert, select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.db.models import Allocation, Inventory, ResourceProvider, utcnow
from ncloud.daemons.core.db.session import Database, retry_on_deadlock

LOG = logging.getLogger(__name__)

VCPU = "VCPU"
MEMORY_MB = "MEMORY_MB"
DISK_GB = "DISK_GB"
RESOURCE_CLASSES = (VCPU, MEMORY_MB, DISK_GB)


def flavor_resources(flavor: dict) -> dict[str, int]:
    """What a server of this flavor consumes (swap is in MiB, as in Nova)."""
    disk = flavor.get("root_gb", 0) + flavor.get("ephemeral_gb", 0) + -(-flavor.get("swap", 0) // 1024)
    resources = {VCPU: flavor["vcpus"], MEMORY_MB: flavor["memory_mb"], DISK_GB: disk}
    return {rc: amount for rc, amount in resources.items() if amount > 0}


@dataclass(frozen=True)
class InventoryRecord:
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        return int((self.total - self.reserved) * self.allocation_ratio)


def shortfall(inventory: dict[str, InventoryRecord], usage: dict[str, int],
              request: dict[str, int]) -> dict[str, str]:
    """Why `request` does not fit: {resource class: explanation}; empty when it fits."""
    short = {}
    for rc, amount in request.items():
        record = inventory.get(rc)
        if record is None:
            short[rc] = f"{rc}: the host has none"
            continue
        max_unit = record.max_unit if record.max_unit is not None else record.total
        if amount < record.min_unit or amount > max_unit:
            short[rc] = f"{rc}: {amount} is outside {record.min_unit}..{max_unit} per server"
            continue
        if record.step_size > 1 and amount % record.step_size:
            short[rc] = f"{rc}: {amount} is not a multiple of {record.step_size}"
            continue
        free = record.capacity - usage.get(rc, 0)
        if amount > free:
            short[rc] = f"{rc}: {amount} requested, {max(free, 0)} free of {record.capacity}"
    return short


def ensure_provider(session: Session, uuid: str, name: str, inventory: dict[str, InventoryRecord]) -> None:
    """Create the provider if needed and set its inventory, bumping the generation on change."""
    provider = session.scalars(select(ResourceProvider).where(ResourceProvider.uuid == uuid)).first()
    if provider is None:
        provider = ResourceProvider(uuid=uuid, name=name, generation=0)
        session.add(provider)
        session.flush()
    current = {row.resource_class: row for row in
               session.scalars(select(Inventory).where(Inventory.resource_provider_id == provider.id))}
    changed = False
    for rc, record in inventory.items():
        values = {"total": record.total, "reserved": record.reserved, "min_unit": record.min_unit,
                  "max_unit": record.max_unit if record.max_unit is not None else record.total,
                  "step_size": record.step_size, "allocation_ratio": record.allocation_ratio}
        row = current.pop(rc, None)
        if row is None:
            session.add(Inventory(resource_provider_id=provider.id, resource_class=rc, **values))
            changed = True
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changed = True
    for row in current.values():
        session.delete(row)
        changed = True
    if changed:
        # In SQL, not in Python: a claim may have bumped the generation since we read the row, and
        # writing back our old value + 1 would hide that claim from the next generation check.
        session.execute(update(ResourceProvider).where(ResourceProvider.id == provider.id)
                        .values(generation=ResourceProvider.generation + 1))


@dataclass
class ProviderSnapshot:
    """A provider as read at one moment: valid for a claim as long as its generation is unchanged
    (every change of inventory or allocations bumps the generation)."""

    provider_id: int
    generation: int
    inventory: dict[str, InventoryRecord]
    usage: dict[str, int]


def snapshots(session: Session, provider_ids: list[int] | None = None) -> dict[int, ProviderSnapshot]:
    """Generation, inventory and usage of providers, in three queries whatever their number."""
    providers = select(ResourceProvider.id, ResourceProvider.generation)
    if provider_ids is not None:
        providers = providers.where(ResourceProvider.id.in_(provider_ids))
    found = {pid: ProviderSnapshot(pid, generation, {}, {}) for pid, generation in session.execute(providers)}
    for pid, records in inventories(session, list(found)).items():
        found[pid].inventory = records
    for pid, used in usages(session, list(found)).items():
        found[pid].usage = used
    return found


def inventories(session: Session, provider_ids: list[int] | None = None) -> dict[int, dict[str, InventoryRecord]]:
    query = select(Inventory.resource_provider_id, Inventory.resource_class, Inventory.total, Inventory.reserved,
                   Inventory.min_unit, Inventory.max_unit, Inventory.step_size, Inventory.allocation_ratio)
    if provider_ids is not None:
        query = query.where(Inventory.resource_provider_id.in_(provider_ids))
    result: dict[int, dict[str, InventoryRecord]] = defaultdict(dict)
    for pid, rc, *figures in session.execute(query):
        result[pid][rc] = InventoryRecord(*figures)
    return result


def usages(session: Session, provider_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    query = (select(Allocation.resource_provider_id, Allocation.resource_class, func.sum(Allocation.used))
             .group_by(Allocation.resource_provider_id, Allocation.resource_class))
    if provider_ids is not None:
        query = query.where(Allocation.resource_provider_id.in_(provider_ids))
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for provider_id, rc, used in session.execute(query):
        result[provider_id][rc] = int(used)
    return result


class ClaimFailed(Exception):
    """The provider has no room for the request."""

    def __init__(self, short: dict[str, str]):
        self.short = short
        super().__init__("; ".join(short.values()))


class AlreadyClaimed(Exception):
    """The consumer holds allocations already, on these providers."""

    def __init__(self, provider_ids: set[int]):
        self.provider_ids = provider_ids
        super().__init__(f"already allocated on provider(s) {sorted(provider_ids)}")


class _GenerationConflict(Exception):
    pass


def _read(db: Database, provider_id: int) -> ProviderSnapshot:
    with db.reader() as session:
        found = snapshots(session, [provider_id]).get(provider_id)
    if found is None:
        raise ClaimFailed({"provider": "the compute node is gone"})
    return found


def holders(db: Database, consumer_id: str) -> set[int]:
    """The providers a consumer holds allocations on."""
    with db.reader() as session:
        return set(session.scalars(select(Allocation.resource_provider_id)
                                   .where(Allocation.consumer_id == consumer_id)))


def claim(db: Database, consumer_id: str, provider_id: int, resources: dict[str, int], retries: int = 10,
          snapshot: ProviderSnapshot | None = None) -> ProviderSnapshot:
    """Allocate `resources` on a provider for a consumer, atomically; idempotent per consumer.

    The capacity check uses `snapshot` (the provider as the caller last read it) when given, and
    the write succeeds only if the provider's generation is still the snapshot's: then nothing
    changed since the read and the check holds. A lost race reads the provider again and retries.
    Returns the provider as it is after the claim. Raises ClaimFailed when the provider is full,
    AlreadyClaimed when the consumer holds allocations already (a repeated request),
    ResourceProviderConcurrentUpdate after `retries` lost races in a row.
    """
    fresh = snapshot is None
    current = snapshot or _read(db, provider_id)
    for _ in range(retries):
        short = shortfall(current.inventory, current.usage, resources)
        if short and not fresh:  # the caller's view may be stale in the other direction too
            current, fresh = _read(db, provider_id), True
            continue
        if short:
            raise ClaimFailed(short)
        try:
            retry_on_deadlock(lambda snap=current: _write_claim(db, consumer_id, snap, resources))
        except _GenerationConflict:
            current, fresh = _read(db, provider_id), True
            continue
        except exc.IntegrityError:
            # One allocation per consumer and resource class: an earlier (or concurrent) delivery of
            # the same request claimed already.
            raise AlreadyClaimed(holders(db, consumer_id)) from None
        usage = dict(current.usage)
        for rc, amount in resources.items():
            usage[rc] = usage.get(rc, 0) + amount
        return ProviderSnapshot(provider_id, current.generation + 1, current.inventory, usage)
    raise exception.ResourceProviderConcurrentUpdate(name=str(provider_id), generation=current.generation)


def _write_claim(db: Database, consumer_id: str, snapshot: ProviderSnapshot, resources: dict[str, int]) -> None:
    with db.writer() as session:
        # The generation bump first: on MariaDB/PostgreSQL it also locks the provider's row, so
        # concurrent claims on one provider queue here instead of deadlocking later.
        bumped = session.execute(
            update(ResourceProvider)
            .where(ResourceProvider.id == snapshot.provider_id, ResourceProvider.generation == snapshot.generation)
            .values(generation=snapshot.generation + 1)).rowcount
        if bumped != 1:
            raise _GenerationConflict()
        session.execute(insert(Allocation), [
            {"resource_provider_id": snapshot.provider_id, "consumer_id": consumer_id, "resource_class": rc,
             "used": amount, "created_at": utcnow()} for rc, amount in resources.items()])


def release(session: Session, consumer_id: str) -> int:
    """Remove every allocation of a consumer; returns how many rows went. Idempotent."""
    rows = session.scalars(select(Allocation).where(Allocation.consumer_id == consumer_id)).all()
    if not rows:
        return 0
    for provider_id in {row.resource_provider_id for row in rows}:
        session.execute(update(ResourceProvider).where(ResourceProvider.id == provider_id)
                        .values(generation=ResourceProvider.generation + 1))
    session.execute(delete(Allocation).where(Allocation.consumer_id == consumer_id))
    return len(rows)


def holds(session: Session, consumer_id: str) -> bool:
    """Whether a consumer holds any allocation."""
    return session.scalar(select(Allocation.id).where(Allocation.consumer_id == consumer_id).limit(1)) is not None


def move(session: Session, from_consumer: str, to_consumer: str) -> int:
    """Hand every allocation of one consumer to another (a server's to its migration and back).

    Usage on the providers does not change, but their generations are bumped: a claim racing
    with the move re-reads them. Idempotent: a repeated move finds nothing left to hand over.
    """
    providers = set(session.scalars(select(Allocation.resource_provider_id)
                                    .where(Allocation.consumer_id == from_consumer)))
    if not providers:
        return 0
    session.execute(update(ResourceProvider).where(ResourceProvider.id.in_(providers))
                    .values(generation=ResourceProvider.generation + 1))
    return session.execute(update(Allocation).where(Allocation.consumer_id == from_consumer)
                           .values(consumer_id=to_consumer)).rowcount
