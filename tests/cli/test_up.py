"""`ncloud up`: the all-in-one cloud of the README, on the embedded defaults."""

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from ncloud.cli.cloud.session import password_session
from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID
from tests.cloud import free_port, wait_until
from tests.servers import _pdeathsig

NCLOUD = str(Path(sys.executable).parent / "ncloud")


def test_readme_command_boots_a_real_guest_and_exits_leaving_nothing_running(tmp_path):
    """The README's first command, with libvirt and QEMU installed (as CI installs them): the tiny
    image is built and uploaded, the server is a QEMU guest that boots to its marker and takes its
    address by DHCP, and the smoke run deletes it before it stops."""
    result = subprocess.run([NCLOUD, "up", "--state-dir", str(tmp_path / "state"), "--port", str(free_port()),
                             "--boot-server", "demo", "--exit-after-boot"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ncloud is up" in result.stdout
    assert "clouds 'ncloud' (user admin, administrator) and 'ncloud-demo'" in result.stdout
    assert "QEMU guests (libvirt driver" in result.stdout
    assert "image ncloud-tiny (" in result.stdout
    assert "ACTIVE" in result.stdout and "(user demo, project demo)" in result.stdout
    assert re.search(r"guest +booted in [0-9.]+s; address 198\.18\.", result.stdout), result.stdout
    assert "ncloud stopped." in result.stdout
    assert (tmp_path / "state" / "ncloud.db").exists()
    assert not [path for path in (tmp_path / "state" / "instances").iterdir() if path.name != "_base"]
    # ... and no network for guests that are gone: no bridge, no dnsmasq.
    assert subprocess.run(["ip", "link", "show", "ncbr0"], capture_output=True).returncode != 0
    assert subprocess.run(["pgrep", "-f", "dnsmasq.*--interface=ncbr0"], capture_output=True).returncode != 0


def test_up_without_libvirt_simulates_servers_and_says_so(tmp_path):
    result = subprocess.run([NCLOUD, "up", "--state-dir", str(tmp_path / "state"), "--port", str(free_port()),
                             "--driver", "fake", "--boot-server", "demo", "--exit-after-boot"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "servers      simulated (fake driver)" in result.stdout
    assert "image ncloud-demo (" in result.stdout and "ACTIVE" in result.stdout


def test_up_serves_until_ctrl_c_writes_clouds_yaml_and_keeps_state(tmp_path):
    state, port = tmp_path / "state", free_port()
    process = subprocess.Popen([NCLOUD, "up", "--state-dir", str(state), "--port", str(port), "--driver", "fake"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_pdeathsig(signal.SIGKILL))
    try:
        wait_until(lambda: (state / "clouds.yaml").exists() or process.poll() is not None, 60, what="clouds.yaml")
        assert process.poll() is None
        clouds = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]
        assert (state / "clouds.yaml").stat().st_mode & 0o777 == 0o600
        demo = clouds["ncloud-demo"]["auth"]
        assert demo["auth_url"] == f"http://127.0.0.1:{port}/identity/v3"
        assert (demo["username"], demo["project_name"]) == ("demo", "demo") and len(demo["password"]) >= 20
        token = password_session(demo["auth_url"], "demo", demo["password"], "demo").token
        compute = f"http://127.0.0.1:{port}/compute/v2.1"
        assert httpx.get(f"{compute}/servers", headers={"X-Auth-Token": "demo:demo"}).status_code == 401
        with httpx.Client(base_url=compute, headers={"X-Auth-Token": token}, timeout=10) as api:
            response = api.post("/servers", json={"server": {"name": "vm", "flavorRef": "1",
                                                             "imageRef": DEMO_IMAGE_ID}})
            assert response.status_code == 202
            uuid = response.json()["server"]["id"]
            wait_until(lambda: api.get(f"/servers/{uuid}").json()["server"]["status"] == "ACTIVE", 30,
                       what="ACTIVE")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "ncloud stopped." in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (state / "logs" / "ncloud.log").read_text()
    assert "config [DEFAULT] transport_url = 'memory://'" in log  # the effective configuration, at start
    assert "received SIGINT, stopping" in log
    assert "Traceback" not in log


def test_a_second_start_keeps_the_passwords_of_clouds_yaml(tmp_path):
    state = tmp_path / "state"
    for _ in range(2):
        result = subprocess.run([NCLOUD, "up", "--state-dir", str(state), "--port", str(free_port()),
                                 "--driver", "fake", "--boot-server", "again", "--exit-after-boot"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        passwords = [cloud["auth"]["password"]
                     for cloud in yaml.safe_load((state / "clouds.yaml").read_text())["clouds"].values()]
        if _ == 0:
            first = passwords
    assert passwords == first


def test_up_on_a_taken_port_says_so_and_exits_1(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([NCLOUD, "up", "--state-dir", str(tmp_path / "state"), "--port", str(port),
                                 "--driver", "fake"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"error: cannot serve the API on 127.0.0.1:{port}" in result.stderr
    assert "Choose another --port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
