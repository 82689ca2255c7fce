"""Deployments on single hosts of their own: the prechecks' refusals, and the all-in-one on
localhost (inventory.example's variant). Each host is a bare node as in test_multinode.py."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.deploy.site import BIN, Site

pytestmark = pytest.mark.slow


@pytest.fixture
def own_site():
    work = Path("/var/tmp/ncloud-tests") / f"deploy-own-{os.getpid()}-{time.monotonic_ns()}"
    with contextlib.ExitStack() as stack:
        yield Site.open(stack, work)


def test_prechecks_name_a_taken_port_and_a_missing_package(own_site):
    site = own_site
    controller = site.add_node(5, "controllers", "database", "messaging")
    compute = site.add_node(6, "computes", own=("/var/lib/dpkg",))
    assert site.ncloud("bootstrap").returncode == 0
    # Something else holds the API's port on the controller...
    squatter = subprocess.Popen(controller.enter("python3", "-m", "http.server", "--bind", controller.address, "8774"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # ... and the compute's package database lacks python3-venv.
    status = compute.private("/var/lib/dpkg") / "status"
    status.write_text("\n\n".join(block for block in status.read_text().split("\n\n")
                                  if not block.startswith("Package: python3-venv\n")))
    try:
        wait = time.monotonic() + 10
        while "8774" not in controller.run("ss", "-Hltn").stdout and time.monotonic() < wait:
            time.sleep(0.2)
        done = site.ncloud("prechecks")
    finally:
        squatter.kill()
        squatter.wait()
    assert done.returncode == 2, done.stdout[-3000:]
    assert "Port 8774 on node5 is taken by users:((\"python3\"" in done.stdout
    assert "ncloud needs it for ncloud-api: stop that program or move it to another port." in done.stdout
    assert "node6 lacks the package(s) python3-venv: run `ncloud bootstrap` (or apt-get install python3-venv) " \
           "before deploying." in done.stdout


def test_an_all_in_one_deploys_on_localhost_and_boots_a_server(own_site):
    """The inventory.example's all-in-one variant: everything on the machine running Ansible,
    ansible_connection=local (`ncloud deploy` runs inside the node), on PostgreSQL this time."""
    site = own_site
    node = site.add_node(7)
    site.inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_python_interpreter": "/usr/bin/python3", "ncloud_virt_type": "qemu",
                 "ncloud_fixed_range": "198.18.10.0/24", "ncloud_database_backend": "postgresql"},
        "children": {group: {"hosts": {"localhost": {"ansible_connection": "local"}}}
                     for group in ("controllers", "computes", "database", "messaging")}}}))
    for step in (("genpwd", "-i"), ("deploy", "-i")):
        started = time.monotonic()
        done = subprocess.run(node.enter(str(BIN / "ncloud"), *step, str(site.inventory)), capture_output=True,
                              text=True, timeout=1800, env={**os.environ, "COLUMNS": "200"})
        print(f"$ ncloud {step[0]} (all-in-one): rc {done.returncode} in {time.monotonic() - started:.1f} s\n"
              f"{done.stdout[-2500:]}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    from ncloud.cli.cloud.config import resolve
    from ncloud.cli.cloud.session import Session
    from ncloud.cli.tiny_image import upload
    from tests.libvirt_host import tiny_image

    api = Session(resolve("ncloud", environ={"OS_CLIENT_CONFIG_FILE": str(site.clouds_yaml())}), cache=False)
    upload(api, tiny_image(), "ncloud-tiny")
    smoke = node.run("ncloud", "check", "--smoke", "--nagios", check=False)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke_boot_seconds=" in smoke.stdout
