"""The contract between the compute manager and a hypervisor.

Small on purpose: the manager owns state transitions, retries and reporting; a driver only does
what it is asked on its host and says what it sees. Errors are raised as `VirtError` with a
message fit for the server's fault.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class VirtError(Exception):
    """A hypervisor operation failed; the message is shown to the server's owner as its fault."""


def fault_text(error: Exception) -> str:
    """What a server's fault says about an error: a driver's own message, else its type too."""
    return str(error) if isinstance(error, VirtError) else f"{type(error).__name__}: {error}"


class InstanceNotOnHost(VirtError):
    pass


class LiveMigrationAborted(VirtError):
    """The live migration was aborted on request (DELETE /servers/{id}/migrations/{id})."""


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
    """Base class of virt drivers. `instance` arguments are core.instances.to_dict() dicts.

    A driver that wires guests to the network (`wants_network`) finds the server's fixed IP in
    `instance["network"]` (core/fixed_ips.network_info, None for no NIC) when it spawns or rebuilds.
    """

    wants_network = False

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

    # -- moves between hosts (resize, cold and live migration); `migration` is a core.migrations dict
    def migrate_disk_and_power_off(self, instance: dict, migration: dict) -> None:
        """Source host of a resize or cold migration: stop the guest and copy its disks to the
        destination (`migration["dest_compute"]`, maybe this very host). The source copy stays
        until the move is confirmed; on failure the guest must be left as it was."""
        raise NotImplementedError

    def finish_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        """Destination host: define the guest from the copied disks with the new flavor
        (`instance["flavor"]`), and start it if it was running."""
        raise NotImplementedError

    def confirm_migration(self, instance: dict, migration: dict) -> None:
        """Source host, once the move is confirmed: remove what the guest left here."""
        raise NotImplementedError

    def revert_migration_dest(self, instance: dict, migration: dict) -> None:
        """Destination host of a reverted move: remove the guest defined here."""
        raise NotImplementedError

    def finish_revert_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        """Source host of a reverted move: bring the source copy back with the old flavor."""
        raise NotImplementedError

    def pre_live_migration(self, instance: dict, migration: dict) -> None:
        """Destination host: get ready to receive the guest (disks, networking)."""
        raise NotImplementedError

    def live_migration(self, instance: dict, migration: dict) -> int:
        """Source host: move the running guest to the destination; returns its power state there.
        Raises LiveMigrationAborted when `live_migration_abort` stopped it."""
        raise NotImplementedError

    def post_live_migration_at_destination(self, instance: dict, migration: dict, power_state: int) -> None:
        """Destination host: the guest runs here now; finish defining it."""
        raise NotImplementedError

    def rollback_live_migration_at_destination(self, instance: dict, migration: dict) -> None:
        """Destination host of a failed live migration: remove what pre_live_migration prepared."""

    def live_migration_abort(self, instance: dict) -> None:
        raise NotImplementedError

    def live_migration_force_complete(self, instance: dict) -> None:
        """Pause the guest so that its memory copy converges."""
        raise NotImplementedError

    # -- one host --------------------------------------------------------------------------
    def snapshot(self, instance: dict) -> Iterator[bytes]:
        """The guest's root disk as image data, in chunks (createImage, createBackup, shelve)."""
        raise NotImplementedError

    def rebuild(self, instance: dict, image: dict) -> None:
        """Recreate the guest from `image`, keeping its identity; started unless told otherwise."""
        self.destroy(instance)
        self.spawn(instance, image)

    def rescue(self, instance: dict, image: dict) -> None:
        """Boot the guest from a rescue image with its own disk attached second."""
        raise NotImplementedError

    def unrescue(self, instance: dict) -> None:
        raise NotImplementedError

    def set_lifecycle_listener(self, listener) -> None:
        """`listener(uuid)` is called when a guest's power state changed on its own (it shut itself
        down, crashed, ...). Drivers without events rely on the periodic sync alone."""

    def clean_image_cache(self) -> list[str]:
        """Remove unused images from this host's image cache; the ids removed."""
        return []

    def cache_image(self, image: dict) -> None:
        """Have the image in this host's image cache (aggregate image pre-caching, 2.81)."""
        raise NotImplementedError

    def get_console(self, instance: dict, console_type: str) -> dict:
        """Where the console proxy reaches the guest's `novnc`, `spice-html5` or `serial` console:
        {"host": address, "port": port, "internal_access_path": path or None}."""
        raise NotImplementedError

    def get_diagnostics(self, instance: dict) -> dict:
        """Nova's standard diagnostics (2.48): state, driver, uptime, cpu/nic/disk details, ..."""
        raise NotImplementedError

    def get_host_uptime(self) -> str:
        """What `uptime` prints on the hypervisor host (os-hypervisors from 2.88), from /proc."""
        seconds = float(Path("/proc/uptime").read_text().split()[0])
        days, rest = divmod(int(seconds), 86400)
        hours, minutes = rest // 3600, rest % 3600 // 60
        loads = ", ".join(f"{load:.2f}" for load in os.getloadavg())
        return f" {time.strftime('%H:%M:%S')} up {days} days, {hours:2d}:{minutes:02d},  load average: {loads}"


def load(name: str, conf, host: str, images) -> ComputeDriver:
    """The driver named by `[compute] compute_driver`; `images` is the host's ImageClient."""
    if name == "fake":
        from ncloud.daemons.compute.virt.fake import FakeDriver

        return FakeDriver(conf, host)
    if name == "libvirt":
        try:
            from ncloud.daemons.compute.virt.libvirt.driver import LibvirtDriver
        except ImportError as error:
            raise VirtError(f"compute_driver = libvirt needs libvirt-python ({error}): pip install "
                            "'ncloud[libvirt]' (Debian: apt-get install libvirt-dev pkg-config first)") from None
        return LibvirtDriver(conf, host, images)
    raise ValueError(f"unknown compute_driver {name!r}")
