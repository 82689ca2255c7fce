"""The contract between the compute manager and a hypervisor.

Small on purpose: the manager owns state transitions, retries and reporting; a driver only does
what it is asked on its host and says what it sees. Errors are raised as `VirtError` with a
message fit for the server's fault.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path


class VirtError(Exception):
    """A hypervisor operation failed; the message is shown to the server's owner as its fault."""


class InstanceNotOnHost(VirtError):
    pass


@dataclass(frozen=True)
class InstanceInfo:
    power_state: int


@dataclass(frozen=True)
class HostResources:
    """What a node offers; the manager turns it into a resource provider inventory."""

    nodename: str
    vcpus: int
    memory_mb: int
    local_gb: int
    hypervisor_type: str
    hypervisor_version: int = 0
    host_ip: str | None = None
    cpu_info: dict = field(default_factory=dict)


class ComputeDriver:
    """Base class of virt drivers. `instance` arguments are core.instances.to_dict() dicts."""

    def init_host(self, host: str) -> None:
        """Connect to the hypervisor; called once before anything else."""

    def cleanup_host(self) -> None:
        """Release connections at stop."""

    def list_instances(self) -> list[str]:
        """Uuids of the instances that exist on this host."""
        raise NotImplementedError

    def host_resources(self) -> HostResources:
        raise NotImplementedError

    def spawn(self, instance: dict, image: dict) -> None:
        """Create and start the instance; raise VirtError if it cannot be."""
        raise NotImplementedError

    def destroy(self, instance: dict) -> None:
        """Remove the instance and everything it had on this host; idempotent."""
        raise NotImplementedError

    def get_info(self, instance: dict) -> InstanceInfo:
        """Raise InstanceNotOnHost when it does not exist here."""
        raise NotImplementedError

    def power_off(self, instance: dict, timeout: float = 0) -> None:
        raise NotImplementedError

    def power_on(self, instance: dict) -> None:
        raise NotImplementedError

    def reboot(self, instance: dict, hard: bool) -> None:
        raise NotImplementedError

    def pause(self, instance: dict) -> None:
        raise NotImplementedError

    def unpause(self, instance: dict) -> None:
        raise NotImplementedError

    def suspend(self, instance: dict) -> None:
        raise NotImplementedError

    def resume(self, instance: dict) -> None:
        raise NotImplementedError

    def get_console_output(self, instance: dict) -> str:
        raise NotImplementedError

    def set_admin_password(self, instance: dict, password: str) -> None:
        """Set the guest's administrator password (through its agent)."""
        raise NotImplementedError

    def trigger_crash_dump(self, instance: dict) -> None:
        """Make the guest dump its memory, as a non-maskable interrupt does."""
        raise NotImplementedError

    def get_host_uptime(self) -> str:
        """What `uptime` prints on the hypervisor host (os-hypervisors from 2.88), from /proc."""
        seconds = float(Path("/proc/uptime").read_text().split()[0])
        days, rest = divmod(int(seconds), 86400)
        hours, minutes = rest // 3600, rest % 3600 // 60
        loads = ", ".join(f"{load:.2f}" for load in os.getloadavg())
        return f" {time.strftime('%H:%M:%S')} up {days} days, {hours:2d}:{minutes:02d},  load average: {loads}"


def load(name: str, conf, host: str) -> ComputeDriver:
    """The driver named by `[compute] compute_driver`."""
    if name == "fake":
        from ncloud.daemons.compute.virt.fake import FakeDriver

        return FakeDriver(conf, host)
    raise ValueError(f"unknown compute_driver {name!r}")
