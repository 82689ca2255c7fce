"""Two real compute hosts: guests moved between them by cold migration, live migration and
evacuation, and a build rescheduled off a host whose hypervisor fails.

The control plane (API, conductor, scheduler) runs as processes on this machine with RabbitMQ and
MariaDB; each compute host is a node of tests/nodes.py (its own network and mount namespaces,
libvirtd, sshd and ncloud-compute with the libvirt driver), so a migration crosses a network
between two libvirtds exactly as between two machines: disks copied by rsync over SSH, memory
streamed QEMU to QEMU over TCP.
"""

from __future__ import annotations

import re
import uuid as uuidlib

import httpx
import pytest

from ncloud.cli.tiny_image import MARKER
from tests.cloud import wait_until
from tests.nodes import HOST_ADDRESS, Node, libvirt_cloud

pytestmark = pytest.mark.slow

SUBNET = "198.18.8.0/24"
ADMIN = {"X-Auth-Token": "admin:admin", "OpenStack-API-Version": "compute 2.56"}
# Prints what it finds at 100 MiB into its root disk, then leaves its own mark there: after a
# cold migration the mark must still be found (the disk was copied, not made anew).
DISK_CHECK = """#!/bin/sh
found=$(dd if=/dev/vda bs=1M skip=100 count=1 2>/dev/null | head -c 18)
echo "ncloud-tiny: disk says [$found]"
printf ncloud-disk-marker | dd of=/dev/vda bs=1M seek=100 conv=notrunc 2>/dev/null
sync
"""
PING_OUT = f"""#!/bin/sh
ping -c 3 -W 2 {HOST_ADDRESS} >/dev/null 2>&1 && echo "ncloud-tiny: reached {HOST_ADDRESS}"
"""
# Counts seconds on the console: a guest that keeps running keeps counting, one that rebooted
# starts again from 0.
TICKER = """#!/bin/sh
(i=0; while true; do echo "ncloud-tiny: tick $i"; i=$((i+1)); sleep 1; done) &
"""


@pytest.fixture(scope="module")
def cloud(mariadb):
    database_name = f"t_{uuidlib.uuid4().hex[:16]}"
    try:
        with libvirt_cloud(mariadb.create_database(database_name), subnet=SUBNET) as cloud:
            cloud.admin = httpx.Client(base_url=cloud.url, headers=ADMIN, timeout=60)
            yield cloud
    finally:
        mariadb.drop_database(database_name)


def boot(cloud, name: str, host: str, user_data: str | None = None) -> str:
    import base64

    server = {"name": name, "flavorRef": "1", "imageRef": cloud.image_id, "networks": "auto",
              "availability_zone": f"nova:{host}", "config_drive": True}
    if user_data:
        server["user_data"] = base64.b64encode(user_data.encode()).decode()
    response = cloud.admin.post("/servers", json={"server": server})
    assert response.status_code == 202, response.text
    uuid = response.json()["server"]["id"]
    wait_status(cloud, uuid, "ACTIVE")
    return uuid


def show(cloud, uuid: str) -> dict:
    return cloud.admin.get(f"/servers/{uuid}").json()["server"]


def wait_status(cloud, uuid: str, status: str, timeout: float = 180) -> dict:
    found = {}

    def reached():
        found["server"] = show(cloud, uuid)
        if found["server"]["status"] == "ERROR" and status != "ERROR":
            raise AssertionError(f"{uuid} failed: {found['server'].get('fault')}")
        return found["server"]["status"] == status and found["server"]["OS-EXT-STS:task_state"] is None
    wait_until(reached, timeout, interval=1, what=f"{uuid} to be {status}")
    return found["server"]


def console(cloud, uuid: str) -> str:
    response = cloud.admin.post(f"/servers/{uuid}/action", json={"os-getConsoleOutput": {}})
    assert response.status_code == 200, response.text
    return response.json()["output"]


def wait_console(cloud, uuid: str, pattern: str, count: int = 1, timeout: float = 120) -> str:
    found = {}

    def there():
        found["log"] = console(cloud, uuid)
        return len(re.findall(pattern, found["log"])) >= count
    try:
        wait_until(there, timeout, interval=1, what=f"{uuid} to print {pattern!r}")
    except AssertionError as error:
        raise AssertionError(f"{error}; its console said:\n{found.get('log')}") from None
    return found["log"]


def address(server: dict) -> str:
    [entry] = server["addresses"]["private"]
    return entry["addr"]


def action(cloud, uuid: str, body: dict, expect: int = 202) -> httpx.Response:
    response = cloud.admin.post(f"/servers/{uuid}/action", json=body)
    assert response.status_code == expect, response.text
    return response


def qemu_runs_on(node: Node, uuid: str) -> bool:
    listed = node.run("virsh", "-c", "qemu:///system", "list", "--name").stdout.split()
    return f"ncloud-{uuid}" in listed


def test_a_server_boots_on_each_host_with_an_address_from_its_own_dhcp_and_gets_out_through_nat(cloud):
    for host in ("node1", "node2"):
        uuid = boot(cloud, f"on-{host}", host, user_data=PING_OUT)
        server = show(cloud, uuid)
        assert server["OS-EXT-SRV-ATTR:host"] == host
        wait_console(cloud, uuid, re.escape(f"ncloud-tiny: eth0 {address(server)}/24"))
        # The controller's address is beyond the host: the answer comes back only through the NAT.
        wait_console(cloud, uuid, re.escape(f"ncloud-tiny: reached {HOST_ADDRESS}"))
        assert qemu_runs_on(cloud.nodes[host], uuid)


def test_cold_migration_copies_the_disk_to_the_other_host(cloud):
    uuid = boot(cloud, "mover", "node1", user_data=DISK_CHECK)
    wait_console(cloud, uuid, re.escape("ncloud-tiny: disk says []"))
    ip = address(show(cloud, uuid))
    action(cloud, uuid, {"migrate": {"host": "node2"}})
    wait_status(cloud, uuid, "VERIFY_RESIZE")
    assert qemu_runs_on(cloud.nodes["node2"], uuid) and not qemu_runs_on(cloud.nodes["node1"], uuid)
    log = wait_console(cloud, uuid, re.escape("ncloud-tiny: disk says [ncloud-disk-marker]"))
    assert f"ncloud-tiny: eth0 {ip}/24" in log.split("disk says [ncloud-disk-marker]")[0].rsplit(MARKER, 1)[1]
    action(cloud, uuid, {"confirmResize": None}, expect=204)
    server = wait_status(cloud, uuid, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == "node2" and address(server) == ip
    node1_instances = cloud.nodes["node1"].private("/var/lib/ncloud") / "instances"
    assert not (node1_instances / uuid).exists() and not (node1_instances / f"{uuid}_resize").exists()

    # Back to node1, then reverted: the guest comes back on node2 from the copy node2 kept.
    action(cloud, uuid, {"migrate": {"host": "node1"}})
    wait_status(cloud, uuid, "VERIFY_RESIZE")
    assert qemu_runs_on(cloud.nodes["node1"], uuid)
    action(cloud, uuid, {"revertResize": None})
    server = wait_status(cloud, uuid, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == "node2" and qemu_runs_on(cloud.nodes["node2"], uuid)
    assert not qemu_runs_on(cloud.nodes["node1"], uuid) and not (node1_instances / uuid).exists()


def test_live_migration_moves_a_running_guest_that_keeps_running(cloud):
    uuid = boot(cloud, "runner", "node2", user_data=TICKER)
    before = wait_console(cloud, uuid, r"ncloud-tiny: tick 5\b")
    ip = address(show(cloud, uuid))
    action(cloud, uuid, {"os-migrateLive": {"host": "node1", "block_migration": "auto"}})
    wait_status(cloud, uuid, "ACTIVE")
    wait_until(lambda: show(cloud, uuid)["OS-EXT-SRV-ATTR:host"] == "node1", 180, what="the move to node1")
    assert qemu_runs_on(cloud.nodes["node1"], uuid) and not qemu_runs_on(cloud.nodes["node2"], uuid)
    last_before = max(int(n) for n in re.findall(r"tick (\d+)", before))
    after = wait_console(cloud, uuid, r"ncloud-tiny: tick \d+", count=3)
    ticks = [int(n) for n in re.findall(r"tick (\d+)", after)]
    assert min(ticks) > last_before, after  # it counted on: no reboot, the same memory
    assert MARKER not in after
    assert address(show(cloud, uuid)) == ip
    migrations = cloud.admin.get(f"/servers/{uuid}/migrations").json()
    assert migrations == {"migrations": []}  # done: no migration in progress


def test_evacuation_rebuilds_the_guest_of_a_dead_host_on_the_other(cloud):
    uuid = boot(cloud, "survivor", "node2")
    ip = address(show(cloud, uuid))
    node2 = cloud.nodes["node2"]
    node2.kill_compute()
    node2.run("virsh", "-c", "qemu:///system", "destroy", f"ncloud-{uuid}")  # the host died with it
    response = cloud.admin.put("/os-services/force-down", json={"host": "node2", "binary": "ncloud-compute",
                                                                "forced_down": True},
                               headers={"OpenStack-API-Version": "compute 2.11"})
    assert response.status_code == 200, response.text
    action(cloud, uuid, {"evacuate": {}}, expect=200)
    server = wait_status(cloud, uuid, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == "node1" and address(server) == ip
    wait_console(cloud, uuid, re.escape(f"ncloud-tiny: eth0 {ip}/24"))
    # node2 comes back: it removes the old guest, which must not run beside the new one.
    node2.start_compute(cloud.compute_config["node2"], node2.root.parent / "node2-compute.log")
    cloud.admin.put("/os-services/force-down", json={"host": "node2", "binary": "ncloud-compute",
                                                     "forced_down": False},
                    headers={"OpenStack-API-Version": "compute 2.11"})
    cloud.wait_for_computes(["node2"], timeout=60)
    wait_until(lambda: f"ncloud-{uuid}" not in node2.run("virsh", "-c", "qemu:///system", "list", "--all",
                                                         "--name").stdout, 60, what="node2 to remove the old guest")


def test_a_build_that_fails_on_one_hypervisor_is_rescheduled_to_the_other(cloud):
    free = {h["hypervisor_hostname"]: h["free_ram_mb"]
            for h in cloud.admin.get("/os-hypervisors/detail", headers={**ADMIN, "OpenStack-API-Version":
                                                                          "compute 2.27"}).json()["hypervisors"]}
    if free["node1"] == free["node2"]:  # make the scheduler's first choice certain
        boot(cloud, "ballast", "node2")
        free["node2"] -= 512
    first, other = sorted(free, key=free.get, reverse=True)
    node = cloud.nodes[first]
    pid = int((node.private("/run/libvirt") / "libvirtd.pid").read_text())
    node.run("kill", str(pid))  # its hypervisor is gone; its compute service still answers
    try:
        server = {"name": "elsewhere", "flavorRef": "1", "imageRef": cloud.image_id, "networks": "auto"}
        uuid = cloud.admin.post("/servers", json={"server": server}).json()["server"]["id"]
        server = wait_status(cloud, uuid, "ACTIVE")
        assert server["OS-EXT-SRV-ATTR:host"] == other
        actions = cloud.admin.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        [create] = [entry for entry in actions if entry["action"] == "create"]
        detail = cloud.admin.get(f"/servers/{uuid}/os-instance-actions/{create['request_id']}",
                                 headers={**ADMIN, "OpenStack-API-Version": "compute 2.84"}).json()
        failed = [event for event in detail["instanceAction"]["events"] if event["result"] == "Error"]
        assert [event["host"] for event in failed] == [first], detail
        assert "cannot connect to the hypervisor" in failed[0]["details"]
    finally:
        node.run("libvirtd", "-d", "--listen", "-p", "/run/libvirt/libvirtd.pid")
