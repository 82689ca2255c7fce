"""A real libvirt hypervisor for the tests: libvirtd and virtlogd started if they do not run yet,
and the tiny guest image built once per test session.

Started as root without systemd, the way MACHINE-NOTES.md measured it: the libvirt-qemu user and
group exist, the state folders exist, qemu.conf runs guests as root with no cgroups, namespaces
or security driver. The daemons keep running after the tests (a later run reuses them); CI
machines are thrown away.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ncloud.daemons.compute.virt.libvirt.connection import PLAIN_QEMU_CONF
from tests.servers import ServerError, find_binary

QEMU_CONF = "# written by ncloud's tests (tests/libvirt_host.py)\n" + PLAIN_QEMU_CONF
TINY_CACHE = Path(os.environ.get("NCLOUD_TINY_CACHE", "/var/tmp/ncloud-tests/tiny-image"))


def _answers(uri: str = "qemu:///system") -> bool:
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _error: None, None)
    try:
        libvirt.open(uri).close()
        return True
    except libvirt.libvirtError:
        return False


def ensure_libvirtd(timeout: float = 60) -> str:
    """qemu:///system answering; returns the URI."""
    if _answers():
        return "qemu:///system"
    if os.geteuid() != 0:
        raise ServerError("libvirtd is not running and only root can start it here")
    libvirtd = find_binary("libvirtd", package="libvirt-daemon libvirt-daemon-driver-qemu")
    virtlogd = find_binary("virtlogd", package="libvirt-daemon")
    find_binary("qemu-system-x86_64", package="qemu-system-x86")
    if subprocess.run(["getent", "group", "libvirt-qemu"], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "-r", "libvirt-qemu"], check=True)
    if subprocess.run(["getent", "passwd", "libvirt-qemu"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt", "-s", "/usr/sbin/nologin",
                        "libvirt-qemu"], check=True)
    for folder in ("/var/log/libvirt/qemu", "/var/lib/libvirt/qemu", "/var/cache/libvirt/qemu", "/run/libvirt"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    conf = Path("/etc/libvirt/qemu.conf")
    if not conf.exists() or "ncloud" not in conf.read_text():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(QEMU_CONF)
    subprocess.run([virtlogd, "-d"], check=False)
    subprocess.run([libvirtd, "-d"], check=True)
    end = time.monotonic() + timeout
    while not _answers():
        if time.monotonic() > end:
            raise ServerError(f"libvirtd did not answer within {timeout}s (see /var/log/libvirt)")
        time.sleep(0.3)
    return "qemu:///system"


def restart_libvirtd() -> None:
    """Kill libvirtd (its guests keep running) and start it again."""
    subprocess.run(["pkill", "-x", "libvirtd"], check=False)
    end = time.monotonic() + 30
    while subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode == 0:
        if time.monotonic() > end:
            raise ServerError("libvirtd did not stop")
        time.sleep(0.2)
    ensure_libvirtd()


def tiny_image() -> Path:
    """The tiny guest (qcow2), built by `ncloud image build-tiny`'s code once per cache folder."""
    from ncloud.cli import tiny_image as builder

    image = TINY_CACHE / "ncloud-tiny.qcow2"
    if not image.exists():
        TINY_CACHE.mkdir(parents=True, exist_ok=True)
        built = builder.build(TINY_CACHE / "building.qcow2", TINY_CACHE / "packages")
        shutil.move(built, image)
    return image
