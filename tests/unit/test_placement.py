"""Placement accounting: capacity, claims that never over-commit, and releases."""

import threading
import uuid

import pytest
from sqlalchemy import func, select

from ncloud.daemons.core import placement
from ncloud.daemons.core.db.models import Allocation, ResourceProvider
from ncloud.daemons.core.db.session import Database

INVENTORY = {
    placement.VCPU: placement.InventoryRecord(total=8, reserved=0, allocation_ratio=1.0, max_unit=8),
    placement.MEMORY_MB: placement.InventoryRecord(total=4608, reserved=512, allocation_ratio=1.0, max_unit=4608),
    placement.DISK_GB: placement.InventoryRecord(total=100, reserved=0, allocation_ratio=1.0, max_unit=100),
}
SMALL = {placement.VCPU: 1, placement.MEMORY_MB: 512, placement.DISK_GB: 1}  # 8 fit by MEMORY_MB (4096/512)


def make_provider(db, name="node1"):
    with db.writer() as session:
        placement.ensure_provider(session, str(uuid.uuid4()), name, INVENTORY)
    with db.reader() as session:
        return session.scalars(select(ResourceProvider.id).where(ResourceProvider.name == name)).one()


def test_capacity_is_total_minus_reserved_times_ratio():
    record = placement.InventoryRecord(total=16, reserved=2, allocation_ratio=4.0)
    assert record.capacity == 56


def test_shortfall_names_the_resource_and_figures():
    short = placement.shortfall(INVENTORY, {placement.MEMORY_MB: 4000}, SMALL)
    assert short == {placement.MEMORY_MB: "MEMORY_MB: 512 requested, 96 free of 4096"}


def test_flavor_resources_count_swap_in_disk():
    flavor = {"vcpus": 2, "memory_mb": 1024, "root_gb": 10, "ephemeral_gb": 5, "swap": 1536}
    assert placement.flavor_resources(flavor) == {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 17}


def test_claim_records_allocations_and_bumps_generation(db):
    provider = make_provider(db)
    placement.claim(db, "consumer-1", provider, SMALL)
    with db.reader() as session:
        rows = session.scalars(select(Allocation).where(Allocation.consumer_id == "consumer-1"))
        assert {row.resource_class: row.used for row in rows} == SMALL
        assert session.get(ResourceProvider, provider).generation == 2  # 1 for the inventory, 1 for the claim


def test_a_consumer_cannot_claim_twice(db):
    """A repeated request (a redelivered message) is told where its claim already is."""
    provider = make_provider(db)
    placement.claim(db, "consumer-1", provider, SMALL)
    with pytest.raises(placement.AlreadyClaimed) as claimed:
        placement.claim(db, "consumer-1", provider, SMALL)
    assert claimed.value.provider_ids == {provider}
    with db.reader() as session:
        assert placement.usages(session)[provider][placement.MEMORY_MB] == 512


def test_claim_fails_when_full(db):
    provider = make_provider(db)
    for n in range(8):
        placement.claim(db, f"c{n}", provider, SMALL)
    with pytest.raises(placement.ClaimFailed, match="MEMORY_MB: 512 requested, 0 free of 4096"):
        placement.claim(db, "c8", provider, SMALL)


def test_release_frees_capacity(db):
    provider = make_provider(db)
    placement.claim(db, "c1", provider, SMALL)
    with db.writer() as session:
        assert placement.release(session, "c1") == 3
        assert placement.release(session, "c1") == 0
    with db.reader() as session:
        assert placement.usages(session).get(provider, {}) == {}


def test_concurrent_claims_from_two_schedulers_never_overcommit(db):
    """Two 'schedulers' (separate engines and pools, as two processes would have) race with
    eight threads each for a host that has room for exactly 8 servers."""
    provider = make_provider(db)
    second = Database(str(db.url.render_as_string(hide_password=False)))
    won, lost, errors = [], [], []

    def worker(database, prefix):
        for n in range(5):
            consumer = f"{prefix}-{n}"
            try:
                placement.claim(database, consumer, provider, SMALL, retries=50)
                won.append(consumer)
            except placement.ClaimFailed:
                lost.append(consumer)
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(database, f"s{i}-t{t}"))
               for i, database in enumerate((db, second)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.dispose()
    assert errors == []
    assert len(won) == 8 and len(lost) == 32
    with db.reader() as session:
        used = session.scalar(select(func.sum(Allocation.used)).where(Allocation.resource_class == "MEMORY_MB"))
        assert used == 4096


def test_shortfall_respects_step_size():
    inventory = {placement.MEMORY_MB: placement.InventoryRecord(total=4096, step_size=256, max_unit=4096)}
    assert placement.shortfall(inventory, {}, {placement.MEMORY_MB: 512}) == {}
    assert placement.shortfall(inventory, {}, {placement.MEMORY_MB: 300}) == {
        placement.MEMORY_MB: "MEMORY_MB: 300 is not a multiple of 256"}
