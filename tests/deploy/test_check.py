"""`ncloud check` against a running cloud (one process per daemon, RabbitMQ, SQLite): OK when all
is well, and each kind of trouble named with the exit code monitoring systems expect."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

import pytest
from sqlalchemy import insert, update

from ncloud.daemons.core.db.models import Allocation, Instance, utcnow
from ncloud.daemons.core.db.session import Database
from tests.cloud import ADMIN_PASSWORD, BIN, ProcessCloud, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, rabbitmq):
    workdir = tmp_path_factory.mktemp("check")
    cloud = ProcessCloud(workdir, rabbitmq.url, f"sqlite:///{workdir / 'ncloud.sqlite'}", options={
                             "DEFAULT": {"service_down_time": "6"},
                             # The conductor would heal the trouble these tests make before the check sees it.
                             "conductor": {"reconcile_interval": "3600"},
                             "identity": {"admin_password": ADMIN_PASSWORD}})
    assert cloud.ncloud("identity", "bootstrap").returncode == 0
    for name, binary, host in (("api", "ncloud-api", "ctl"), ("conductor", "ncloud-conductor", "ctl"),
                               ("scheduler", "ncloud-scheduler", "ctl"), ("cmp1", "ncloud-compute", "cmp1"),
                               ("cmp2", "ncloud-compute", "cmp2")):
        cloud.start(name, binary, host=host)
    cloud.wait_for_api()
    cloud.wait_for_computes(["cmp1", "cmp2"])
    yield cloud
    cloud.stop()


def check(cloud, *args: str):
    return cloud.ncloud("check", *args)


def test_a_healthy_cloud_is_ok_in_every_format(cloud):
    nagios = check(cloud, "--nagios")
    assert nagios.returncode == 0, nagios.stdout + nagios.stderr
    assert nagios.stdout.startswith("NCLOUD OK - 9 checks OK | api_seconds=")
    assert "services_up=5 " in nagios.stdout and "free_vcpu=" in nagios.stdout
    report = json.loads(check(cloud, "--format", "json").stdout)
    assert report["status"] == "OK"
    assert [c["check"] for c in report["checks"]] == ["api", "token", "database", "message_bus", "services",
                                                      "capacity", "stuck_servers", "allocations", "image_store"]
    table = check(cloud)
    assert table.returncode == 0 and "ncloud check: OK" in table.stdout


def test_the_smoke_test_boots_and_deletes_a_server(cloud):
    done = check(cloud, "--smoke", "--only", "api", "--nagios")
    assert done.returncode == 0, done.stdout
    assert "smoke_boot_seconds=" in done.stdout
    servers = cloud.client.get("/servers?all_tenants=1").json()["servers"]
    assert not [s for s in servers if s["name"].startswith("ncloud-smoke-")]


def test_stuck_servers_and_orphan_allocations_are_warnings(cloud):
    server = cloud.boot("stuck")
    cloud.wait_for_status([server])
    db = Database(f"sqlite:///{cloud.workdir / 'ncloud.sqlite'}")
    orphan = str(uuid.uuid4())
    try:
        with db.writer() as session:
            session.execute(update(Instance).where(Instance.uuid == server).values(
                task_state="rebooting", task_started_at=utcnow().replace(year=2020)))
            session.execute(insert(Allocation).values(resource_provider_id=1, consumer_id=orphan,
                                                      resource_class="VCPU", used=1))
        done = check(cloud, "--nagios")
        assert done.returncode == 1, done.stdout
        assert done.stdout.startswith("NCLOUD WARNING - stuck_servers WARNING: 1 server(s) in a transition")
        assert f"{server} (active/rebooting on cmp" in done.stdout
        assert f"allocations WARNING: 1 allocation consumer(s) without a server: {orphan}" in done.stdout
    finally:
        with db.writer() as session:
            session.execute(update(Instance).where(Instance.uuid == server).values(task_state=None))
            session.query(Allocation).filter(Allocation.consumer_id == orphan).delete()
        db.dispose()
    cloud.client.delete(f"/servers/{server}")


def test_a_dead_compute_is_critical_and_named(cloud):
    cloud.kill("cmp2", signal.SIGKILL)
    wait_until(lambda: cloud.up_services().get(("ncloud-compute", "cmp2")) == "down", 30, what="cmp2 down")
    done = check(cloud, "--nagios")
    assert done.returncode == 2, done.stdout
    assert done.stdout.startswith("NCLOUD CRITICAL - services CRITICAL: ncloud-compute on cmp2 is down "
                                  "(last heartbeat ")
    report = json.loads(check(cloud, "--format", "json").stdout)
    assert {c["check"]: c["status"] for c in report["checks"]}["capacity"] == "OK"  # cmp1 still serves


def test_an_unreachable_database_is_critical_and_the_checks_that_need_it_unknown(cloud, tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text(cloud.config_file.read_text().replace(
        f"sqlite:///{cloud.workdir / 'ncloud.sqlite'}", f"sqlite:///{tmp_path / 'missing' / 'x.sqlite'}"))
    done = subprocess.run([str(BIN / "ncloud"), "check", "--nagios", "--only", "database", "--only", "services",
                           "--config-file", str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout
    assert "database CRITICAL: unreachable" in done.stdout
    assert "services UNKNOWN: not checked: database unavailable" in done.stdout
