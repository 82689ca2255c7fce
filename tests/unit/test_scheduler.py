"""The scheduler: filters, weighers, claims, and the story it tells when nothing fits."""

import uuid as uuidlib

import pytest

from ncloud.daemons.compute.manager import node_uuid
from ncloud.daemons.core import config, exception, placement, server_groups, servicegroup
from ncloud.daemons.core.context import admin_context
from ncloud.daemons.core.db.models import Aggregate, AggregateHost, Instance, ServerGroup, ServerGroupMember
from ncloud.daemons.scheduler.manager import SchedulerManager

TINY = {"vcpus": 1, "memory_mb": 512, "root_gb": 1}


def add_host(db, name, memory_mb=4096, vcpus=4, disk_gb=50, up=True, disabled=False):
    inventory = {
        placement.VCPU: placement.InventoryRecord(total=vcpus, max_unit=vcpus),
        placement.MEMORY_MB: placement.InventoryRecord(total=memory_mb, max_unit=memory_mb),
        placement.DISK_GB: placement.InventoryRecord(total=disk_gb, max_unit=disk_gb),
    }
    from ncloud.daemons.core.db.models import ComputeNode, Service

    service_id, _ = servicegroup.register(db, name, "ncloud-compute", "compute")
    with db.writer() as session:
        session.get(Service, service_id).disabled = disabled
        session.add(ComputeNode(uuid=node_uuid(name), host=name, hypervisor_hostname=name, hypervisor_type="fake",
                                vcpus=vcpus, memory_mb=memory_mb, local_gb=disk_gb, cpu_info={}))
        placement.ensure_provider(session, node_uuid(name), name, inventory)
        if up:
            servicegroup.heartbeat(session, name, "ncloud-compute")


def scheduler(db, **overrides):
    conf = config.load(None, environ={}, overrides={"scheduler": overrides} if overrides else None)
    return SchedulerManager(conf, db)


def spec(flavor=TINY, **extra):
    return {"flavor": flavor, "retry": {"num_attempts": 0, "hosts": []}, **extra}


def test_spreads_servers_over_the_host_with_most_free_ram(db):
    add_host(db, "small", memory_mb=2048)
    add_host(db, "big", memory_mb=8192)
    chosen = scheduler(db).select_destinations(admin_context(), spec(), ["i1"])
    assert chosen[0]["host"] == "big"


def test_negative_ram_multiplier_packs_servers(db):
    add_host(db, "small", memory_mb=2048)
    add_host(db, "big", memory_mb=8192)
    chosen = scheduler(db, ram_weight_multiplier=-1.0).select_destinations(admin_context(), spec(), ["i1"])
    assert chosen[0]["host"] == "small"


def test_spread_alternates_between_equal_hosts(db):
    add_host(db, "a")
    add_host(db, "b")
    chosen = scheduler(db).select_destinations(admin_context(), spec(), ["i1", "i2", "i3", "i4"])
    assert sorted(c["host"] for c in chosen) == ["a", "a", "b", "b"]


def test_boot_fails_with_reason_when_no_host_has_ram(db):
    add_host(db, "a", memory_mb=1024)
    add_host(db, "b", memory_mb=1024)
    add_host(db, "down", memory_mb=65536, up=False)
    big = {"vcpus": 1, "memory_mb": 4096, "root_gb": 1}
    with pytest.raises(exception.NoValidHost) as error:
        scheduler(db).select_destinations(admin_context(), spec(big), ["i1"])
    message = str(error.value)
    assert message.startswith("No valid host was found. 3 compute host(s) known")
    assert "ComputeFilter removed 1 (compute service down on 1)" in message
    assert "ResourceFilter removed 2 (MEMORY_MB short on 2)" in message
    assert "MEMORY_MB=4096" in message


def test_disabled_and_already_tried_hosts_are_skipped(db):
    add_host(db, "disabled", memory_mb=65536, disabled=True)
    add_host(db, "tried", memory_mb=32768)
    add_host(db, "left", memory_mb=1024)
    request = spec(retry={"num_attempts": 1, "hosts": ["tried"]})
    assert scheduler(db).select_destinations(admin_context(), request, ["i1"])[0]["host"] == "left"


def test_multi_server_request_that_does_not_fit_claims_nothing(db):
    add_host(db, "a", memory_mb=1024)  # room for two tiny servers
    with pytest.raises(exception.NoValidHost):
        scheduler(db).select_destinations(admin_context(), spec(), ["i1", "i2", "i3"])
    with db.reader() as session:
        assert placement.usages(session) == {}


def test_repeated_request_returns_the_existing_claim(db):
    add_host(db, "a")
    add_host(db, "b")
    first = scheduler(db).select_destinations(admin_context(), spec(), ["i1"])
    again = scheduler(db).select_destinations(admin_context(), spec(), ["i1"])
    assert first == again
    with db.reader() as session:
        assert sum(u.get("MEMORY_MB", 0) for u in placement.usages(session).values()) == 512


def test_forced_host_is_used_even_if_others_are_emptier(db):
    add_host(db, "a", memory_mb=1024)
    add_host(db, "b", memory_mb=8192)
    chosen = scheduler(db).select_destinations(admin_context(), spec(force_host="a"), ["i1"])
    assert chosen[0]["host"] == "a"


def test_other_availability_zone_has_no_hosts(db):
    add_host(db, "a")
    with pytest.raises(exception.NoValidHost, match=r"AvailabilityZoneFilter removed 1 \(not in availability "
                                                    r"zone az2 on 1\)"):
        scheduler(db).select_destinations(admin_context(), spec(availability_zone="az2"), ["i1"])


def add_server(db, host) -> str:
    """A server running on `host`, as the database records it."""
    uuid = str(uuidlib.uuid4())
    with db.writer() as session:
        session.add(Instance(uuid=uuid, project_id="p", user_id="u", display_name="m", flavor={}, vcpus=1,
                             memory_mb=512, root_gb=1, vm_state="active", host=host, node=host))
    return uuid


def add_group(db, policy, rules=None, members=()):
    """A server group whose existing servers run on `members` (one host name per server)."""
    group_uuid = str(uuidlib.uuid4())
    uuids = [add_server(db, host) for host in members]
    with db.writer() as session:
        group = ServerGroup(uuid=group_uuid, name="g", project_id="p", user_id="u", policy=policy, rules=rules or {})
        session.add(group)
        session.flush()
        session.add_all(ServerGroupMember(group_id=group.id, instance_uuid=uuid) for uuid in uuids)
    return {"uuid": group_uuid, "policy": policy, "rules": rules or {}}


def test_affinity_keeps_a_group_on_its_host_even_when_others_are_emptier(db):
    add_host(db, "small", memory_mb=2048)
    add_host(db, "big", memory_mb=8192)
    group = add_group(db, "affinity", members=["small"])
    chosen = scheduler(db).select_destinations(admin_context(), spec(group=group), ["i1", "i2"])
    assert [c["host"] for c in chosen] == ["small", "small"]


def test_a_new_affinity_group_lands_all_its_servers_together(db):
    add_host(db, "a")
    add_host(db, "b")
    group = add_group(db, "affinity")
    chosen = scheduler(db).select_destinations(admin_context(), spec(group=group), ["i1", "i2", "i3"])
    assert len({c["host"] for c in chosen}) == 1


def test_anti_affinity_spreads_and_refuses_when_every_host_has_one(db):
    add_host(db, "a")
    add_host(db, "b")
    add_host(db, "c")
    group = add_group(db, "anti-affinity", members=["a"])
    chosen = scheduler(db).select_destinations(admin_context(), spec(group=group), ["i1", "i2"])
    assert sorted(c["host"] for c in chosen) == ["b", "c"]
    full = add_group(db, "anti-affinity", members=["a", "b", "c"])
    with pytest.raises(exception.NoValidHost) as refused:
        scheduler(db).select_destinations(admin_context(), spec(group=full), ["i9"])
    assert "ServerGroupAntiAffinityFilter removed 3" in str(refused.value)


def test_max_server_per_host_allows_that_many(db):
    add_host(db, "a")
    add_host(db, "b")
    group = add_group(db, "anti-affinity", rules={"max_server_per_host": 2}, members=["a"])
    chosen = scheduler(db).select_destinations(admin_context(), spec(group=group), ["i1", "i2", "i3"])
    assert sorted(c["host"] for c in chosen) == ["a", "b", "b"]


def test_soft_policies_prefer_but_never_refuse(db):
    add_host(db, "small", memory_mb=2048)
    add_host(db, "big", memory_mb=8192)
    soft = add_group(db, "soft-affinity", members=["small"])
    assert scheduler(db).select_destinations(admin_context(), spec(group=soft), ["i1"])[0]["host"] == "small"
    add_host(db, "other", memory_mb=1024)
    apart = add_group(db, "soft-anti-affinity", members=["big", "small"])
    assert scheduler(db).select_destinations(admin_context(), spec(group=apart), ["i2"])[0]["host"] == "other"
    # every host holds a member: still placed, on the emptiest
    crowded = add_group(db, "soft-anti-affinity", members=["big", "small", "other"])
    assert scheduler(db).select_destinations(admin_context(), spec(group=crowded), ["i3"])[0]["host"] == "big"


def test_same_host_and_different_host_hints(db):
    add_host(db, "a")
    add_host(db, "b", memory_mb=8192)
    on_a = add_server(db, "a")
    same = spec(scheduler_hints={"same_host": [on_a]})
    assert scheduler(db).select_destinations(admin_context(), same, ["i1"])[0]["host"] == "a"
    apart = spec(scheduler_hints={"different_host": on_a})
    assert scheduler(db).select_destinations(admin_context(), apart, ["i2"])[0]["host"] == "b"
    with pytest.raises(exception.NoValidHost) as refused:
        scheduler(db).select_destinations(admin_context(), spec(scheduler_hints={"same_host": ["gone"]}), ["i3"])
    assert "SameHostFilter removed 2" in str(refused.value)


def test_a_host_is_in_the_zone_of_its_zone_aggregate(db):
    add_host(db, "a")
    add_host(db, "b", memory_mb=8192)
    with db.writer() as session:
        aggregate = Aggregate(uuid=str(uuidlib.uuid4()), name="r1", metadata_={"availability_zone": "az1"})
        session.add(aggregate)
        session.flush()
        session.add(AggregateHost(aggregate_id=aggregate.id, host="a"))
    assert scheduler(db).select_destinations(admin_context(), spec(availability_zone="az1"), ["i1"])[0]["host"] == "a"
    assert scheduler(db).select_destinations(admin_context(), spec(availability_zone="nova"), ["i2"])[0]["host"] == "b"


# -- the compute's late check (core/server_groups.late_violation) -------------------------------------
def _building_member(db, group, host) -> str:
    """A member just placed on `host` and not built yet."""
    uuid = add_server(db, host)
    with db.writer() as session:
        session.query(Instance).filter_by(uuid=uuid).update({"vm_state": "building"})
        group_id = session.query(ServerGroup.id).filter_by(uuid=group["uuid"]).scalar()
        session.add(ServerGroupMember(group_id=group_id, instance_uuid=uuid))
    return uuid


def test_two_members_raced_onto_one_host_the_later_gives_way(db):
    group = add_group(db, "anti-affinity")
    first, second = _building_member(db, group, "a"), _building_member(db, group, "a")
    with db.reader() as session:
        assert server_groups.late_violation(session, group, first, "a") is None
        refused = server_groups.late_violation(session, group, second, "a")
    assert refused.startswith("Anti-affinity instance group policy was violated")
    assert "1 server(s) on a (at most 1 per host)" in refused


def test_late_check_of_affinity_and_of_max_server_per_host(db):
    together = add_group(db, "affinity", members=["a"])
    alone = _building_member(db, together, "b")
    roomy = add_group(db, "anti-affinity", rules={"max_server_per_host": 2}, members=["a"])
    fits = _building_member(db, roomy, "a")
    with db.reader() as session:
        assert "are on a, not b" in server_groups.late_violation(session, together, alone, "b")
        assert server_groups.late_violation(session, roomy, fits, "a") is None
        assert server_groups.late_violation(session, {**roomy, "policy": "soft-anti-affinity"}, fits, "a") is None
