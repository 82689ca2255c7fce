"""Resize, cold and live migration of libvirt guests (mixed into LibvirtDriver).

As in Nova: the source stops the guest cleanly and moves its folder aside to `<uuid>_resize`,
which it keeps until the move is confirmed (then it goes) or reverted (then it comes back). The
destination gets a copy of the folder: a local copy for a resize on the same host, rsync over SSH
to the destination's management address (`[compute] my_ip` of that host, as its compute node
reports it) otherwise, into the same instances_path (every host uses the same one, as Nova's do).
There its overlays are pointed at the destination's own cached image, grown to the new flavor,
and the guest is defined and started with it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess

import libvirt

from ncloud.daemons.compute.virt.driver import LiveMigrationAborted, VirtError
from ncloud.daemons.compute.virt.libvirt import disks, domain, host, qemu_img
from ncloud.daemons.compute.virt.libvirt.host import UNDEFINE_FLAGS

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3


def _staging(folder: disks.InstanceDir):
    return folder.path.with_name(f"{folder.uuid}_resize")


def _ssh(*command: str) -> list[str]:
    return ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", *command]


class ColdMigrations:
    """Uses the driver's instances_dir, cache, network, host and lifecycle helpers."""

    def _check_sizes(self, migration: dict) -> None:
        old, new = migration["old_flavor"], migration["new_flavor"]
        if new.get("root_gb") and new["root_gb"] < (old.get("root_gb") or 0):
            raise VirtError("Unable to resize disk down: the new flavor's root disk is smaller than the server's.")
        if (new.get("ephemeral_gb") or 0) < (old.get("ephemeral_gb") or 0):
            raise VirtError("Unable to resize the ephemeral disk down.")

    def _copy_to(self, source, migration: dict, target) -> None:
        """The guest's folder to the destination: locally for the same host, else rsync over SSH."""
        if migration["dest_compute"] == self.host:
            shutil.copytree(source, target)
            return
        address = migration.get("dest_host") or migration["dest_compute"]
        for command in (_ssh(address, "mkdir", "-p", str(target)),
                        ["rsync", "-a", "--sparse", "-e", " ".join(_ssh()), f"{source}/", f"{address}:{target}/"]):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise VirtError(f"copying the disks of {target.name} to {address} failed: "
                                f"{done.stderr.strip() or done.stdout.strip()}")

    def migrate_disk_and_power_off(self, instance: dict, migration: dict) -> None:
        self._check_sizes(migration)
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        dom = self._domain(instance)
        was_running = dom.isActive()
        self.power_off(instance)
        staging = _staging(folder)
        shutil.rmtree(staging, ignore_errors=True)
        folder.path.rename(staging)
        try:
            self._copy_to(staging, migration, folder.path)
        except Exception:
            if migration["dest_compute"] == self.host:
                shutil.rmtree(folder.path, ignore_errors=True)
            staging.rename(folder.path)  # left as it was
            if was_running:
                self._start(dom)
            raise

    def finish_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        state = folder.state()
        if not state:
            raise VirtError(f"the disks of {instance['uuid']} did not arrive in {folder.path}")
        flavor = instance.get("flavor") or {}
        with self.cache.use(state["image_id"]) as base:
            qemu_img.rebase(folder / "disk", base.path, base.format)
        wanted = (flavor.get("root_gb") or 0) * GiB
        if wanted > qemu_img.info(folder / "disk", "qcow2")["virtual-size"]:
            qemu_img.resize(folder / "disk", wanted)
        eph = folder / "disk.eph0"
        if eph.exists() and (flavor.get("ephemeral_gb") or 0) * GiB > qemu_img.info(eph, "qcow2")["virtual-size"]:
            qemu_img.resize(eph, flavor["ephemeral_gb"] * GiB)
        disks.extra_disks(folder, self.cache, flavor)
        if state.get("network") and self.network is not None:
            self.network.plug(instance["uuid"], state["network"])
        dom = self._define(instance, folder)
        if power_on:
            self._start(dom)

    def confirm_migration(self, instance: dict, migration: dict) -> None:
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        shutil.rmtree(_staging(folder), ignore_errors=True)
        if migration["dest_compute"] != self.host:
            self._forget_domain(instance)
            if self.network is not None:
                self.network.unplug(instance["uuid"])

    def revert_migration_dest(self, instance: dict, migration: dict) -> None:
        if migration["source_compute"] != self.host:
            self.destroy(instance)
        # On the same host, finish_revert_migration swaps the folders back.

    def finish_revert_migration(self, instance: dict, migration: dict, power_on: bool) -> None:
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        staging = _staging(folder)
        if not staging.exists():
            raise VirtError(f"the source copy of {instance['uuid']} ({staging}) is gone: cannot revert")
        with contextlib.suppress(VirtError):  # undefined at the destination already
            self._hard_stop(self._domain(instance))
        shutil.rmtree(folder.path, ignore_errors=True)
        staging.rename(folder.path)
        state = folder.state()
        if state.get("network") and self.network is not None:
            self.network.plug(instance["uuid"], state["network"])
        dom = self._define(instance, folder)
        if power_on:
            self._start(dom)

    def _forget_domain(self, instance: dict) -> None:
        """Undefine the guest here unless another host's definition replaced it (a shared libvirtd)."""
        try:
            dom = self._domain(instance)
        except VirtError:
            return
        owner = domain.owner_host(self._metadata(dom))
        if owner in (None, self.host):
            self._hard_stop(dom)
            dom.undefineFlags(UNDEFINE_FLAGS)


class LiveMigrations:
    """Live migration, peer to peer: the source's libvirtd connects to the destination's
    (`[libvirt] live_migration_uri`, e.g. qemu+tcp://%s/system, %s the destination's address) and
    QEMU streams memory to it directly. Without shared storage the destination prepares empty
    overlays on its own cached image and the writable disks are copied during the migration
    (block migration, incremental: only the overlays travel); the config drive is written again
    there. The guest keeps running throughout; its pause at the end is the downtime."""

    def pre_live_migration(self, instance: dict, migration: dict) -> None:
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        if folder.path.exists() and folder.state():
            raise VirtError(f"{folder.path} exists on {self.host} already: is the server here?")
        try:
            # Empty overlays on this host's own cached image: the migration fills them.
            self._prepare(instance, {"id": instance.get("image_ref")})
            folder.console_log.touch()
        except Exception:
            self.rollback_live_migration_at_destination(instance, migration)
            raise

    def _migrate_flags(self) -> int:
        return (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
                | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE | libvirt.VIR_MIGRATE_NON_SHARED_INC)

    def live_migration(self, instance: dict, migration: dict) -> int:
        dom = self._domain(instance)
        address = migration.get("dest_host") or migration["dest_compute"]
        uri = self.conf.libvirt.live_migration_uri % address
        # Consoles listening on this host's own address ([libvirt] vnc_listen = [compute] my_ip, as a
        # deployment sets it) listen on the destination's there; a wildcard or loopback stays.
        listen = None
        if self.conf.libvirt.vnc_listen == self.conf.compute.my_ip and migration.get("dest_host"):
            listen = (self.conf.libvirt.vnc_listen, migration["dest_host"])
        xml = domain.with_host(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE), migration["dest_compute"], listen)
        persistent = domain.with_host(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_INACTIVE),
                                      migration["dest_compute"], listen)
        writable = [disk.target for disk in disks.guest_disks(disks.InstanceDir(self.instances_dir, instance["uuid"]))
                    if not disk.readonly]
        params = {libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{address}",
                  libvirt.VIR_MIGRATE_PARAM_DEST_XML: xml, libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persistent,
                  libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: writable}
        if self.conf.libvirt.live_migration_bandwidth:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = self.conf.libvirt.live_migration_bandwidth
        power_state = host.power_state(dom)
        self._aborted.discard(instance["uuid"])
        LOG.info("live migration of %s to %s (%s) starts", instance["uuid"], migration["dest_compute"], uri)
        try:
            dom.migrateToURI3(uri, params, self._migrate_flags())
        except libvirt.libvirtError as error:
            if instance["uuid"] in self._aborted:
                raise LiveMigrationAborted(f"live migration of {instance['uuid']} aborted on request") from None
            raise VirtError(f"live migration to {migration['dest_compute']} failed: "
                            f"{error.get_error_message()}") from None
        finally:
            self._aborted.discard(instance["uuid"])
        # The guest runs there now: what it left here goes.
        if self.network is not None:
            self.network.unplug(instance["uuid"])
        disks.InstanceDir(self.instances_dir, instance["uuid"]).remove()
        return power_state

    def post_live_migration_at_destination(self, instance: dict, migration: dict, power_state: int) -> None:
        dom = self._domain(instance)
        try:
            stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError:
            stats = {}
        if stats:
            LOG.info("live migration of %s done: downtime %s ms, %s ms in all, %s MiB of memory and %s MiB of "
                     "disk copied", instance["uuid"], stats.get("downtime"), stats.get("time_elapsed"),
                     stats.get("memory_processed", 0) // 2**20, stats.get("disk_processed", 0) // 2**20)
        disks.InstanceDir(self.instances_dir, instance["uuid"]).save_state(last_migration=stats)

    def rollback_live_migration_at_destination(self, instance: dict, migration: dict) -> None:
        """The migration failed: remove what was prepared here, unless the guest arrived after all."""
        try:
            dom = self._domain(instance)
            if domain.owner_host(self._metadata(dom)) == self.host:
                return
        except VirtError:
            pass
        if self.network is not None:
            self.network.unplug(instance["uuid"])
        disks.InstanceDir(self.instances_dir, instance["uuid"]).remove()

    def live_migration_abort(self, instance: dict) -> None:
        dom = self._domain(instance)
        self._aborted.add(instance["uuid"])
        try:
            dom.abortJob()
        except libvirt.libvirtError as error:
            self._aborted.discard(instance["uuid"])
            raise VirtError(f"no live migration of {instance['uuid']} to abort: {error.get_error_message()}") from None

    def live_migration_force_complete(self, instance: dict) -> None:
        """Pause the guest: its memory stops changing and the copy converges (it resumes there)."""
        dom = self._domain(instance)
        if not dom.jobInfo()[0]:
            raise VirtError(f"no live migration of {instance['uuid']} is running on {self.host}")
        dom.suspend()
