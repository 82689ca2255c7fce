"""A driver that simulates a hypervisor in memory, for tests, development and scale simulation.

Capacity comes from `[fake] vcpus/memory_mb/local_gb`; `spawn_delay` makes builds take time;
`fail_spawn_hosts` and `fail_spawn_names` make spawns fail (fault injection). One
ncloud-compute process can run many simulated hosts (`[fake] hosts`), each with its own driver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from ncloud.daemons.compute.virt.driver import (
    ComputeDriver,
    HostResources,
    InstanceInfo,
    InstanceNotOnHost,
    LiveMigrationAborted,
    VirtError,
)
from ncloud.daemons.core import states

_POWER_NAMES = {states.RUNNING: "running", states.SHUTDOWN: "shutdown", states.PAUSED_POWER: "paused",
                states.SUSPENDED_POWER: "suspended", states.CRASHED: "crashed"}


class FakeDriver(ComputeDriver):
    def __init__(self, conf, host: str):
        self.conf = conf
        self.host = host
        self._instances: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._aborts: dict[str, threading.Event] = {}  # live migrations under way, by instance
        self._started = time.monotonic()
        self.cached_images: set[str] = set()

    def list_instances(self) -> list[str]:
        with self._lock:
            return list(self._instances)

    def host_resources(self) -> HostResources:
        fake = self.conf.fake
        return HostResources(nodename=self.host, vcpus=fake.vcpus, memory_mb=fake.memory_mb,
                             local_gb=fake.local_gb, hypervisor_type="fake", hypervisor_version=1000,
                             host_ip="127.0.0.1", cpu_info={"arch": "x86_64", "model": "fake"})

    def spawn(self, instance: dict, image: dict) -> None:
        if self.conf.fake.spawn_delay:
            time.sleep(self.conf.fake.spawn_delay)
        if self.host in self.conf.fake.fail_spawn_hosts:
            raise VirtError(f"simulated spawn failure on host {self.host}")
        if instance.get("display_name") in self.conf.fake.fail_spawn_names:
            raise VirtError(f"simulated spawn failure of server {instance['display_name']}")
        self._define(instance, states.RUNNING)

    def _define(self, instance: dict, power_state: int) -> None:
        with self._lock:
            self._instances[instance["uuid"]] = {"power_state": power_state, "flavor": instance.get("flavor"),
                                                 "console": [f"fake console of {instance['uuid']} on {self.host}",
                                                             "ncloud-guest-booted"]}

    def _arriving(self) -> None:
        """A move arriving here fails on `fail_migrate_hosts` (fault injection)."""
        if self.host in self.conf.fake.fail_migrate_hosts:
            raise VirtError(f"simulated migration failure on host {self.host}")

    # -- moves -------------------------------------------------------------------------------
    def migrate_disk_and_power_off(self, instance: dict, migration: dict) -> None:
        self._get_locked(instance)
        if self.conf.fake.migrate_delay:
            time.sleep(self.conf.fake.migrate_delay)
        self._set_power(instance, states.SHUTDOWN)

    def finish_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        self._arriving()
        self._define(instance, states.RUNNING if power_on else states.SHUTDOWN)

    def confirm_migration(self, instance: dict, migration: dict) -> None:
        if migration["dest_compute"] != self.host:
            self.destroy(instance)

    def revert_migration_dest(self, instance: dict, migration: dict) -> None:
        if migration["source_compute"] != self.host:
            self.destroy(instance)

    def finish_revert_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        self._define(instance, states.RUNNING if power_on else states.SHUTDOWN)

    def pre_live_migration(self, instance: dict, migration: dict) -> None:
        self._arriving()

    def live_migration(self, instance: dict, migration: dict) -> int:
        power_state = self._get_locked(instance)["power_state"]
        abort = threading.Event()
        with self._lock:
            self._aborts[instance["uuid"]] = abort
        try:
            if abort.wait(self.conf.fake.migrate_delay):
                raise LiveMigrationAborted(f"live migration of {instance['uuid']} aborted on request")
        finally:
            with self._lock:
                self._aborts.pop(instance["uuid"], None)
        self.destroy(instance)
        return power_state

    def post_live_migration_at_destination(self, instance: dict, migration: dict, power_state: int) -> None:
        self._define(instance, power_state)

    def live_migration_abort(self, instance: dict) -> None:
        with self._lock:
            abort = self._aborts.get(instance["uuid"])
        if abort is None:
            raise VirtError(f"no live migration of {instance['uuid']} is running on {self.host}")
        abort.set()

    def live_migration_force_complete(self, instance: dict) -> None:
        with self._lock:
            abort = self._aborts.get(instance["uuid"])
            if abort is None:
                raise VirtError(f"no live migration of {instance['uuid']} is running on {self.host}")
            self._get(instance)["console"].append("paused to complete the live migration")

    # -- one host ----------------------------------------------------------------------------
    def snapshot(self, instance: dict) -> Iterator[bytes]:
        self._get_locked(instance)
        if self.host in self.conf.fake.fail_snapshot_hosts:
            raise VirtError(f"simulated snapshot failure on host {self.host}")
        for part in range(4):
            yield f"fake disk of {instance['uuid']}, part {part}\n".encode() * 64

    def rescue(self, instance: dict, image: dict) -> None:
        with self._lock:
            record = self._get(instance)
            record["power_state"] = states.RUNNING
            record["console"].append(f"booted the rescue image {image.get('id')}")

    def unrescue(self, instance: dict) -> None:
        with self._lock:
            record = self._get(instance)
            record["power_state"] = states.RUNNING
            record["console"].append("booted from its own disk again")

    def cache_image(self, image: dict) -> None:
        with self._lock:
            self.cached_images.add(image["id"])

    def get_console(self, instance: dict, console_type: str) -> dict:
        self._get_locked(instance)
        ports = {"novnc": 5900, "spice-html5": 5901, "serial": 10000}  # as a first guest's would be
        return {"host": "127.0.0.1", "port": ports[console_type], "internal_access_path": None}

    def get_diagnostics(self, instance: dict) -> dict:
        record = self._get_locked(instance)
        flavor = instance.get("flavor") or {}
        # `driver` is one of the names the API admits (2.48); the simulation stands in for libvirt.
        return {"state": _POWER_NAMES.get(record["power_state"], "pending"), "driver": "libvirt",
                "hypervisor": "fake", "hypervisor_os": "fake", "uptime": int(time.monotonic() - self._started),
                "config_drive": bool(instance.get("config_drive")), "num_cpus": flavor.get("vcpus", 0),
                "num_nics": 0, "num_disks": 1, "memory_details": {"maximum": flavor.get("memory_mb", 0), "used": 0},
                "cpu_details": [{"id": n, "time": 0, "utilisation": None} for n in range(flavor.get("vcpus", 0))],
                "nic_details": [],
                "disk_details": [{"read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0,
                                  "errors_count": 0}]}

    def destroy(self, instance: dict) -> None:
        with self._lock:
            self._instances.pop(instance["uuid"], None)

    def _get_locked(self, instance: dict) -> dict:
        with self._lock:
            return dict(self._get(instance))

    def _get(self, instance: dict) -> dict:
        found = self._instances.get(instance["uuid"])
        if found is None:
            raise InstanceNotOnHost(f"instance {instance['uuid']} is not on host {self.host}")
        return found

    def get_info(self, instance: dict) -> InstanceInfo:
        with self._lock:
            return InstanceInfo(power_state=self._get(instance)["power_state"])

    def _set_power(self, instance: dict, power_state: int) -> None:
        with self._lock:
            self._get(instance)["power_state"] = power_state

    def power_off(self, instance: dict, timeout: float = 0) -> None:
        self._set_power(instance, states.SHUTDOWN)

    def power_on(self, instance: dict) -> None:
        self._set_power(instance, states.RUNNING)

    def reboot(self, instance: dict, hard: bool) -> None:
        self._set_power(instance, states.RUNNING)

    def pause(self, instance: dict) -> None:
        self._set_power(instance, states.PAUSED_POWER)

    def unpause(self, instance: dict) -> None:
        self._set_power(instance, states.RUNNING)

    def suspend(self, instance: dict) -> None:
        self._set_power(instance, states.SUSPENDED_POWER)

    def resume(self, instance: dict) -> None:
        self._set_power(instance, states.RUNNING)

    def set_admin_password(self, instance: dict, password: str) -> None:
        with self._lock:
            self._get(instance)["console"].append("administrator password changed")

    def trigger_crash_dump(self, instance: dict) -> None:
        with self._lock:
            self._get(instance)["console"].append("NMI received: dumping memory")

    def get_console_output(self, instance: dict) -> str:
        with self._lock:
            return "\n".join(self._get(instance)["console"]) + "\n"
