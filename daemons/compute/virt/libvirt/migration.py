"""Resize and cold migration of libvirt guests (mixed into LibvirtDriver).

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

from ncloud.daemons.compute.virt.driver import VirtError
from ncloud.daemons.compute.virt.libvirt import disks, domain, qemu_img
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
