"""Moving servers between hosts, end to end on the all-in-one (memory:// transport, SQLite, three
simulated hosts): resize with confirm and revert, cold and live migration, evacuation, and what
each failure leaves. The allocations are checked at every stop: a move holds both hosts while it
is under way, and exactly one when it is over.
"""

import httpx
import pytest
from sqlalchemy import select

from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID
from ncloud.daemons.core.db.models import Allocation, Migration, ResourceProvider
from tests.api.tempest_schemas import conforms
from tests.cloud import wait_until
from tests.integration.test_boot_embedded import make_cloud as embedded_cloud

ADMIN = "admin:admin"
TINY, SMALL = "1", "2"  # 1 VCPU 512 MiB 1 GiB, 1 VCPU 2048 MiB 20 GiB


def make_cloud(tmp_path, default=None, **fake):
    """test_boot_embedded's all-in-one, with room for several servers per host."""
    return embedded_cloud(tmp_path, default, **{"memory_mb": 8192, **fake})


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    yield cloud
    cloud.stop()


def client(cloud, token=ADMIN, version="2.1"):
    return httpx.Client(base_url=cloud.endpoint, timeout=30,
                        headers={"X-Auth-Token": token, "OpenStack-API-Version": f"compute {version}"})


def boot(api, name="vm", flavor=TINY, **extra):
    if int(api.headers["OpenStack-API-Version"].split(".")[1]) >= 37:
        extra.setdefault("networks", "none")  # required from 2.37
    response = api.post("/servers", json={"server": {"name": name, "flavorRef": flavor, "imageRef": DEMO_IMAGE_ID,
                                                     **extra}})
    assert response.status_code == 202, response.text
    uuid = response.json()["server"]["id"]
    wait_for(api, uuid, "ACTIVE")
    return uuid


def show(api, uuid):
    return api.get(f"/servers/{uuid}").json()["server"]


def wait_for(api, uuid, *statuses, idle=True, timeout=30):
    """The server once its status is one of `statuses` (and, with `idle`, no task runs)."""
    found = {}

    def reached():
        found["server"] = show(api, uuid)
        return found["server"]["status"] in statuses and (not idle or found["server"]["OS-EXT-STS:task_state"] is None)
    wait_until(reached, timeout, interval=0.1, what=f"{uuid} to reach {statuses}")
    return found["server"]


def action(api, uuid, body, expect=202):
    response = api.post(f"/servers/{uuid}/action", json=body)
    assert response.status_code == expect, response.text
    return response


def allocations(cloud, consumer):
    """{host: {resource class: amount}} held by a consumer (a server or a migration)."""
    with cloud.db.reader() as session:
        rows = session.execute(select(ResourceProvider.name, Allocation.resource_class, Allocation.used)
                               .join(ResourceProvider, ResourceProvider.id == Allocation.resource_provider_id)
                               .where(Allocation.consumer_id == consumer)).all()
    held = {}
    for host, rc, used in rows:
        held.setdefault(host, {})[rc] = used
    return held


def migration_of(cloud, uuid):
    with cloud.db.reader() as session:
        return session.scalars(select(Migration).where(Migration.instance_uuid == uuid)
                               .order_by(Migration.id.desc())).first()


def guests(cloud, host):
    """The uuids the fake hypervisor of `host` runs."""
    service = next(s for s in cloud.services if getattr(s, "host", None) == host and hasattr(s, "driver"))
    return set(service.driver.list_instances())


TINY_USE = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
SMALL_USE = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}


# -- resize ---------------------------------------------------------------------------------------
def test_resize_holds_both_hosts_until_confirmed_then_only_the_new_one(cloud):
    with client(cloud, version="2.80") as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        action(api, uuid, {"resize": {"flavorRef": SMALL}})
        server = wait_for(api, uuid, "VERIFY_RESIZE")
        dest = server["OS-EXT-SRV-ATTR:host"]
        assert dest != source  # [DEFAULT] allow_resize_to_same_host is off
        assert server["flavor"]["original_name"] == "m1.small"
        migration = migration_of(cloud, uuid)
        assert (migration.migration_type, migration.status, migration.source_compute, migration.dest_compute) == (
            "resize", "finished", source, dest)
        assert allocations(cloud, uuid) == {dest: SMALL_USE}
        assert allocations(cloud, migration.uuid) == {source: TINY_USE}

        listed = api.get("/os-migrations")
        assert conforms(listed, "2.80", "migrations", "list_migrations")
        (entry,) = listed.json()["migrations"]
        assert (entry["instance_uuid"], entry["status"], entry["migration_type"], entry["uuid"]) == (
            uuid, "finished", "resize", migration.uuid)
        assert (entry["old_instance_type_id"], entry["new_instance_type_id"]) == (1, 2)

        assert action(api, uuid, {"confirmResize": None}, expect=204).content == b""
        server = wait_for(api, uuid, "ACTIVE")
        assert server["OS-EXT-SRV-ATTR:host"] == dest
        assert allocations(cloud, uuid) == {dest: SMALL_USE}
        assert allocations(cloud, migration.uuid) == {}
        assert migration_of(cloud, uuid).status == "confirmed"
        assert uuid not in guests(cloud, source) and uuid in guests(cloud, dest)
        events = api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert [a["action"] for a in events][:2] == ["confirmResize", "resize"]


def test_revert_puts_the_server_back_on_its_source_with_its_old_flavor(cloud):
    with client(cloud) as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        action(api, uuid, {"resize": {"flavorRef": SMALL}})
        dest = wait_for(api, uuid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"]
        action(api, uuid, {"revertResize": None})
        server = wait_for(api, uuid, "ACTIVE")
        assert server["OS-EXT-SRV-ATTR:host"] == source
        assert server["flavor"]["id"] == TINY
        migration = migration_of(cloud, uuid)
        assert migration.status == "reverted"
        assert allocations(cloud, uuid) == {source: TINY_USE}
        assert allocations(cloud, migration.uuid) == {}
        assert uuid in guests(cloud, source) and uuid not in guests(cloud, dest)


def test_a_stopped_server_is_resized_stopped_and_stays_so(cloud):
    with client(cloud) as api:
        uuid = boot(api)
        action(api, uuid, {"os-stop": None})
        wait_for(api, uuid, "SHUTOFF")
        action(api, uuid, {"resize": {"flavorRef": SMALL}})
        assert wait_for(api, uuid, "VERIFY_RESIZE")["OS-EXT-STS:power_state"] == 4
        action(api, uuid, {"confirmResize": None}, expect=204)
        assert wait_for(api, uuid, "SHUTOFF")["flavor"]["id"] == SMALL


def test_resize_to_the_same_host_when_allowed(tmp_path):
    cloud = make_cloud(tmp_path, default={"allow_resize_to_same_host": True}, hosts=1)
    try:
        with client(cloud) as api:
            uuid = boot(api)
            action(api, uuid, {"resize": {"flavorRef": SMALL}})
            assert wait_for(api, uuid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == "aio"
            migration = migration_of(cloud, uuid)
            assert allocations(cloud, uuid) == {"aio": SMALL_USE}
            assert allocations(cloud, migration.uuid) == {"aio": TINY_USE}  # both counted on the one host
            action(api, uuid, {"confirmResize": None}, expect=204)
            wait_for(api, uuid, "ACTIVE")
            assert allocations(cloud, migration.uuid) == {} and uuid in guests(cloud, "aio")
    finally:
        cloud.stop()


def test_a_resize_with_no_room_anywhere_leaves_the_server_as_it_was(tmp_path):
    cloud = make_cloud(tmp_path, hosts=2, memory_mb=2560)  # 2048 MiB usable per host
    try:
        with client(cloud) as api:
            uuid = boot(api)
            source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
            boot(api, "filler", flavor=SMALL, availability_zone=f"nova:{'aio' if source != 'aio' else 'aio-2'}")
            action(api, uuid, {"resize": {"flavorRef": SMALL}})
            wait_until(lambda: migration_of(cloud, uuid).status == "error", 30, what="the resize to fail")
            server = wait_for(api, uuid, "ACTIVE")
            assert server["OS-EXT-SRV-ATTR:host"] == source and server["flavor"]["id"] == TINY
            assert allocations(cloud, uuid) == {source: TINY_USE}
            assert allocations(cloud, migration_of(cloud, uuid).uuid) == {}
            (resize, _) = api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"][:2]
            assert resize["action"] == "resize" and resize["message"] == "Error"
    finally:
        cloud.stop()


def test_a_destination_that_fails_leaves_the_server_in_error_on_its_source_with_its_resources(tmp_path):
    cloud = make_cloud(tmp_path, hosts=2, fail_migrate_hosts=["aio", "aio-2"])
    try:
        with client(cloud) as api:
            uuid = boot(api)
            source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
            action(api, uuid, {"resize": {"flavorRef": SMALL}})
            server = wait_for(api, uuid, "ERROR")
            assert server["OS-EXT-SRV-ATTR:host"] == source
            assert "finish_resize failed on" in server["fault"]["message"]
            assert "simulated migration failure" in server["fault"]["message"]
            assert allocations(cloud, uuid) == {source: TINY_USE}
            assert migration_of(cloud, uuid).status == "error"
            # A hard reboot brings it back where it is.
            action(api, uuid, {"reboot": {"type": "HARD"}})
            assert wait_for(api, uuid, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == source
    finally:
        cloud.stop()


def test_resize_refusals(cloud):
    with client(cloud) as api, client(cloud, token="demo:demo") as member:
        uuid = boot(member)
        for body, status, text in [
            ({"resize": {"flavorRef": TINY}}, 400, "When resizing, instances must change flavor!"),
            ({"resize": {"flavorRef": "nope"}}, 400, "Unable to locate requested flavor."),
            ({"resize": {}}, 400, "'flavorRef' is a required property"),
            ({"confirmResize": None}, 409, f"Cannot 'confirmResize' instance {uuid} while it is in vm_state active"),
            ({"revertResize": None}, 409, f"Cannot 'revertResize' instance {uuid} while it is in vm_state active"),
            ({"migrate": None}, 403, "os_compute_api:os-migrate-server:migrate"),
            ({"os-migrateLive": {"host": None, "block_migration": False, "disk_over_commit": False}}, 403, ""),
            ({"evacuate": {"onSharedStorage": False}}, 403, ""),
        ]:
            response = member.post(f"/servers/{uuid}/action", json=body)
            assert response.status_code == status, (body, response.text)
            assert text in next(iter(response.json().values()))["message"], (body, response.text)
        with client(cloud, token="eve:p3") as other:
            assert other.post(f"/servers/{uuid}/action", json={"resize": {"flavorRef": SMALL}}).status_code == 404
        action(api, uuid, {"lock": None})
        assert member.post(f"/servers/{uuid}/action", json={"resize": {"flavorRef": SMALL}}).status_code == 409
        response = api.post(f"/servers/{uuid}/action", json={"migrate": {"host": "nowhere"}},
                            headers={"OpenStack-API-Version": "compute 2.56"})
        assert response.status_code == 400 and "Compute host nowhere could not be found." in response.text
        response = api.post(f"/servers/{uuid}/action", json={"migrate": {"host": "aio"}})  # host only from 2.56
        assert response.status_code == 400


def test_resize_beyond_the_cores_quota_is_refused(cloud):
    with client(cloud) as api, client(cloud, token="demo:demo") as member:
        uuid = boot(member)
        project = show(api, uuid)["tenant_id"]
        assert api.put(f"/os-quota-sets/{project}", json={"quota_set": {"ram": 1024}}).status_code == 200
        response = member.post(f"/servers/{uuid}/action", json={"resize": {"flavorRef": SMALL}})
        assert response.status_code == 403, response.text
        assert "Quota exceeded for ram" in response.json()["forbidden"]["message"]
        assert show(api, uuid)["status"] == "ACTIVE"


# -- cold and live migration ---------------------------------------------------------------------
def test_cold_migration_to_a_chosen_host(cloud):
    with client(cloud, version="2.56") as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        target = "aio-3" if source != "aio-3" else "aio-2"
        action(api, uuid, {"migrate": {"host": target}})
        assert wait_for(api, uuid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == target
        assert migration_of(cloud, uuid).migration_type == "migration"
        action(api, uuid, {"confirmResize": None}, expect=204)
        assert wait_for(api, uuid, "ACTIVE")["flavor"]["original_name"] == "m1.tiny"
        assert allocations(cloud, uuid) == {target: TINY_USE}


def test_live_migration_moves_a_running_server_and_only_the_destination_stays_allocated(cloud):
    with client(cloud, version="2.80") as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        action(api, uuid, {"os-migrateLive": {"host": None, "block_migration": "auto"}})
        server = wait_for(api, uuid, "ACTIVE")
        assert server["OS-EXT-SRV-ATTR:host"] != source
        migration = migration_of(cloud, uuid)
        assert (migration.migration_type, migration.status) == ("live-migration", "completed")
        assert allocations(cloud, uuid) == {server["OS-EXT-SRV-ATTR:host"]: TINY_USE}
        assert allocations(cloud, migration.uuid) == {}
        assert uuid in guests(cloud, server["OS-EXT-SRV-ATTR:host"]) and uuid not in guests(cloud, source)
        listed = api.get("/os-migrations", params={"migration_type": "live-migration"})
        assert conforms(listed, "2.80", "migrations", "list_migrations")
        assert [m["status"] for m in listed.json()["migrations"]] == ["completed"]


def test_a_live_migration_under_way_is_listed_and_can_be_aborted(tmp_path):
    cloud = make_cloud(tmp_path, migrate_delay=30)
    try:
        with client(cloud, version="2.80") as api:
            uuid = boot(api)
            source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
            action(api, uuid, {"os-migrateLive": {"host": None, "block_migration": "auto"}})
            assert wait_for(api, uuid, "MIGRATING", idle=False)["OS-EXT-STS:task_state"] == "migrating"
            wait_until(lambda: migration_of(cloud, uuid).status == "running", 10, what="the migration to run")
            listed = api.get(f"/servers/{uuid}/migrations")
            assert listed.status_code == 200, listed.text
            (entry,) = listed.json()["migrations"]
            assert entry["status"] == "running" and entry["source_compute"] == source
            shown = api.get(f"/servers/{uuid}/migrations/{entry['id']}").json()["migration"]
            assert shown["uuid"] == migration_of(cloud, uuid).uuid
            assert api.post(f"/servers/{uuid}/migrations/{entry['id']}/action",
                            json={"force_complete": None}).status_code == 202
            assert api.delete(f"/servers/{uuid}/migrations/{entry['id']}").status_code == 202
            server = wait_for(api, uuid, "ACTIVE")
            assert server["OS-EXT-SRV-ATTR:host"] == source
            assert migration_of(cloud, uuid).status == "cancelled"
            assert allocations(cloud, uuid) == {source: TINY_USE}
            assert api.get(f"/servers/{uuid}/migrations").json()["migrations"] == []
    finally:
        cloud.stop()


def test_live_migration_refusals(cloud):
    with client(cloud, version="2.30") as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        response = api.post(f"/servers/{uuid}/action", json={"os-migrateLive": {
            "host": source, "block_migration": "auto"}})
        assert response.status_code == 400 and "to current host" in response.text
        response = api.post(f"/servers/{uuid}/action", json={"os-migrateLive": {"host": None}})
        assert response.status_code == 400 and "'block_migration' is a required property" in response.text
        response = api.post(f"/servers/{uuid}/action", json={"os-migrateLive": {
            "host": None, "block_migration": "auto", "disk_over_commit": False}})  # gone at 2.25
        assert response.status_code == 400
        action(api, uuid, {"os-stop": None})
        wait_for(api, uuid, "SHUTOFF")
        response = api.post(f"/servers/{uuid}/action", json={"os-migrateLive": {
            "host": None, "block_migration": "auto"}})
        assert response.status_code == 409 and "vm_state stopped" in response.text


# -- evacuation ----------------------------------------------------------------------------------
def _force_down(api, host):
    response = api.put("/os-services/force-down", json={"host": host, "binary": "ncloud-compute",
                                                        "forced_down": True},
                       headers={"OpenStack-API-Version": "compute 2.11"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("version", "status"), [("2.14", "ACTIVE"), ("2.95", "SHUTOFF")])
def test_evacuation_rebuilds_the_server_of_a_dead_host_elsewhere(cloud, version, status):
    with client(cloud, version=version) as api:
        uuid = boot(api)
        source = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        response = api.post(f"/servers/{uuid}/action", json={"evacuate": {}})
        assert response.status_code == 400 and f"Compute service of {source} is still in use." in response.text
        _force_down(api, source)
        response = action(api, uuid, {"evacuate": {}}, expect=200)
        assert conforms(response, version, "servers", "evacuate_server")
        server = wait_for(api, uuid, status)
        dest = server["OS-EXT-SRV-ATTR:host"]
        assert dest != source and uuid in guests(cloud, dest)
        migration = migration_of(cloud, uuid)
        assert (migration.migration_type, migration.status) == ("evacuation", "done")
        # The old host still holds the server's room until it is back and has removed the old guest.
        assert allocations(cloud, migration.uuid) == {source: TINY_USE}
        assert allocations(cloud, uuid) == {dest: TINY_USE}


def test_evacuate_before_2_14_answers_the_admin_password(cloud):
    with client(cloud) as api:
        uuid = boot(api)
        _force_down(api, show(api, uuid)["OS-EXT-SRV-ATTR:host"])
        response = action(api, uuid, {"evacuate": {"onSharedStorage": False, "adminPass": "s3cret"}}, expect=200)
        assert conforms(response, "2.1", "servers", "evacuate_server_with_admin_pass")
        assert response.json() == {"adminPass": "s3cret"}
        wait_for(api, uuid, "ACTIVE")


# -- the compute's late check of a group policy ------------------------------------------------------
def test_a_member_forced_onto_its_anti_affinity_partners_host_is_refused_by_the_compute(cloud):
    """A forced host skips the scheduler's filters; the compute's check before it spawns still
    holds the group's policy (as Nova's does), so the build fails with that reason."""
    with client(cloud, version="2.64") as api:
        group = api.post("/os-server-groups", json={"server_group": {"name": "apart", "policy": "anti-affinity"}})
        group_id = group.json()["server_group"]["id"]
        first = api.post("/servers", json={"server": {"name": "a", "flavorRef": TINY, "imageRef": DEMO_IMAGE_ID,
                                                      "networks": "none"}, "os:scheduler_hints": {"group": group_id}})
        first_id = first.json()["server"]["id"]
        host = wait_for(api, first_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
        second = api.post("/servers", json={"server": {"name": "b", "flavorRef": TINY, "imageRef": DEMO_IMAGE_ID,
                                                       "networks": "none", "availability_zone": f"nova:{host}"},
                                             "os:scheduler_hints": {"group": group_id}})
        server = wait_for(api, second.json()["server"]["id"], "ERROR")
        assert "Anti-affinity instance group policy was violated" in server["fault"]["message"]
        assert allocations(cloud, server["id"]) == {}
        # Without the force the scheduler places it elsewhere, and the check agrees.
        third = api.post("/servers", json={"server": {"name": "c", "flavorRef": TINY, "imageRef": DEMO_IMAGE_ID,
                                                      "networks": "none"}, "os:scheduler_hints": {"group": group_id}})
        assert wait_for(api, third.json()["server"]["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"] != host


# -- aggregate image pre-caching (2.81) ----------------------------------------------------------------
def test_an_aggregate_has_its_hosts_cache_images(cloud):
    with client(cloud, version="2.81") as api, client(cloud, token="demo:demo", version="2.81") as member:
        aggregate = api.post("/os-aggregates", json={"aggregate": {"name": "rack"}}).json()["aggregate"]
        for host in ("aio", "aio-3"):
            action_path = f"/os-aggregates/{aggregate['id']}/action"
            assert api.post(action_path, json={"add_host": {"host": host}}).status_code == 200
        body = {"cache": [{"id": DEMO_IMAGE_ID}]}
        response = api.post(f"/os-aggregates/{aggregate['id']}/images", json=body)
        assert response.status_code == 202 and response.content == b""
        drivers = {s.host: s.driver for s in cloud.services if hasattr(s, "driver")}
        wait_until(lambda: all(DEMO_IMAGE_ID in drivers[h].cached_images for h in ("aio", "aio-3")), 10,
                   what="the images cached")
        assert DEMO_IMAGE_ID not in drivers["aio-2"].cached_images  # not in the aggregate
        unknown = {"cache": [{"id": "6d1e1b8c-0d55-4a5c-9b0d-000000000000"}]}
        for path, payload, status in [(f"/os-aggregates/{aggregate['id']}/images", {"cache": []}, 400),
                                      (f"/os-aggregates/{aggregate['id']}/images", unknown, 400),
                                      ("/os-aggregates/999/images", body, 404)]:
            assert api.post(path, json=payload).status_code == status, path
        assert member.post(f"/os-aggregates/{aggregate['id']}/images", json=body).status_code == 403
        older = api.post(f"/os-aggregates/{aggregate['id']}/images", json=body,
                         headers={"OpenStack-API-Version": "compute 2.80"})
        assert older.status_code == 404
