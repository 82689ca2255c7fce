"""The stock `openstack` CLI and openstacksdk drive servers, key pairs and quotas on a running all-in-one.

`ncloud up` runs as its own process (every daemon, Identity tokens, the fake driver), and the
clients reach it through the clouds.yaml it writes, unmodified: what an end user does.
"""

from __future__ import annotations

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
    """The state directory of a running `ncloud up` (its clouds.yaml names clouds ncloud and ncloud-demo)."""
    state = tmp_path_factory.mktemp("compute-clients")
    with open(state / "up.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "ncloud"), "up", "--state-dir", str(state), "--port", str(free_port())],
                                   stdout=log, stderr=subprocess.STDOUT)
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
    assert "web" in osc(cloud, "server", "list", "-f", "value", "-c", "Name", **demo).stdout.split()

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
