"""What this hypervisor host offers and how its guests are doing, as libvirt reports it."""

from __future__ import annotations

import contextlib
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from ncloud.daemons.compute.virt.driver import HostResources
from ncloud.daemons.core import states

GiB = 1024 ** 3
# Undefining a guest also drops its suspend image and snapshot metadata (guests boot by BIOS:
# there are no firmware variables to drop).
UNDEFINE_FLAGS = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA

POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: states.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: states.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: states.RUNNING,  # waiting on I/O: running as far as users can tell
    libvirt.VIR_DOMAIN_PAUSED: states.PAUSED_POWER,
    libvirt.VIR_DOMAIN_SHUTDOWN: states.SHUTDOWN,  # shutting down
    libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: states.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: states.SUSPENDED_POWER,
}
STATE_NAMES = {states.RUNNING: "running", states.SHUTDOWN: "shutdown", states.PAUSED_POWER: "paused",
               states.SUSPENDED_POWER: "suspended", states.CRASHED: "crashed", states.NOSTATE: "pending"}


def power_state(domain: libvirt.virDomain) -> int:
    state = POWER_STATES.get(domain.state()[0], states.NOSTATE)
    if state == states.SHUTDOWN and domain.hasManagedSaveImage(0):
        return states.SUSPENDED_POWER  # suspended: its memory is saved, `resume` restores it
    return state


def cpu_info(conn: libvirt.virConnect) -> dict:
    """Nova's cpu_info of os-hypervisors: arch, model, vendor, topology, features."""
    host_cpu = ET.fromstring(conn.getCapabilities()).find("host/cpu")
    if host_cpu is None:
        return {}
    topology = host_cpu.find("topology")
    return {
        "arch": host_cpu.findtext("arch"),
        "model": host_cpu.findtext("model"),
        "vendor": host_cpu.findtext("vendor"),
        "topology": {key: int(topology.get(key, 1)) for key in ("sockets", "cores", "threads")}
        if topology is not None else {},
        "features": sorted(feature.get("name") for feature in host_cpu.findall("feature")),
    }


def resources(conn: libvirt.virConnect, nodename: str, instances_dir: Path, virt_type: str,
              host_ip: str) -> HostResources:
    _model, memory_mb, cpus, *_ = conn.getInfo()
    # The kernel's total: getInfo's can be one NUMA cell's (7.6 of 24 GiB on these machines).
    with contextlib.suppress(libvirt.libvirtError, KeyError):
        memory_mb = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"] // 1024
    instances_dir.mkdir(parents=True, exist_ok=True)
    return HostResources(nodename=nodename, vcpus=cpus, memory_mb=memory_mb,
                         local_gb=shutil.disk_usage(instances_dir).total // GiB,
                         hypervisor_type="QEMU" if virt_type == "qemu" else "KVM",
                         hypervisor_version=conn.getVersion(), host_ip=host_ip, cpu_info=cpu_info(conn))


def diagnostics(domain: libvirt.virDomain, virt_type: str, config_drive: bool, disks: list[str],
                nics: list[tuple[str, str]], uptime: int | None) -> dict:
    """Nova's standard diagnostics (2.48) of a guest."""
    state = power_state(domain)
    _state, max_kib, _mem, vcpus, _cpu_time = domain.info()
    running = domain.isActive()
    body = {"state": STATE_NAMES.get(state, "pending"), "driver": "libvirt", "hypervisor": virt_type,
            "hypervisor_os": "linux", "uptime": uptime, "config_drive": config_drive, "num_cpus": vcpus,
            "num_nics": len(nics), "num_disks": len(disks), "memory_details": {"maximum": max_kib // 1024, "used": 0},
            "cpu_details": [], "nic_details": [], "disk_details": []}
    if not running:
        return body
    stats = domain.memoryStats()
    if "available" in stats and "unused" in stats:
        body["memory_details"]["used"] = (stats["available"] - stats["unused"]) // 1024
    elif "rss" in stats:
        body["memory_details"]["used"] = stats["rss"] // 1024
    for number, (_, _, cpu_time, _) in enumerate(domain.vcpus()[0]):
        body["cpu_details"].append({"id": number, "time": cpu_time, "utilisation": None})
    for tap, mac in nics:
        rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop = domain.interfaceStats(tap)
        body["nic_details"].append({"mac_address": mac, "rx_octets": rx_bytes, "rx_errors": rx_errs,
                                    "rx_drop": rx_drop, "rx_packets": rx_packets, "rx_rate": None,
                                    "tx_octets": tx_bytes, "tx_errors": tx_errs, "tx_drop": tx_drop,
                                    "tx_packets": tx_packets, "tx_rate": None})
    for target in disks:
        read_requests, read_bytes, write_requests, write_bytes, errors = domain.blockStats(target)
        body["disk_details"].append({"read_bytes": read_bytes, "read_requests": read_requests,
                                     "write_bytes": write_bytes, "write_requests": write_requests,
                                     "errors_count": errors})
    return body
