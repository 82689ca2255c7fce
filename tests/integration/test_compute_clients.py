"""The stock `openstack` CLI and openstacksdk drive servers, key pairs and quotas on a running all-in-one.

`ncloud up` runs as its own process (every daemon, Identity tokens, the fake driver), and the
clients reach it through the clouds.yaml it writes, unmodified: what an end user does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openstack
import pytest
import yaml

from tests.cloud import free_port, wait_until

BIN = Path(sys.executable).parent
DEMO_IMAGE = "ncloud-demo"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """The state directory of a running `ncloud up` (its clouds.yaml names clouds ncloud and ncloud-demo),
    one compute host on which a resize may stay."""
    with up(tmp_path_factory.mktemp("compute-clients"), NCLOUD_DEFAULT__ALLOW_RESIZE_TO_SAME_HOST="true") as state:
        yield state


@contextlib.contextmanager
def up(state: Path, driver: str = "fake", **options: str):
    """`ncloud up --driver DRIVER` running in `state`, with `options` as NCLOUD_* variables."""
    with open(state / "up.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "ncloud"), "up", "--state-dir", str(state), "--port", str(free_port()),
                                    "--driver", driver],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **options})
    try:
        wait_until(lambda: (state / "clouds.yaml").exists() or process.poll() is not None, 90, what="ncloud up")
        assert process.poll() is None, (state / "up.log").read_text()
        yield state
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def osc(cloud: Path, *args: str, user_cloud: str = "ncloud", check: bool = True) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(cloud / "clouds.yaml"), OS_CLOUD=user_cloud)
    result = subprocess.run([str(BIN / "openstack"), *args], capture_output=True, text=True, env=env, timeout=180)
    if check:
        assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return result


def status(cloud: Path, server: str, **kwargs) -> str:
    return osc(cloud, "server", "show", server, "-f", "value", "-c", "status", **kwargs).stdout.strip()


def test_a_server_lifecycle_with_the_stock_client(cloud, tmp_path):
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    demo = {"user_cloud": "ncloud-demo"}
    osc(cloud, "keypair", "create", "--public-key", f"{key}.pub", "laptop", **demo)
    created = json.loads(osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none",
                             "--key-name", "laptop", "--wait", "-f", "json", "web", **demo).stdout)
    assert created["status"] == "ACTIVE" and created["key_name"] == "laptop"
    listed = json.loads(osc(cloud, "server", "list", "-f", "json", **demo).stdout)
    assert [(s["Name"], s["Image"], s["Flavor"]) for s in listed] == [("web", DEMO_IMAGE, "m1.tiny")]

    osc(cloud, "server", "set", "--name", "web-1", "--description", "front end", "web", **demo)
    shown = json.loads(osc(cloud, "server", "show", "-f", "json", "web-1", **demo).stdout)
    assert shown["description"] == "front end"

    for verb, settled in (("stop", "SHUTOFF"), ("start", "ACTIVE"), ("pause", "PAUSED"), ("unpause", "ACTIVE"),
                          ("suspend", "SUSPENDED"), ("resume", "ACTIVE")):
        osc(cloud, "server", verb, "web-1", **demo)
        wait_until(lambda settled=settled: status(cloud, "web-1", **demo) == settled, 60, what=f"{verb} done")
    osc(cloud, "server", "reboot", "--hard", "--wait", "web-1", **demo)
    assert status(cloud, "web-1", **demo) == "ACTIVE"
    assert osc(cloud, "console", "log", "show", "web-1", **demo).stdout.strip()

    osc(cloud, "server", "lock", "--reason", "audit", "web-1", **demo)
    refused = osc(cloud, "server", "stop", "web-1", check=False, **demo)
    assert refused.returncode != 0 and "is locked" in refused.stderr
    osc(cloud, "server", "unlock", "web-1", **demo)
    osc(cloud, "server", "delete", "--wait", "web-1", **demo)
    assert "web-1" not in osc(cloud, "server", "list", "-f", "value", "-c", "Name", **demo).stdout.split()
    osc(cloud, "keypair", "delete", "laptop", **demo)


def test_quotas_set_by_the_admin_bind_the_project(cloud):
    osc(cloud, "quota", "set", "--instances", "1", "demo")
    shown = json.loads(osc(cloud, "quota", "show", "--usage", "-f", "json", "demo").stdout)
    assert {row["Resource"]: (row["Limit"], row["In Use"]) for row in shown}["instances"] == (1, 0)
    demo = {"user_cloud": "ncloud-demo"}
    osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait", "one",
        **demo)
    refused = osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "two",
                  check=False, **demo)
    assert refused.returncode != 0
    assert "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances" in refused.stderr
    limits = osc(cloud, "limits", "show", "--absolute", "-f", "value", **demo).stdout
    assert "instances 1" in limits and "instances_used 1" in limits
    osc(cloud, "server", "delete", "--wait", "one", **demo)
    osc(cloud, "quota", "set", "--instances", "10", "demo")


def test_openstacksdk_creates_waits_for_and_deletes_a_server(cloud):
    auth = yaml.safe_load((cloud / "clouds.yaml").read_text())["clouds"]["ncloud-demo"]
    conn = openstack.connect(region_name=auth["region_name"], **auth["auth"])
    try:
        image = conn.image.find_image(DEMO_IMAGE)
        flavor = conn.compute.find_flavor("m1.tiny")
        server = conn.compute.create_server(name="sdk", image_id=image.id, flavor_id=flavor.id, networks="none")
        server = conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
        assert server.status == "ACTIVE"
        assert conn.compute.get_server(server.id).name == "sdk"
        # Through the conductor and the compute's fake driver, which writes to the console log.
        conn.compute.change_server_password(server, "n3w-pass")
        conn.compute.trigger_server_crash_dump(server)
        wait_until(lambda: "NMI received" in conn.compute.get_server_console_output(server)["output"], 30,
                   what="the crash dump in the console log")
        assert "administrator password changed" in conn.compute.get_server_console_output(server)["output"]
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)  # raises if it is still there after 120 s
        assert conn.compute.find_server("sdk") is None
    finally:
        conn.close()


def test_groups_aggregates_zones_services_and_flavor_properties_with_the_stock_client(cloud):
    demo = {"user_cloud": "ncloud-demo"}
    group = json.loads(osc(cloud, "server", "group", "create", "--policy", "anti-affinity", "-f", "json", "apart",
                           **demo).stdout)
    osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--hint",
        f"group={group['id']}", "--wait", "member", **demo)
    shown = json.loads(osc(cloud, "server", "group", "show", "-f", "json", "apart", **demo).stdout)
    assert len(shown["members"]) == 1
    # one compute host: a second member of an anti-affinity group has nowhere to go
    osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--hint",
        f"group={group['id']}", "second", **demo)
    wait_until(lambda: status(cloud, "second", **demo) == "ERROR", 60, what="second member refused")
    fault = json.loads(osc(cloud, "server", "show", "-f", "json", "second", **demo).stdout)["fault"]
    assert "ServerGroupAntiAffinityFilter removed 1" in fault["message"]
    for name in ("second", "member"):
        osc(cloud, "server", "delete", "--wait", name, **demo)
    osc(cloud, "server", "group", "delete", "apart", **demo)

    services = json.loads(osc(cloud, "compute", "service", "list", "--service", "ncloud-compute", "-f", "json").stdout)
    host = services[0]["Host"]
    osc(cloud, "aggregate", "create", "--zone", "az1", "rack1")
    osc(cloud, "aggregate", "add", "host", "rack1", host)
    zones = osc(cloud, "availability", "zone", "list", "--compute", "-f", "value", "-c", "Zone Name").stdout.split()
    assert "az1" in zones and "nova" not in zones  # the one host moved; `internal` holds the other services
    created = json.loads(osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic",
                             "none", "--availability-zone", "az1", "--wait", "-f", "json", "zoned", **demo).stdout)
    assert created["OS-EXT-AZ:availability_zone"] == "az1"
    osc(cloud, "server", "delete", "--wait", "zoned", **demo)
    osc(cloud, "aggregate", "remove", "host", "rack1", host)
    osc(cloud, "aggregate", "delete", "rack1")

    osc(cloud, "compute", "service", "set", "--disable", "--disable-reason", "maintenance", host, "ncloud-compute")
    listed = json.loads(osc(cloud, "compute", "service", "list", "--service", "ncloud-compute", "-f", "json").stdout)
    assert listed[0]["Status"] == "disabled"
    osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "parked", **demo)
    wait_until(lambda: status(cloud, "parked", **demo) == "ERROR", 60, what="no enabled host")
    osc(cloud, "server", "delete", "--wait", "parked", **demo)
    osc(cloud, "compute", "service", "set", "--enable", host, "ncloud-compute")

    osc(cloud, "flavor", "set", "--property", "hw:cpu_policy=shared", "m1.tiny")
    flavor = json.loads(osc(cloud, "flavor", "show", "-f", "json", "m1.tiny").stdout)
    assert flavor["properties"] == {"hw:cpu_policy": "shared"}
    assert json.loads(osc(cloud, "hypervisor", "list", "-f", "json").stdout)[0]["State"] == "up"


def test_every_action_on_one_host_with_the_stock_client(cloud):
    demo = {"user_cloud": "ncloud-demo"}
    osc(cloud, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait", "app",
        **demo)

    osc(cloud, "server", "resize", "--flavor", "m1.small", "--wait", "app", **demo)
    assert status(cloud, "app", **demo) == "VERIFY_RESIZE"
    osc(cloud, "server", "resize", "--confirm", "app", **demo)
    wait_until(lambda: status(cloud, "app", **demo) == "ACTIVE", 60, what="resize confirmed")
    def flavor() -> str:  # the name of the server's flavor (embedded from 2.47, which osc uses)
        shown = json.loads(osc(cloud, "server", "show", "app", "-f", "json", **demo).stdout)["flavor"]
        return shown["name"] if isinstance(shown, dict) else shown.split(" ")[0]
    assert flavor() == "m1.small"
    osc(cloud, "server", "resize", "--flavor", "m1.medium", "--wait", "app", **demo)
    osc(cloud, "server", "resize", "revert", "app", **demo)
    wait_until(lambda: status(cloud, "app", **demo) == "ACTIVE", 60, what="resize reverted")
    assert flavor() == "m1.small"
    server_id = osc(cloud, "server", "show", "app", "-f", "value", "-c", "id", **demo).stdout.strip()
    migrations = json.loads(osc(cloud, "server", "migration", "list", "--server", server_id, "-f", "json").stdout)
    assert sorted(m["Status"] for m in migrations) == ["confirmed", "reverted"]

    osc(cloud, "server", "set", "--password", "n3w-pass", "app", **demo)  # changePassword
    url = osc(cloud, "console", "url", "show", "-f", "value", "-c", "url", "app", **demo).stdout.strip()
    assert url.startswith("http://127.0.0.1:6080/vnc_lite.html?path=%3Ftoken%3D")
    osc(cloud, "server", "rebuild", "--image", DEMO_IMAGE, "--wait", "app", **demo)
    osc(cloud, "server", "rescue", "app", **demo)
    wait_until(lambda: status(cloud, "app", **demo) == "RESCUE", 60, what="rescued")
    osc(cloud, "server", "unrescue", "app", **demo)
    wait_until(lambda: status(cloud, "app", **demo) == "ACTIVE", 60, what="unrescued")

    snapshot = json.loads(osc(cloud, "server", "image", "create", "--name", "app-snap", "--wait", "-f", "json",
                              "app", **demo).stdout)
    assert snapshot["status"] == "active"
    osc(cloud, "server", "backup", "create", "--name", "app-daily", "--type", "daily", "--rotate", "1", "--wait",
        "app", **demo)
    images = osc(cloud, "image", "list", "--private", "-f", "value", "-c", "Name", **demo).stdout.split()
    assert {"app-snap", "app-daily"} <= set(images)

    osc(cloud, "server", "shelve", "--wait", "app", **demo)
    assert status(cloud, "app", **demo) == "SHELVED_OFFLOADED"
    assert "app-shelved" in osc(cloud, "image", "list", "-f", "value", "-c", "Name", **demo).stdout.split()
    osc(cloud, "server", "unshelve", "--wait", "app", **demo)
    assert status(cloud, "app", **demo) == "ACTIVE"
    wait_until(lambda: "app-shelved" not in osc(cloud, "image", "list", "-f", "value", "-c", "Name",
                                                 **demo).stdout.split(), 30, what="the shelved image to go")
    osc(cloud, "server", "delete", "--wait", "app", **demo)
    for name in ("app-snap", "app-daily"):
        osc(cloud, "image", "delete", name, **demo)


def test_moves_between_hosts_with_the_stock_client(tmp_path_factory):
    """Cold and live migration and evacuation need other hosts: a cloud of three simulated ones."""
    with up(tmp_path_factory.mktemp("moves"), NCLOUD_FAKE__HOSTS="3", NCLOUD_DEFAULT__SHELVED_OFFLOAD_TIME="-1",
            NCLOUD_DEFAULT__RECLAIM_INSTANCE_INTERVAL="3600") as state:
        osc(state, "server", "create", "--image", DEMO_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait",
            "roamer")

        def host() -> str:
            return osc(state, "server", "show", "roamer", "-f", "value", "-c", "OS-EXT-SRV-ATTR:host").stdout.strip()
        first = host()
        osc(state, "server", "migrate", "--wait", "roamer")
        osc(state, "server", "migrate", "confirm", "roamer")
        wait_until(lambda: status(state, "roamer") == "ACTIVE", 60, what="the migration confirmed")
        second = host()
        assert second != first
        osc(state, "server", "migrate", "--live-migration", "--wait", "roamer")
        third = host()
        assert third != second and status(state, "roamer") == "ACTIVE"
        osc(state, "--os-compute-api-version", "2.11", "compute", "service", "set", "--down", third,
            "ncloud-compute")
        # From 2.95 an evacuated server arrives stopped (osc's --wait would wait for ACTIVE).
        osc(state, "--os-compute-api-version", "2.95", "server", "evacuate", "roamer")
        wait_until(lambda: status(state, "roamer") == "SHUTOFF", 60, what="the evacuation")
        assert host() != third
        listed = json.loads(osc(state, "server", "migration", "list", "-f", "json").stdout)
        assert sorted(m["Type"] for m in listed) == ["evacuation", "live-migration", "migration"]
        osc(state, "--os-compute-api-version", "2.11", "compute", "service", "set", "--up", third, "ncloud-compute")

        # This cloud keeps shelved servers on their host and deleted ones restorable for an hour.
        osc(state, "server", "start", "roamer")
        wait_until(lambda: status(state, "roamer") == "ACTIVE", 60, what="started")
        osc(state, "server", "dump", "create", "roamer")
        osc(state, "server", "set", "--auto-approve", "--state", "error", "roamer")
        assert status(state, "roamer") == "ERROR"
        osc(state, "server", "set", "--auto-approve", "--state", "active", "roamer")
        osc(state, "server", "shelve", "--wait", "roamer")
        assert status(state, "roamer") == "SHELVED"
        osc(state, "server", "unshelve", "--wait", "roamer")
        osc(state, "server", "shelve", "--offload", "--wait", "roamer")  # shelve, then the shelveOffload action
        assert status(state, "roamer") == "SHELVED_OFFLOADED"
        osc(state, "server", "unshelve", "--wait", "roamer")
        osc(state, "server", "delete", "roamer")
        wait_until(lambda: status(state, "roamer") == "SOFT_DELETED", 60, what="soft deleted")
        osc(state, "server", "restore", "roamer")
        wait_until(lambda: status(state, "roamer") == "ACTIVE", 60, what="restored")
        osc(state, "server", "delete", "roamer")
        wait_until(lambda: status(state, "roamer") == "SOFT_DELETED", 60, what="soft deleted again")
        osc(state, "server", "delete", "--force", "--wait", "roamer")
