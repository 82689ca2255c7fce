"""The conductor's build orchestration against a real database, with redeliveries and crashes.

The scheduler is the real SchedulerManager, called in-process; the compute hosts are recorders of
what the conductor sends them (they are the conductor's collaborators, not what is under test).
"""

import datetime as dt
import threading
import uuid as uuidlib

import pytest
from sqlalchemy import insert, select, update

from ncloud.daemons.conductor.manager import ConductorManager
from ncloud.daemons.conductor.reconciler import Reconciler
from ncloud.daemons.core import config, exception, instances, placement, states
from ncloud.daemons.core.bootstrap import ensure_defaults
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import (
    Allocation,
    Instance,
    InstanceAction,
    InstanceFault,
    RequestSpec,
    ResourceProvider,
    utcnow,
)
from ncloud.daemons.scheduler.manager import SchedulerManager
from tests.unit.test_scheduler import add_host

FLAVOR = {"id": 1, "flavorid": "1", "name": "m1.tiny", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
          "ephemeral_gb": 0, "swap": 0, "extra_specs": {}}


class InProcessScheduler:
    """SchedulerAPI's shape, calling the real scheduler directly; can be told to fail once."""

    def __init__(self, manager: SchedulerManager):
        self.manager = manager
        self.fail_next: Exception | None = None

    def select_destinations(self, ctx, spec, instance_uuids):
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return self.manager.select_destinations(ctx, spec, instance_uuids)


class RecordingCompute:
    def __init__(self):
        self.builds: list[tuple[str, str]] = []

    def build_and_run_instance(self, ctx, host, instance, spec):
        self.builds.append((host, instance["uuid"]))


@pytest.fixture
def cloud(db):
    conf = config.load(None, environ={}, overrides={"conductor": {"build_timeout": 60}})
    ensure_defaults(db)
    for host in ("a", "b"):
        add_host(db, host)
    scheduler = InProcessScheduler(SchedulerManager(conf, db))
    compute = RecordingCompute()
    return ConductorManager(conf, db, scheduler, compute), scheduler, compute


def new_instance(db, ctx) -> tuple[dict, dict]:
    """What the API writes for a boot, and the payload it casts."""
    uuid = str(uuidlib.uuid4())
    spec = {"flavor": FLAVOR, "image": {"id": "img"}, "retry": {"num_attempts": 0, "hosts": []}}
    row = {"uuid": uuid, "project_id": "p", "user_id": "u", "display_name": "vm", "instance_type_id": 1,
           "flavor": FLAVOR, "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": states.BUILDING,
           "task_state": states.SCHEDULING, "task_started_at": utcnow(), "metadata": {}}
    with db.writer() as session:
        session.execute(insert(Instance.__table__), [row])
        session.execute(insert(RequestSpec.__table__), [{"instance_uuid": uuid, "spec": spec}])
        session.execute(insert(InstanceAction.__table__), [{"action": "create", "instance_uuid": uuid,
                                                             "request_id": ctx.request_id,
                                                             "start_time": utcnow()}])
    with db.reader() as session:
        return instances.to_dict(instances.get(session, uuid)), spec


def state(db, uuid):
    with db.reader() as session:
        row = instances.get(session, uuid, include_deleted=True)
        return row.vm_state, row.task_state, row.host


def allocated(db, uuid):
    with db.reader() as session:
        return {a.resource_class: a.used for a in session.scalars(
            select(Allocation).where(Allocation.consumer_id == uuid))}


def build_on_compute(conductor, ctx, uuid, host):
    """What a compute host does with a build: mark it spawning, then built."""
    assert conductor.instance_update(ctx, uuid, {"task_state": states.SPAWNING, "host": host},
                                     {"task_state": states.SCHEDULING, "host": host})
    assert conductor.instance_built(ctx, uuid, host, states.RUNNING)


def test_build_places_the_instance_and_sends_it_to_its_host(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    (host, uuid), = compute.builds
    assert state(db, uuid) == (states.BUILDING, states.SCHEDULING, host)
    assert allocated(db, uuid) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


def test_a_redelivered_build_of_a_built_server_keeps_its_claim(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    (host, uuid), = compute.builds
    build_on_compute(conductor, ctx, uuid, host)

    conductor.build_instances(ctx, [uuid], [instance], spec)  # the same message, delivered again

    assert state(db, uuid) == (states.ACTIVE, None, host)
    assert allocated(db, uuid) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
    assert len(compute.builds) == 1


def test_a_redelivered_build_after_placement_sends_the_build_again_to_the_same_host(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    assert len(compute.builds) == 2 and compute.builds[0] == compute.builds[1]
    assert sum(allocated(db, instance["uuid"]).values()) == 514


def test_a_build_deleted_while_it_was_scheduled_gives_its_room_back(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    with db.writer() as session:
        instances.mark_deleted(session, instance["uuid"])
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    assert compute.builds == []
    assert allocated(db, instance["uuid"]) == {}


def test_a_reschedule_interrupted_after_its_commit_is_finished_when_the_report_comes_again(cloud, db):
    conductor, scheduler, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    (first, uuid), = compute.builds
    conductor.instance_update(ctx, uuid, {"task_state": states.SPAWNING, "host": first},
                              {"task_state": states.SCHEDULING, "host": first})

    # A passing failure after the reschedule was committed (as a crash of the conductor would be):
    # raised, so that the RPC layer delivers the report again.
    scheduler.fail_next = exception.ResourceProviderConcurrentUpdate(name="a", generation=1)
    with pytest.raises(exception.ResourceProviderConcurrentUpdate):
        conductor.build_failed(ctx, uuid, first, "spawn failed")
    assert state(db, uuid) == (states.BUILDING, states.SCHEDULING, None)

    conductor.build_failed(ctx, uuid, first, "spawn failed")  # the report, delivered again
    second = compute.builds[-1][0]
    assert second != first
    assert state(db, uuid) == (states.BUILDING, states.SCHEDULING, second)
    assert allocated(db, uuid) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


def test_an_unexpected_error_fails_the_build_with_a_fault_at_once(cloud, db):
    conductor, scheduler, _ = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    scheduler.fail_next = KeyError("flavor")
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    assert state(db, instance["uuid"])[:2] == (states.ERROR, None)
    with db.reader() as session:
        fault = session.scalars(select(InstanceFault).where(InstanceFault.instance_uuid == instance["uuid"])).one()
    assert fault.message == "Internal error while scheduling the build: KeyError: 'flavor'"


def test_the_reconciler_fails_a_stuck_build_and_releases_its_claim(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    conductor.build_instances(ctx, [instance["uuid"]], [instance], spec)
    (host, uuid), = compute.builds
    conf = config.load(None, environ={}, overrides={"conductor": {"build_timeout": 1}})
    with db.writer() as session:  # the build started long ago
        session.execute(update(Instance).where(Instance.uuid == uuid).values(
            task_started_at=utcnow() - dt.timedelta(seconds=5)))
    assert Reconciler(conf, db, compute).run() == 1
    assert state(db, uuid) == (states.ERROR, None, host)
    assert allocated(db, uuid) == {}
    assert Reconciler(conf, db, compute).run() == 0  # nothing left to settle


def test_inventory_updates_never_hide_a_concurrent_claim(db):
    """The generation bump of an inventory change is done in SQL: a claim that commits between
    the conductor's read of the provider and its write must still have moved the generation."""
    add_host(db, "a")
    with db.reader() as session:
        provider_id, start = session.execute(select(ResourceProvider.id, ResourceProvider.generation)).one()
        provider_uuid = session.scalar(select(ResourceProvider.uuid))
    claimed = threading.Event()

    def claim():
        placement.claim(db, "c1", provider_id, {"MEMORY_MB": 512})
        claimed.set()

    with db.writer() as session:
        session.get(ResourceProvider, provider_id)  # the conductor has read the provider...
        thread = threading.Thread(target=claim)
        thread.start()
        claimed.wait(2)  # ...a claim commits meanwhile (MariaDB, PostgreSQL; SQLite serialises it after us)
        placement.ensure_provider(session, provider_uuid, "a", {
            "MEMORY_MB": placement.InventoryRecord(total=8192, max_unit=8192)})
    thread.join(10)
    with db.reader() as session:
        assert session.get(ResourceProvider, provider_id).generation == start + 2


def test_a_task_state_can_have_a_timeout_of_its_own(cloud, db):
    conductor, _, compute = cloud
    ctx = RequestContext(user_id="u", project_id="p")
    instance, spec = new_instance(db, ctx)
    uuid = instance["uuid"]
    with db.writer() as session:  # an active server whose stop began 5 s ago
        session.execute(update(Instance).where(Instance.uuid == uuid).values(
            vm_state=states.ACTIVE, task_state=states.POWERING_OFF, host="a",
            task_started_at=utcnow() - dt.timedelta(seconds=5)))
    default = config.load(None, environ={})  # action_timeout 300 s: not yet
    assert Reconciler(default, db, None).run() == 0
    assert state(db, uuid) == (states.ACTIVE, states.POWERING_OFF, "a")
    custom = config.load(None, environ={}, overrides={"conductor": {"task_timeouts": ["powering-off:2"]}})
    assert Reconciler(custom, db, None).run() == 1
    assert state(db, uuid) == (states.ERROR, None, "a")
    with db.reader() as session:
        fault = session.scalars(select(InstanceFault).where(InstanceFault.instance_uuid == uuid)).one()
    assert fault.message == "Task powering-off did not finish within 2s on host a."
