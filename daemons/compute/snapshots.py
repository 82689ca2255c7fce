"""The compute host's part in images of servers: createImage, createBackup, shelve and unshelve.

The API has created the image record (queued, owned by the server's project); the host stops the
guest where that is needed, reads its disk through the driver and uploads the data to the Image
API (core/image_client.py), which makes the image active. A failure deletes the half-made image,
puts the server back as it was and records why.
"""

from __future__ import annotations

import datetime as dt
import logging

from ncloud.daemons.compute.virt.driver import VirtError, fault_text
from ncloud.daemons.core import states
from ncloud.daemons.core.context import RequestContext

LOG = logging.getLogger(__name__)


class Snapshots:
    """Mixed into ComputeManager (which provides driver, host, conductor, images and _locked)."""

    def _forget_image(self, image_id: str) -> None:
        try:
            self.images.delete(image_id)
        except Exception as error:
            LOG.warning("could not delete image %s: %s", image_id, error)

    def snapshot_instance(self, ctx: RequestContext, instance: dict, image_id: str, task_state: str,
                          backup: dict | None = None) -> None:
        """createImage (task image_snapshot) or, with `backup` ({type, rotation}), createBackup."""
        uuid = instance["uuid"]
        event = "compute_backup_instance" if backup else "compute_snapshot_instance"
        with self._locked(uuid):
            if not self.conductor.instance_update(ctx, uuid, {"task_state": states.IMAGE_UPLOADING},
                                                  expected={"task_state": task_state, "host": self.host}):
                return
            try:
                self.images.upload(image_id, self.driver.snapshot(instance))
            except Exception as error:
                LOG.warning("snapshot of %s failed: %s", uuid, fault_text(error), exc_info=not isinstance(
                    error, VirtError))
                self._forget_image(image_id)
                self.conductor.action_finished(ctx, uuid, self.host, event, {"task_state": None},
                                               {"task_state": states.IMAGE_UPLOADING},
                                               error=f"Snapshot failed: {fault_text(error)}")
                return
            if backup:
                self._rotate(uuid, backup)
            self.conductor.action_finished(ctx, uuid, self.host, event, {"task_state": None},
                                           {"task_state": states.IMAGE_UPLOADING})

    def _rotate(self, uuid: str, backup: dict) -> None:
        """Keep the newest `rotation` backups of this type of this server; delete the older ones."""
        images = self.images.find(instance_uuid=uuid, image_type="backup", backup_type=backup["type"])
        for image in images[backup["rotation"]:]:
            LOG.info("rotating out backup %s of %s (%s, keeping %d)", image["id"], uuid, backup["type"],
                     backup["rotation"])
            self._forget_image(image["id"])

    # -- shelving ------------------------------------------------------------------------------------
    def shelve_instance(self, ctx: RequestContext, instance: dict, image_id: str, offload: bool) -> None:
        """Stop the guest, keep its disk as the image `<name>-shelved`; then offload it if asked."""
        uuid = instance["uuid"]
        with self._locked(uuid):
            was_running = instance["power_state"] == states.RUNNING
            try:
                self.driver.power_off(instance)
                if not self.conductor.instance_update(ctx, uuid, {"task_state": states.SHELVING_IMAGE_UPLOADING},
                                                      expected={"task_state": states.SHELVING, "host": self.host}):
                    return
                self.images.upload(image_id, self.driver.snapshot(instance))
            except Exception as error:
                LOG.warning("shelve of %s failed: %s", uuid, fault_text(error))
                self._forget_image(image_id)
                if was_running:
                    self.driver.power_on(instance)
                self.conductor.action_finished(ctx, uuid, self.host, "compute_shelve_instance",
                                               {"task_state": None},
                                               {"task_state": (states.SHELVING, states.SHELVING_IMAGE_UPLOADING)},
                                               error=f"Shelve failed: {fault_text(error)}")
                return
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            shelved = {"shelved_image_id": image_id, "shelved_at": now.isoformat(), "shelved_host": self.host}
            done = self.conductor.action_finished(
                ctx, uuid, self.host, "compute_shelve_instance",
                {"vm_state": states.SHELVED, "task_state": states.SHELVING_OFFLOADING if offload else None,
                 "power_state": states.SHUTDOWN, "system_metadata": shelved},
                {"task_state": states.SHELVING_IMAGE_UPLOADING})
            if done and offload:
                self._offload(ctx, instance)

    def shelve_offload_instance(self, ctx: RequestContext, instance: dict) -> None:
        with self._locked(instance["uuid"]):
            self._offload(ctx, instance)

    def _offload(self, ctx: RequestContext, instance: dict) -> None:
        """Remove the shelved guest from this host; the conductor frees its resources."""
        try:
            self.driver.destroy(instance)
        except Exception as error:
            self.conductor.action_finished(ctx, instance["uuid"], self.host, "compute_shelve_offload_instance",
                                           {"task_state": None}, {"task_state": states.SHELVING_OFFLOADING},
                                           error=f"Offload failed: {fault_text(error)}")
            return
        self.conductor.instance_offloaded(ctx, instance["uuid"], self.host)

    def unshelve_instance(self, ctx: RequestContext, instance: dict, image: dict) -> None:
        """Bring a shelved server back: powered on where it still is, or built here from its
        shelved image (the conductor chose this host). The image goes once the server runs."""
        uuid = instance["uuid"]
        with self._locked(uuid):
            offloaded = instance["vm_state"] == states.SHELVED_OFFLOADED
            try:
                if offloaded:
                    self.driver.spawn(self._with_network(ctx, instance), image)
                else:
                    self.driver.power_on(instance)
                power_state = self.driver.get_info(instance).power_state
            except Exception as error:
                LOG.warning("unshelve of %s failed: %s", uuid, fault_text(error))
                if offloaded:
                    self._destroy_quietly(instance)
                self.conductor.unshelve_failed(ctx, uuid, self.host, fault_text(error))
                return
            if self.conductor.action_finished(ctx, uuid, self.host, "compute_unshelve_instance",
                                              {"vm_state": states.ACTIVE, "task_state": None,
                                               "power_state": power_state, "system_metadata": None},
                                              {"task_state": states.UNSHELVING, "host": self.host}):
                self._forget_image(image["id"])
