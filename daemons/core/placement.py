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
import uuid as uuidlib
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.db.models import Allocation, Inventory, ResourceProvider
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
        provider.generation += 1


def inventories(session: Session, provider_ids: list[int] | None = None) -> dict[int, dict[str, InventoryRecord]]:
    query = select(Inventory)
    if provider_ids is not None:
        query = query.where(Inventory.resource_provider_id.in_(provider_ids))
    result: dict[int, dict[str, InventoryRecord]] = defaultdict(dict)
    for row in session.scalars(query):
        result[row.resource_provider_id][row.resource_class] = InventoryRecord(
            row.total, row.reserved, row.min_unit, row.max_unit, row.step_size, row.allocation_ratio)
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
    """The provider no longer has room (another claim won the race for it)."""

    def __init__(self, short: dict[str, str]):
        self.short = short
        super().__init__("; ".join(short.values()))


class _GenerationConflict(Exception):
    pass


def claim(db: Database, consumer_id: str, provider_id: int, resources: dict[str, int],
          retries: int = 10) -> None:
    """Allocate `resources` on a provider for a consumer, atomically; idempotent per consumer.

    Raises ClaimFailed when the provider is full, ResourceProviderConcurrentUpdate when it
    lost `retries` generation races in a row.
    """

    def attempt() -> None:
        with db.writer() as session:
            provider = session.get(ResourceProvider, provider_id)
            if provider is None:
                raise ClaimFailed({"provider": "the compute node is gone"})
            existing = session.scalars(select(Allocation).where(Allocation.consumer_id == consumer_id)).all()
            if existing and all(row.resource_provider_id == provider_id for row in existing):
                return  # already claimed by an earlier delivery of the same request
            if existing:
                raise ClaimFailed({"consumer": f"{consumer_id} already holds allocations elsewhere"})
            generation = provider.generation
            short = shortfall(inventories(session, [provider_id]).get(provider_id, {}),
                              usages(session, [provider_id]).get(provider_id, {}), resources)
            if short:
                raise ClaimFailed(short)
            session.add_all(Allocation(resource_provider_id=provider_id, consumer_id=consumer_id,
                                       resource_class=rc, used=amount) for rc, amount in resources.items())
            bumped = session.execute(
                update(ResourceProvider)
                .where(ResourceProvider.id == provider_id, ResourceProvider.generation == generation)
                .values(generation=generation + 1)).rowcount
            if bumped != 1:
                raise _GenerationConflict()

    for _ in range(retries):
        try:
            retry_on_deadlock(attempt)
            return
        except _GenerationConflict:
            continue
    raise exception.ResourceProviderConcurrentUpdate(name=str(provider_id), generation="?")


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


def allocations_of(session: Session, consumer_id: str) -> dict[str, int]:
    rows = session.scalars(select(Allocation).where(Allocation.consumer_id == consumer_id))
    return {row.resource_class: row.used for row in rows}


def new_uuid() -> str:
    return str(uuidlib.uuid4())
