"""The compute manager: runs the work sent to one host through its virt driver.

It never touches the database: every state change goes through the conductor as a
compare-and-swap, so a message delivered twice, or one overtaken by a delete, does nothing
harmful. Whatever fails leaves the instance in a defined state with a fault message.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import traceback
import uuid as uuidlib
from collections.abc import Iterator

from ncloud.daemons.compute.moves import Moves
from ncloud.daemons.compute.snapshots import Snapshots
from ncloud.daemons.compute.virt.driver import ComputeDriver, InstanceNotOnHost, VirtError, fault_text
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import placement, server_groups, states
from ncloud.daemons.core.context import RequestContext, admin_context
from ncloud.daemons.core.image_client import ImageClient

LOG = logging.getLogger(__name__)
NODE_NAMESPACE = uuidlib.UUID("7d1c1e0a-3c5e-4b8e-9a51-6e0c0b1f2d11")


# action: (driver method, task_state while running, vm_state after, power_state after)
ACTIONS = {
    "stop": ("power_off", states.POWERING_OFF, states.STOPPED, states.SHUTDOWN),
    "start": ("power_on", states.POWERING_ON, states.ACTIVE, states.RUNNING),
    "reboot": ("reboot", states.REBOOTING, states.ACTIVE, states.RUNNING),
    "reboot_hard": ("reboot", states.REBOOTING_HARD, states.ACTIVE, states.RUNNING),
    "pause": ("pause", states.PAUSING, states.PAUSED, states.PAUSED_POWER),
    "unpause": ("unpause", states.UNPAUSING, states.ACTIVE, states.RUNNING),
    "suspend": ("suspend", states.SUSPENDING, states.SUSPENDED, states.SUSPENDED_POWER),
    "resume": ("resume", states.RESUMING, states.ACTIVE, states.RUNNING),
    "rescue": ("rescue", states.RESCUING, states.RESCUED, states.RUNNING),
    "unrescue": ("unrescue", states.UNRESCUING, states.ACTIVE, states.RUNNING),
    "soft_delete": ("power_off", states.SOFT_DELETING, states.SOFT_DELETED, states.SHUTDOWN),
    "restore": ("power_on", states.RESTORING, states.ACTIVE, states.RUNNING),
}


def node_uuid(nodename: str) -> str:
    """A stable id for a compute node (and its resource provider), derived from its name."""
    return str(uuidlib.uuid5(NODE_NAMESPACE, nodename))


class ComputeManager(Moves, Snapshots):
    """RPC endpoint of topic `compute.<host>` (its part in moves between hosts: compute/moves.py;
    in images of servers: compute/snapshots.py)."""

    def __init__(self, conf, host: str, driver: ComputeDriver, conductor: ConductorAPI, images: ImageClient):
        self.conf = conf
        self.host = host
        self.driver = driver
        self.conductor = conductor
        self.images = images
        self._locks: dict[str, list] = {}  # uuid -> [lock, number of holders and waiters]
        self._locks_guard = threading.Lock()

    @contextlib.contextmanager
    def _locked(self, uuid: str) -> Iterator[None]:
        """One operation at a time per instance: a duplicate message waits, then finds it done."""
        with self._locks_guard:
            entry = self._locks.setdefault(uuid, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._locks_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[uuid]

    # -- builds ------------------------------------------------------------------------------
    def build_and_run_instance(self, ctx: RequestContext, instance: dict, spec: dict) -> None:
        with self._locked(instance["uuid"]):
            self._build(ctx, instance, spec)

    def _build(self, ctx: RequestContext, instance: dict, spec: dict) -> None:
        uuid = instance["uuid"]
        # `host` among the updates too: a repeated call must find the build started *here*.
        started = self.conductor.instance_update(
            ctx, uuid, {"task_state": states.SPAWNING, "host": self.host},
            expected={"vm_state": states.BUILDING, "task_state": states.SCHEDULING, "host": self.host})
        if not started:
            LOG.info("build of %s skipped: it is no longer scheduled to %s (deleted, or built already)",
                     uuid, self.host)
            return
        group = spec.get("group")
        if group and group.get("policy") in (server_groups.AFFINITY, server_groups.ANTI_AFFINITY):
            # Another scheduler may have placed a member since this one decided: ask again.
            violation = self.conductor.group_policy_violation(ctx, uuid, self.host, group)
            if violation:
                LOG.warning("build of %s on %s refused: %s", uuid, self.host, violation)
                self.conductor.build_failed(ctx, uuid, self.host, violation)
                return
        try:
            instance = self._with_network(ctx, instance)
            self.driver.spawn(instance, spec.get("image") or {})
            power_state = self.driver.get_info(instance).power_state
        except Exception as error:
            LOG.warning("spawn of %s on %s failed: %s", uuid, self.host, fault_text(error),
                        exc_info=not isinstance(error, VirtError))
            self._destroy_quietly(instance)
            self.conductor.build_failed(ctx, uuid, self.host, fault_text(error), traceback.format_exc())
            return
        if not self.conductor.instance_built(ctx, uuid, self.host, power_state):
            LOG.info("%s was deleted while it was being built; removing it from %s", uuid, self.host)
            self._destroy_quietly(instance)

    def _with_network(self, ctx: RequestContext, instance: dict) -> dict:
        """The instance with its fixed IP (`network`), for a driver about to wire its guest."""
        if not self.driver.wants_network:
            return instance
        return {**instance, "network": self.conductor.network_info(ctx, instance["uuid"])}

    def _destroy_quietly(self, instance: dict) -> None:
        try:
            self.driver.destroy(instance)
        except Exception:
            LOG.exception("could not clean up %s on %s", instance["uuid"], self.host)

    # -- delete ------------------------------------------------------------------------------
    def terminate_instance(self, ctx: RequestContext, instance: dict) -> None:
        with self._locked(instance["uuid"]):
            try:
                self.driver.destroy(instance)
            except Exception as error:
                # The server still exists: say so (ERROR with the reason) rather than let it sit in
                # `deleting` until the reconciler's timeout takes it for gone. Deleting it again retries.
                LOG.exception("could not destroy %s on %s", instance["uuid"], self.host)
                self.conductor.action_finished(ctx, instance["uuid"], self.host, "compute_terminate_instance",
                                               {"vm_state": states.ERROR, "task_state": None},
                                               {"task_state": states.DELETING},
                                               error=f"Delete failed on host {self.host}: {fault_text(error)}")
                return
            self.conductor.instance_destroyed(ctx, instance["uuid"], self.host)

    # -- power actions -----------------------------------------------------------------------
    def power_action(self, ctx: RequestContext, instance: dict, action: str, options: dict | None = None) -> None:
        with self._locked(instance["uuid"]):
            self._power_action(ctx, instance, action, options)

    def _power_action(self, ctx: RequestContext, instance: dict, action: str, options: dict | None) -> None:
        method, task_state, vm_state, power_state = ACTIONS[action]
        expected = {"task_state": task_state, "host": self.host}
        try:
            if method == "reboot":
                self.driver.reboot(instance, hard=action == "reboot_hard")
            else:
                getattr(self.driver, method)(instance, **(options or {}))
        except Exception as error:
            LOG.warning("%s of %s failed: %s", action, instance["uuid"], fault_text(error))
            self.conductor.action_finished(ctx, instance["uuid"], self.host, f"compute_{action}_instance",
                                           {"task_state": None}, expected, error=fault_text(error))
            return
        self.conductor.action_finished(ctx, instance["uuid"], self.host, f"compute_{action}_instance",
                                       {"task_state": None, "vm_state": vm_state, "power_state": power_state},
                                       expected)

    def set_admin_password(self, ctx: RequestContext, instance: dict, password: str) -> None:
        """changePassword (an RPC call: the API answers once the guest has it, or says why not)."""
        with self._locked(instance["uuid"]):
            error = None
            try:
                self.driver.set_admin_password(instance, password)
            except NotImplementedError:
                error = f"Setting the password is not supported by the {type(self.driver).__name__} driver."
            except Exception as failure:  # the guest agent did not answer, ...
                error = f"Unable to set the password: {fault_text(failure)}"
            self.conductor.action_finished(ctx, instance["uuid"], self.host, "compute_set_admin_password",
                                           {"task_state": None}, {"task_state": states.UPDATING_PASSWORD},
                                           error=error)
            if error:
                raise VirtError(error)

    def trigger_crash_dump(self, ctx: RequestContext, instance: dict) -> None:
        with self._locked(instance["uuid"]):
            error = None
            try:
                self.driver.trigger_crash_dump(instance)
            except NotImplementedError:
                error = f"Triggering a crash dump is not supported by the {type(self.driver).__name__} driver."
            except Exception as failure:
                error = f"Crash dump failed: {fault_text(failure)}"
            self.conductor.action_finished(ctx, instance["uuid"], self.host, "compute_trigger_crash_dump", {}, {},
                                           error=error)

    def get_console_output(self, ctx: RequestContext, instance: dict, length: int | None = None) -> str:
        output = self.driver.get_console_output(instance)
        if length is not None:
            output = "".join(output.splitlines(keepends=True)[-length:]) if length > 0 else ""
        return output

    def get_console(self, ctx: RequestContext, instance: dict, console_type: str) -> dict:
        """Where the guest's console of `console_type` listens: {host, port, internal_access_path}."""
        return self.driver.get_console(instance, console_type)

    def get_diagnostics(self, ctx: RequestContext, instance: dict) -> dict:
        return self.driver.get_diagnostics(instance)

    # -- host --------------------------------------------------------------------------------
    def cache_images(self, ctx: RequestContext, images: list[dict]) -> None:
        """Fetch images into this host's image cache ahead of the boots that need them (2.81)."""
        for image in images:
            try:
                self.driver.cache_image(image)
                LOG.info("image %s is in the image cache of %s", image["id"], self.host)
            except Exception as error:
                LOG.warning("could not cache image %s on %s: %s", image["id"], self.host, fault_text(error))

    def get_host_uptime(self, ctx: RequestContext) -> str:
        return self.driver.get_host_uptime()

    def report_resources(self) -> None:
        """Tell the conductor what this node offers (its resource provider inventory)."""
        resources = self.driver.host_resources()
        compute = self.conf.compute
        disk_reserved_gb = -(-compute.reserved_host_disk_mb // 1024)
        inventory = {
            placement.VCPU: {"total": resources.vcpus, "reserved": compute.reserved_host_cpus,
                             "allocation_ratio": compute.cpu_allocation_ratio, "max_unit": resources.vcpus},
            placement.MEMORY_MB: {"total": resources.memory_mb, "reserved": compute.reserved_host_memory_mb,
                                  "allocation_ratio": compute.ram_allocation_ratio,
                                  "max_unit": resources.memory_mb},
            placement.DISK_GB: {"total": resources.local_gb, "reserved": disk_reserved_gb,
                                "allocation_ratio": compute.disk_allocation_ratio,
                                "max_unit": resources.local_gb},
        }
        node = {"uuid": node_uuid(resources.nodename), "hypervisor_hostname": resources.nodename,
                "hypervisor_type": resources.hypervisor_type, "hypervisor_version": resources.hypervisor_version,
                "host_ip": resources.host_ip, "vcpus": resources.vcpus, "memory_mb": resources.memory_mb,
                "local_gb": resources.local_gb, "cpu_info": resources.cpu_info}
        self.conductor.compute_node_update(admin_context(), self.host, node, inventory)

    def reconcile(self) -> None:
        """At start: settle every instance the database places here with what the hypervisor has.

        A build or delete that was in flight when this service died is finished or failed now,
        rather than left for the reconciler's timeout.
        """
        ctx = admin_context()
        present = set(self.driver.list_instances())
        for instance in self.conductor.instances_on_host(ctx, self.host):
            uuid, task_state = instance["uuid"], instance["task_state"]
            if task_state == states.DELETING:
                self.terminate_instance(ctx, instance)
            elif task_state in states.MOVE_TASKS:
                # Its next step's message waits in a durable queue, or the reconciler's timeout ends
                # the move and gives its resources back.
                LOG.info("%s was moving (%s) when this service stopped: left to finish or time out", uuid,
                         task_state)
            elif task_state == states.SCHEDULING:
                pass  # its build message waits in this host's durable queue and will run now
            elif task_state in states.BUILD_TASKS:
                reason = f"compute service on {self.host} restarted during the build"
                LOG.warning("%s was being built (%s) when this service stopped: %s; handing it back to the "
                            "conductor", uuid, task_state, reason)
                self._destroy_quietly(instance)
                # Waited for: this host's queue may hold the build's message again (it was being
                # handled when the service died), and once consuming starts that message must find
                # the build taken back, not still `spawning` here as if it had just started it.
                self.conductor.build_failed(ctx, uuid, self.host, reason, wait=True)
            else:
                self._sync_power_state(ctx, instance, present, idle_only=False)
            present.discard(uuid)
        for migration in self.conductor.evacuated_from(ctx, self.host):
            # Evacuated while this host was down: its old guest must not run next to the new one,
            # whatever running_deleted_instance_action says.
            LOG.warning("%s was evacuated from %s to %s: removing its old guest here", migration["instance_uuid"],
                        self.host, migration["dest_compute"])
            self._destroy_quietly({"uuid": migration["instance_uuid"]})
            self.conductor.evacuation_cleaned(ctx, migration["uuid"])
            present.discard(migration["instance_uuid"])
        self._handle_strays(present)

    def _handle_strays(self, strays: set[str]) -> None:
        for stray in strays:
            # Deleted while this host was down or its delete timed out (see the reconciler), or
            # moved away: nobody owns it any more, and its resources are no longer accounted for.
            if self.conf.compute.running_deleted_instance_action == "reap":
                LOG.warning("instance %s is on %s but the database does not place it here: destroying it",
                            stray, self.host)
                self._destroy_quietly({"uuid": stray})
            else:
                LOG.warning("instance %s is on %s but the database does not place it here", stray, self.host)

    # -- power states ------------------------------------------------------------------------
    def _sync_power_state(self, ctx: RequestContext, instance: dict, present: set[str], idle_only: bool = True) -> None:
        """Record the guest's power state as the hypervisor has it. A guest that shut itself down (or
        crashed) while ACTIVE becomes STOPPED, as Nova's sync makes it. `idle_only`: leave servers
        with a task under way alone (the task will set the state); at start nothing is under way."""
        uuid = instance["uuid"]
        try:
            power_state = self.driver.get_info(instance).power_state if uuid in present else states.SHUTDOWN
        except InstanceNotOnHost:
            power_state = states.SHUTDOWN
        updates = {"power_state": power_state}
        expected = {"host": self.host, "vm_state": instance["vm_state"]}
        if idle_only:
            expected["task_state"] = None
        elif instance["task_state"] is not None:
            updates["task_state"] = None
        if power_state in (states.SHUTDOWN, states.CRASHED) and instance["vm_state"] == states.ACTIVE:
            LOG.warning("%s is active in the database but not running on %s: marking it stopped", uuid, self.host)
            updates["vm_state"] = states.STOPPED
        if power_state == instance["power_state"] and len(updates) == 1:
            return
        self.conductor.instance_update(ctx, uuid, updates, expected=expected)

    def sync_power_states(self, only: set[str] | None = None) -> None:
        """Periodic (and on lifecycle events, `only` those guests): the database's power states
        follow the hypervisor's; guests nobody owns are reaped or reported."""
        ctx = admin_context()
        present = set(self.driver.list_instances())
        known = set()
        for instance in self.conductor.instances_on_host(ctx, self.host):
            known.add(instance["uuid"])
            if instance["task_state"] is None and (only is None or instance["uuid"] in only):
                self._sync_power_state(ctx, instance, present)
        if only is None:
            self._handle_strays(present - known - self._moving_here(ctx))

    def _moving_here(self, ctx: RequestContext) -> set[str]:
        """Guests arriving or leaving in a move the database still places on the other host."""
        return {migration["instance_uuid"] for migration in self.conductor.migrations_in_progress(ctx, self.host)}

    def start_lifecycle_events(self) -> None:
        """Guests' power changes reported by the driver are synced at once, off the driver's event
        thread, a second later: a burst (a reboot's stop and start) is handled once, and the state
        read then is the settled one, not the event's."""
        events: queue.Queue[str] = queue.Queue()

        def handle() -> None:
            while True:
                uuids = {events.get()}
                time.sleep(1.0)
                while not events.empty():
                    uuids.add(events.get_nowait())
                try:
                    self.sync_power_states(only=uuids)
                except Exception:
                    LOG.exception("syncing the power state of %s after a lifecycle event failed", ", ".join(uuids))

        threading.Thread(target=handle, name=f"lifecycle-{self.host}", daemon=True).start()
        self.driver.set_lifecycle_listener(events.put)
