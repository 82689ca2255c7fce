"""A guest's libvirt definition: what goes into it (GuestConfig) and the XML rendered from it.

The XML itself is a Jinja2 template (templates/domain.xml.j2) so an operator can read the whole
guest in one place; this module only decides the values. The libvirt uuid is the instance's id,
and a metadata element names the ncloud instance, its host, project and flavor: that is how a
host tells its own guests from others a shared libvirtd may run, and how an operator running
`virsh dumpxml` sees whose guest it is.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

NAMESPACE = "https://ncloud.dev/xmlns/libvirt/instance/1.0"
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Disk:
    path: str
    target: str  # vda, vdb, ... (or sda for a cdrom)
    format: str = "qcow2"
    device: str = "disk"
    bus: str = "virtio"
    readonly: bool = False
    boot_order: int = 0


@dataclass(frozen=True)
class Nic:
    mac: str
    tap: str
    bridge: str
    mtu: int = 1500


@dataclass(frozen=True)
class GuestConfig:
    uuid: str
    name: str
    display_name: str
    host: str
    project_id: str
    user_id: str
    flavor_name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_id: str
    virt_type: str
    cpu_mode: str
    cpu_model: str
    console_log: str
    console_listen: str
    spice: bool
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)


def domain_name(uuid: str) -> str:
    """Unique per libvirtd, stable across moves and readable in `virsh list`."""
    return f"ncloud-{uuid}"


def tap_name(uuid: str) -> str:
    """Linux allows 15 characters for an interface name."""
    return f"tap{uuid.replace('-', '')[:11]}"


# The kernel modules of hardware-assisted KVM (VT-x, AMD-V); /sys/module lists them also when built in.
HARDWARE_KVM_MODULES = ("kvm_intel", "kvm_amd")


def hardware_kvm(modules: Path = Path("/sys/module")) -> bool:
    """Whether /dev/kvm is served by hardware-assisted KVM. A nested PVM host (kvm_pvm) also offers
    a /dev/kvm, but runs only guests built for it: a stock guest crawls through firmware and its
    boot loader and dies with "KVM internal error ... emulation failure"."""
    return any((modules / name).exists() for name in HARDWARE_KVM_MODULES)


@functools.cache
def kvm_works() -> bool:
    """/dev/kvm opens, is hardware KVM, *and* QEMU can set up a vCPU on it. Some nested hypervisors
    offer a /dev/kvm whose guests die at their first instruction ("failed to set MSR"); a 50 ms dry
    run of QEMU with the host CPU (started paused, then quit) tells them apart."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or not hardware_kvm():
        return False
    emulator = shutil.which("qemu-system-x86_64") or shutil.which("kvm")
    if emulator is None:
        return False
    try:
        done = subprocess.run([emulator, "-accel", "kvm", "-machine", "pc", "-cpu", "host", "-m", "64", "-display",
                               "none", "-nodefaults", "-S", "-monitor", "stdio"], input="quit\n",
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "error" not in done.stderr


def virt_type(configured: str) -> str:
    """kvm when /dev/kvm works, else qemu (TCG), unless configured."""
    if configured:
        return configured
    return "kvm" if kvm_works() else "qemu"


def cpu_mode(configured: str, virt: str) -> str:
    """host-model under kvm; under TCG the emulator's `maximum` CPU (every feature it can emulate)."""
    if configured:
        return configured
    return "host-model" if virt == "kvm" else "maximum"


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("domain.xml.j2")


def render(guest: GuestConfig) -> str:
    return _template().render(g=guest, namespace=NAMESPACE)


def owner_host(metadata_xml: str) -> str | None:
    """The ncloud host named in a domain's metadata element, as libvirt returns it (the element
    of our namespace, without its prefix)."""
    try:
        element = ET.fromstring(metadata_xml)
    except ET.ParseError:
        return None  # none at all: not an ncloud guest
    return element.findtext("host")


def with_host(xml: str, host: str, listen: tuple[str, str] | None = None) -> str:
    """The definition with its metadata naming another host (a guest live-migrating there) and,
    with `listen` = (this host's address, the other's), its consoles listening on the other
    host's address: this one's does not exist there, and QEMU would not start."""
    root = ET.fromstring(xml)
    for element in root.iter(f"{{{NAMESPACE}}}host"):
        element.text = host
    if listen is not None:
        for element in root.iter("graphics"):
            if element.get("listen") == listen[0]:
                element.set("listen", listen[1])
            for child in element.iter("listen"):
                if child.get("address") == listen[0]:
                    child.set("address", listen[1])
    ET.register_namespace("ncloud", NAMESPACE)
    return ET.tostring(root, encoding="unicode")


def graphics(live_xml: str, kind: str) -> tuple[str, int] | None:
    """(listen address, port) of a running guest's `vnc` or `spice` graphics, from its live XML."""
    for element in ET.fromstring(live_xml).iter("graphics"):
        if element.get("type") == kind and element.get("port") not in (None, "-1"):
            return element.get("listen") or "127.0.0.1", int(element.get("port"))
    return None


def disk_targets(live_xml: str) -> list[str]:
    return [target.get("dev") for target in ET.fromstring(live_xml).iter("target")
            if target.get("dev", "").startswith(("vd", "sd")) and target.get("bus")]


def interface_targets(live_xml: str) -> list[tuple[str, str]]:
    """(tap, mac) of each NIC."""
    found = []
    for interface in ET.fromstring(live_xml).iter("interface"):
        target, mac = interface.find("target"), interface.find("mac")
        if target is not None and mac is not None:
            found.append((target.get("dev"), mac.get("address")))
    return found
