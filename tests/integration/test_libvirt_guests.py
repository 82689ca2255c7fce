"""Real QEMU guests through the libvirt driver, driven by the stock `openstack` client.

`ncloud up --driver libvirt` runs the all-in-one against this machine's libvirtd (started here if
it does not run, tests/libvirt_host.py), builds the tiny guest from Debian packages and uploads it.
Guests run under TCG (software emulation): /dev/kvm here is nested and unusable. What the guests
print on their serial consoles (their boot marker, the address DHCP gave them, their power-off) is
the proof that they really run.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import libvirt
import pytest

from ncloud.cli.tiny_image import MARKER
from ncloud.daemons.compute.virt.libvirt.imagecache import base_name
from ncloud.daemons.compute.virt.libvirt.network import FlatNetwork
from ncloud.daemons.core import config
from tests.cloud import wait_until
from tests.integration.test_compute_clients import osc, up
from tests.libvirt_host import ensure_libvirtd, restart_libvirtd

pytestmark = pytest.mark.slow

BRIDGE = "nctest0"
SUBNET = "198.19.7.0/24"  # beside, not inside, the default 198.18.0.0/16
DHCP_DIR = Path("/run/ncloud-tests/networks")
DEMO = {"user_cloud": "ncloud-demo"}
BOOT_TIMEOUT = 120


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A running all-in-one with real guests; its bridge, dnsmasq and NAT rules go afterwards."""
    uri = ensure_libvirtd()
    state = tmp_path_factory.mktemp("libvirt-guests")
    options = {"NCLOUD_COMPUTE__COMPUTE_DRIVER": "libvirt", "NCLOUD_LIBVIRT__URI": uri,
               "NCLOUD_LIBVIRT__SHUTDOWN_TIMEOUT": "10", "NCLOUD_NETWORK__BRIDGE": BRIDGE,
               "NCLOUD_NETWORK__FIXED_RANGE": SUBNET, "NCLOUD_NETWORK__DHCP_DIR": str(DHCP_DIR),
               "NCLOUD_DEFAULT__ALLOW_RESIZE_TO_SAME_HOST": "true",
               # Room for every test's guests on a 2-core machine and in the demo project's quota
               # (they live until the last test).
               "NCLOUD_COMPUTE__CPU_ALLOCATION_RATIO": "16", "NCLOUD_QUOTA__INSTANCES": "-1",
               "NCLOUD_QUOTA__CORES": "-1", "NCLOUD_QUOTA__RAM": "-1",
               # Lifecycle events, not the periodic sync, must notice a guest that powered itself off.
               "NCLOUD_COMPUTE__SYNC_POWER_STATE_INTERVAL": "3600"}
    try:
        with up(state, driver="libvirt", **options) as running:
            yield running
    finally:
        conn = libvirt.open(uri)
        for dom in conn.listAllDomains(0):  # a failed test may leave guests
            if str(state) in dom.XMLDesc(0):
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        FlatNetwork(config.load(None, environ=options)).teardown()


def libvirt_domain(uuid: str) -> libvirt.virDomain | None:
    conn = libvirt.open("qemu:///system")
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError:
        return None


def server(cloud, name: str) -> dict:
    return json.loads(osc(cloud, "server", "show", "-f", "json", name, **DEMO).stdout)


def create(cloud, name: str, image: str = "ncloud-tiny", *extra: str) -> dict:
    created = json.loads(osc(cloud, "server", "create", "--image", image, "--flavor", "m1.tiny", *extra,
                             "--wait", "-f", "json", name, **DEMO).stdout)
    assert created["status"] == "ACTIVE", created
    return created


def console(cloud, name: str) -> str:
    return osc(cloud, "console", "log", "show", name, **DEMO).stdout


def wait_console(cloud, name: str, text: str, count: int = 1, timeout: float = BOOT_TIMEOUT) -> str:
    """The console log once `text` is in it `count` times."""
    found = {}

    def there():
        found["log"] = console(cloud, name)
        return found["log"].count(text) >= count
    try:
        wait_until(there, timeout, interval=1, what=f"{name} to print {text!r} {count} time(s)")
    except AssertionError as error:
        raise AssertionError(f"{error}; its console said:\n{found.get('log')}") from None
    return found["log"]


def wait_status(cloud, name: str, status: str, timeout: float = 120) -> dict:
    found = {}

    def reached():
        found["server"] = server(cloud, name)
        return found["server"]["status"] == status and not found["server"].get("OS-EXT-STS:task_state")
    wait_until(reached, timeout, interval=1, what=f"{name} to be {status}")
    return found["server"]


def flavor_name(body: dict) -> str:
    """The flavor as the client shows it: embedded from 2.47 (its original_name), a name and id before."""
    flavor = body["flavor"]
    return flavor.get("original_name") or flavor["name"] if isinstance(flavor, dict) else flavor.split()[0]


def address(body: dict) -> str:
    """The one fixed IP of a server body as the client shows it ({"private": ["198.19.7.x"]})."""
    addresses = body["addresses"]
    [(network, [ip])] = addresses.items()
    assert network == "private"
    return ip


def test_two_servers_boot_print_their_marker_and_get_their_fixed_ip_by_dhcp(cloud):
    first = create(cloud, "web-1", "ncloud-tiny", "--nic", "auto")
    second = create(cloud, "web-2", "ncloud-tiny", "--nic", "auto", "--config-drive", "True")
    ips = {address(server(cloud, "web-1")), address(server(cloud, "web-2"))}
    assert len(ips) == 2
    for name, body in (("web-1", first), ("web-2", second)):
        ip = address(server(cloud, name))
        log = wait_console(cloud, name, f"ncloud-tiny: eth0 {ip}/24")
        assert MARKER in log
        dom = libvirt_domain(body["id"])
        assert dom is not None and dom.isActive() and dom.isPersistent()
    assert f"config drive uuid={second['id']}" in console(cloud, "web-2")
    # Each guest's tap is on the bridge, which holds the gateway.
    links = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True).stdout
    assert sum(f"tap{body['id'].replace('-', '')[:11]}" in links for body in (first, second)) == 2
    gateway = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], capture_output=True, text=True).stdout
    assert "198.19.7.1/24" in gateway


def test_power_actions_act_on_the_real_guest(cloud):
    create(cloud, "power")
    uuid = server(cloud, "power")["id"]
    wait_console(cloud, "power", "ncloud-tiny: ready")
    dom = libvirt_domain(uuid)
    diagnostics = json.loads(osc(cloud, "--os-compute-api-version", "2.48", "server", "show", "--diagnostics",
                                 "-f", "json", uuid).stdout)
    assert (diagnostics["state"], diagnostics["driver"], diagnostics["num_nics"]) == ("running", "libvirt", 1)
    assert diagnostics["nic_details"][0]["rx_packets"] > 0  # its DHCP answer, at least
    assert diagnostics["disk_details"][0]["read_bytes"] > 0

    osc(cloud, "server", "stop", "power", **DEMO)
    wait_status(cloud, "power", "SHUTOFF")
    assert "ncloud-tiny: powering off" in console(cloud, "power")  # the ACPI button, not the plug
    assert not dom.isActive()
    osc(cloud, "server", "start", "power", **DEMO)
    wait_status(cloud, "power", "ACTIVE")
    wait_console(cloud, "power", MARKER, count=2)

    osc(cloud, "server", "reboot", "power", **DEMO)
    wait_status(cloud, "power", "ACTIVE")
    wait_console(cloud, "power", MARKER, count=3)
    osc(cloud, "server", "reboot", "--hard", "power", **DEMO)
    wait_status(cloud, "power", "ACTIVE")
    wait_console(cloud, "power", "ncloud-tiny: ready", count=4)

    osc(cloud, "server", "pause", "power", **DEMO)
    wait_status(cloud, "power", "PAUSED")
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    osc(cloud, "server", "unpause", "power", **DEMO)
    wait_status(cloud, "power", "ACTIVE")

    osc(cloud, "server", "suspend", "power", **DEMO)
    wait_status(cloud, "power", "SUSPENDED")
    assert not dom.isActive() and dom.hasManagedSaveImage(0)
    osc(cloud, "server", "resume", "power", **DEMO)
    wait_status(cloud, "power", "ACTIVE")
    assert dom.isActive()
    time.sleep(3)
    assert console(cloud, "power").count(MARKER) == 4  # its memory came back: it did not boot again


def test_a_guest_that_ignores_the_power_button_is_stopped_after_the_timeout(cloud):
    user_data = Path(cloud) / "deaf.sh"
    user_data.write_text("#!/bin/sh\n(sleep 1; killall acpid; echo 'ncloud-tiny: deaf') &\n")
    create(cloud, "deaf", "ncloud-tiny", "--config-drive", "True", "--user-data", str(user_data))
    wait_console(cloud, "deaf", "ncloud-tiny: deaf")
    started = time.monotonic()
    osc(cloud, "server", "stop", "deaf", **DEMO)
    wait_status(cloud, "deaf", "SHUTOFF")
    assert time.monotonic() - started >= 10  # [libvirt] shutdown_timeout, then the plug
    assert "ncloud-tiny: powering off" not in console(cloud, "deaf")
    assert not libvirt_domain(server(cloud, "deaf")["id"]).isActive()


def test_a_guest_that_powers_itself_off_becomes_shutoff(cloud):
    user_data = Path(cloud) / "poweroff.sh"
    user_data.write_text("#!/bin/sh\n(sleep 3; poweroff) &\n")
    create(cloud, "quitter", "ncloud-tiny", "--config-drive", "True", "--user-data", str(user_data))
    wait_console(cloud, "quitter", "ncloud-tiny: running user data")
    body = wait_status(cloud, "quitter", "SHUTOFF", timeout=60)
    assert body["OS-EXT-STS:power_state"] == 4  # shutdown


def test_a_snapshot_becomes_an_image_a_third_server_boots_from(cloud):
    create(cloud, "source")
    wait_console(cloud, "source", "ncloud-tiny: ready")
    osc(cloud, "server", "image", "create", "--name", "source-snap", "--wait", "source", **DEMO)
    image = json.loads(osc(cloud, "image", "show", "-f", "json", "source-snap", **DEMO).stdout)
    assert image["status"] == "active" and image["disk_format"] == "qcow2"
    assert server(cloud, "source")["status"] == "ACTIVE"  # the source kept running
    create(cloud, "from-snap", "source-snap")
    wait_console(cloud, "from-snap", MARKER)


def test_resize_on_the_same_host_and_confirm_then_revert(cloud):
    created = create(cloud, "growing")
    wait_console(cloud, "growing", "ncloud-tiny: ready")
    osc(cloud, "server", "resize", "--flavor", "m1.small", "growing", **DEMO)
    wait_status(cloud, "growing", "VERIFY_RESIZE")
    dom = libvirt_domain(created["id"])
    assert dom.maxMemory() == 2048 * 1024  # m1.small's RAM, in KiB
    wait_console(cloud, "growing", MARKER, count=2)
    osc(cloud, "server", "resize", "confirm", "growing", **DEMO)
    body = wait_status(cloud, "growing", "ACTIVE")
    assert flavor_name(body) == "m1.small"
    instances = Path(cloud) / "instances"
    assert not (instances / f"{created['id']}_resize").exists()

    osc(cloud, "server", "resize", "--flavor", "m1.medium", "growing", **DEMO)
    wait_status(cloud, "growing", "VERIFY_RESIZE")
    osc(cloud, "server", "resize", "revert", "growing", **DEMO)
    body = wait_status(cloud, "growing", "ACTIVE")
    assert flavor_name(body) == "m1.small"
    assert libvirt_domain(created["id"]).maxMemory() == 2048 * 1024


def test_rescue_rebuild_and_shelve_on_a_real_guest(cloud):
    created = create(cloud, "phoenix")
    wait_console(cloud, "phoenix", "ncloud-tiny: ready")
    osc(cloud, "server", "rescue", "phoenix", **DEMO)
    wait_status(cloud, "phoenix", "RESCUE")
    wait_console(cloud, "phoenix", MARKER, count=2)
    osc(cloud, "server", "unrescue", "phoenix", **DEMO)
    wait_status(cloud, "phoenix", "ACTIVE")
    wait_console(cloud, "phoenix", MARKER, count=3)

    ip = address(server(cloud, "phoenix"))
    osc(cloud, "server", "rebuild", "--image", "ncloud-tiny", "--wait", "phoenix", **DEMO)
    assert address(server(cloud, "phoenix")) == ip  # same identity, same address
    wait_console(cloud, "phoenix", f"ncloud-tiny: eth0 {ip}/24")

    osc(cloud, "server", "shelve", "phoenix", **DEMO)
    wait_status(cloud, "phoenix", "SHELVED_OFFLOADED")
    assert libvirt_domain(created["id"]) is None
    osc(cloud, "server", "unshelve", "phoenix", **DEMO)
    wait_status(cloud, "phoenix", "ACTIVE")
    wait_console(cloud, "phoenix", f"ncloud-tiny: eth0 {ip}/24")


def test_libvirtd_restarting_changes_nothing_for_running_guests(cloud):
    created = create(cloud, "steady")
    wait_console(cloud, "steady", "ncloud-tiny: ready")
    pid = Path(f"/run/libvirt/qemu/ncloud-{created['id']}.pid").read_text().strip()
    restart_libvirtd()
    assert Path(f"/proc/{pid}").exists()  # the same QEMU process
    assert server(cloud, "steady")["status"] == "ACTIVE"
    osc(cloud, "server", "stop", "steady", **DEMO)  # the compute reconnected
    wait_status(cloud, "steady", "SHUTOFF")
    osc(cloud, "server", "start", "steady", **DEMO)
    wait_status(cloud, "steady", "ACTIVE")


def test_a_corrupt_image_fails_the_build_with_a_clear_fault_and_no_cache_entry(cloud):
    image = Path(cloud) / "corrupt.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    created = json.loads(osc(cloud, "image", "create", "--disk-format", "qcow2", "--file", str(image), "-f",
                             "json", "corrupt", **DEMO).stdout)
    stored = Path(cloud) / "images" / created["id"]
    stored.write_bytes(stored.read_bytes()[:-512] + b"x" * 512)  # the store's copy rots after the upload
    osc(cloud, "server", "create", "--image", "corrupt", "--flavor", "m1.tiny", "broken", **DEMO)
    body = wait_status(cloud, "broken", "ERROR")
    assert f"Image {created['id']} is corrupt" in body["fault"]["message"]
    assert not (Path(cloud) / "instances" / "_base" / base_name(created["id"])).exists()


def test_deleting_servers_leaves_no_domain_disk_lease_or_tap(cloud):
    listed = json.loads(osc(cloud, "server", "list", "-f", "json", **DEMO).stdout)
    ids = [entry["ID"] for entry in listed]
    assert ids
    for entry in listed:
        osc(cloud, "server", "delete", "--wait", entry["ID"], **DEMO)
    instances = Path(cloud) / "instances"
    leases = (DHCP_DIR / f"{BRIDGE}.hosts").read_text()
    links = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True).stdout
    for uuid in ids:
        assert libvirt_domain(uuid) is None
        assert not (instances / uuid).exists()
        assert uuid not in leases
        assert f"tap{uuid.replace('-', '')[:11]}" not in links
    assert re.fullmatch(r"\s*", leases)
