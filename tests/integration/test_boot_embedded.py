"""The boot flow end to end on the all-in-one defaults (memory:// transport, SQLite), over HTTP.

api -> conductor -> scheduler -> compute -> ACTIVE, with the fake driver's simulated hosts.
"""

import httpx
import pytest
from sqlalchemy import func, select

from ncloud.daemons.allinone import AllInOne
from ncloud.daemons.core import config
from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID
from ncloud.daemons.core.db.models import Allocation, Instance, InstanceAction, InstanceActionEvent
from tests.cloud import wait_until


def make_cloud(tmp_path, default=None, **fake):
    """An all-in-one of three simulated hosts (`fake` and `default`: options of [fake], [DEFAULT])."""
    conf = config.load(None, environ={}, overrides={
        "DEFAULT": {"host": "aio", "state_path": str(tmp_path), "report_interval": 0.5, "rpc_workers": 2,
                    **(default or {})},
        "api": {"bind_host": "127.0.0.1", "bind_port": 0, "auth_strategy": "noauth2"},
        "conductor": {"reconcile_interval": 0.5},
        "fake": {"hosts": 3, "vcpus": 4, "memory_mb": 2560, "local_gb": 100, **fake},
    })
    return AllInOne(conf).start()


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    yield cloud
    cloud.stop()


def client(cloud, token="demo:demo"):
    return httpx.Client(base_url=cloud.endpoint, headers={"X-Auth-Token": token}, timeout=30)


def boot(api, name, flavor="1"):
    response = api.post("/servers", json={"server": {"name": name, "flavorRef": flavor, "imageRef": DEMO_IMAGE_ID}})
    assert response.status_code == 202, response.text
    return response.json()["server"]["id"]


def wait_settled(api, uuids, timeout=30):
    found = {}

    def settled():
        for uuid in uuids:
            body = api.get(f"/servers/{uuid}").json()["server"]
            if body["status"] in ("ACTIVE", "ERROR"):
                found[uuid] = body
        return len(found) == len(uuids)
    wait_until(settled, timeout, what="servers to settle")
    return found


def test_servers_boot_to_active_and_allocations_match_flavors(cloud):
    with client(cloud) as api:
        uuids = [boot(api, f"vm{n}") for n in range(6)]
        servers = wait_settled(api, uuids)
        assert {s["status"] for s in servers.values()} == {"ACTIVE"}
        with cloud.db.reader() as session:
            hosts = dict(session.execute(select(Instance.uuid, Instance.host)).all())
            used = dict(session.execute(select(Allocation.resource_class, func.sum(Allocation.used))
                                        .group_by(Allocation.resource_class)).all())
        assert used == {"VCPU": 6, "MEMORY_MB": 6 * 512, "DISK_GB": 6}
        assert sorted(hosts.values()) == ["aio", "aio", "aio-2", "aio-2", "aio-3", "aio-3"]  # spread evenly
        for uuid in uuids:
            assert api.delete(f"/servers/{uuid}").status_code == 204
        wait_until(lambda: all(api.get(f"/servers/{u}").status_code == 404 for u in uuids), 30, what="deletes")
        with cloud.db.reader() as session:
            assert session.scalar(select(func.count()).select_from(Allocation)) == 0


def test_capacity_exhausted_gives_error_with_reason(cloud):
    with client(cloud) as api:
        # each host has 2560-512 = 2048 MiB usable: m1.small (2048) fits once per host
        uuids = [boot(api, f"s{n}", flavor="2") for n in range(3)]
        assert {s["status"] for s in wait_settled(api, uuids).values()} == {"ACTIVE"}
        extra = boot(api, "one-too-many", flavor="2")
        server = wait_settled(api, [extra])[extra]
        assert server["status"] == "ERROR"
        message = server["fault"]["message"]
        assert message.startswith("No valid host was found.")
        assert "ResourceFilter removed 3 (MEMORY_MB short on 3)" in message
        assert server["fault"]["code"] == 500
        with cloud.db.reader() as session:
            assert session.scalar(select(func.count()).select_from(Allocation)
                                  .where(Allocation.consumer_id == extra)) == 0


def test_failed_spawn_is_rescheduled_to_another_host(tmp_path):
    cloud = make_cloud(tmp_path, fail_spawn_hosts=["aio", "aio-2"])
    try:
        with client(cloud) as api:
            uuids = [boot(api, f"vm{n}") for n in range(3)]
            servers = wait_settled(api, uuids)
            assert {s["status"] for s in servers.values()} == {"ACTIVE"}
            with cloud.db.reader() as session:
                assert set(session.scalars(select(Instance.host))) == {"aio-3"}
                assert session.scalar(select(func.count(func.distinct(Allocation.resource_provider_id)))) == 1
    finally:
        cloud.stop()


def test_a_reschedule_that_finds_no_other_host_reports_the_failure_that_started_it(tmp_path):
    cloud = make_cloud(tmp_path, {"host": "solo"}, hosts=1, fail_spawn_hosts=["solo"])
    try:
        with client(cloud) as api:
            uuid = boot(api, "alone")
            server = wait_settled(api, [uuid])[uuid]
            assert server["status"] == "ERROR"
            message = server["fault"]["message"]
            assert message.startswith("Build failed on solo: simulated spawn failure on host solo. "
                                      "No other host could take it: No valid host was found.")
    finally:
        cloud.stop()


def test_every_host_failing_ends_in_error_after_max_attempts_with_last_reason(tmp_path):
    cloud = make_cloud(tmp_path, fail_spawn_hosts=["aio", "aio-2", "aio-3"])
    try:
        with client(cloud) as api:
            uuid = boot(api, "doomed")
            server = wait_settled(api, [uuid])[uuid]
            assert server["status"] == "ERROR"
            message = server["fault"]["message"]
            assert message.startswith("Build failed on 3 host(s) (")
            assert "[scheduler] max_attempts=3" in message
            assert "simulated spawn failure on host" in message
            with cloud.db.reader() as session:
                assert session.scalar(select(func.count()).select_from(Allocation)) == 0
                events = session.execute(
                    select(InstanceActionEvent.event, InstanceActionEvent.result, InstanceActionEvent.traceback)
                    .join(InstanceAction, InstanceAction.id == InstanceActionEvent.action_id)
                    .where(InstanceAction.instance_uuid == uuid)).all()
            failures = [e for e in events if e.event == "compute_build_and_run_instance"]
            assert [e.result for e in failures] == ["Error"] * 3
            assert all("VirtError: simulated spawn failure" in e.traceback for e in failures)
    finally:
        cloud.stop()
