"""A driver that simulates a hypervisor in memory, for tests, development and scale simulation.

Capacity comes from `[fake] vcpus/memory_mb/local_gb`; `spawn_delay` makes builds take time;
`fail_spawn_hosts` makes every spawn on the named hosts fail (fault injection). One
ncloud-compute process can run many simulated hosts (`[fake] hosts`), each with its own driver.
"""

from __future__ import annotations

import threading
import time

from ncloud.daemons.compute.virt.driver import (
    ComputeDriver,
    HostResources,
    InstanceInfo,
    InstanceNotOnHost,
    VirtError,
)
from ncloud.daemons.core import states


class FakeDriver(ComputeDriver):
    def __init__(self, conf, host: str):
        self.conf = conf
        self.host = host
        self._instances: dict[str, dict] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            self._instances[instance["uuid"]] = {"power_state": states.RUNNING,
                                                 "console": [f"fake console of {instance['uuid']}",
                                                             "ncloud-guest-booted"]}

    def destroy(self, instance: dict) -> None:
        with self._lock:
            self._instances.pop(instance["uuid"], None)

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
