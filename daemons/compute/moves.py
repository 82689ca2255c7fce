"""The compute host's part in moving a server: resize, cold and live migration, evacuation.

The conductor orchestrates (it chose the destination and holds the allocations); each host does
its step through the driver and reports to the conductor, which records the result and sends
the next step. A failed step is reported with its reason: the conductor puts the server back
where it is whole, records the fault, and gives the resources back.
"""

from __future__ import annotations

import logging

from ncloud.daemons.compute.virt.driver import LiveMigrationAborted, VirtError, fault_text
from ncloud.daemons.core import states
from ncloud.daemons.core.context import RequestContext

LOG = logging.getLogger(__name__)


class Moves:
    """Mixed into ComputeManager (which provides driver, host, conductor and _locked)."""

    def _step(self, ctx: RequestContext, instance: dict, migration: dict, step: str, run) -> bool:
        """Run one driver step; on failure tell the conductor (which settles the server) and say False."""
        try:
            run()
            return True
        except Exception as error:
            LOG.warning("%s of %s on %s failed: %s", step, instance["uuid"], self.host, fault_text(error),
                        exc_info=not isinstance(error, VirtError))
            self.conductor.move_failed(ctx, instance["uuid"], migration["uuid"], self.host, step,
                                       fault_text(error), aborted=isinstance(error, LiveMigrationAborted))
            return False

    # -- resize and cold migration -------------------------------------------------------------
    def resize_instance(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Source host: stop the guest and copy its disks to the destination."""
        with self._locked(instance["uuid"]):
            if self._step(ctx, instance, migration, "resize_instance",
                          lambda: self.driver.migrate_disk_and_power_off(instance, migration)):
                self.conductor.resize_migrated(ctx, instance["uuid"], migration["uuid"], self.host)

    def finish_resize(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Destination host: start the guest with its new flavor (VERIFY_RESIZE follows)."""
        power_on = migration["old_vm_state"] != states.STOPPED
        moved = {**instance, "flavor": migration["new_flavor"]}
        with self._locked(instance["uuid"]):
            if self._step(ctx, instance, migration, "finish_resize",
                          lambda: self.driver.finish_migration(moved, migration, power_on)):
                power_state = self.driver.get_info(moved).power_state
                self.conductor.resize_finished(ctx, instance["uuid"], migration["uuid"], self.host, power_state)

    def confirm_resize(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Source host: the move is confirmed, remove what the guest left here."""
        with self._locked(instance["uuid"]):
            if self._step(ctx, instance, migration, "confirm_resize",
                          lambda: self.driver.confirm_migration(instance, migration)):
                self.conductor.resize_confirmed(ctx, instance["uuid"], migration["uuid"], self.host)

    def revert_resize(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Destination host: remove the moved guest; the source brings its copy back next."""
        with self._locked(instance["uuid"]):
            if self._step(ctx, instance, migration, "revert_resize",
                          lambda: self.driver.revert_migration_dest(instance, migration)):
                self.conductor.resize_reverted_at_dest(ctx, instance["uuid"], migration["uuid"], self.host)

    def finish_revert_resize(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        power_on = migration["old_vm_state"] != states.STOPPED
        restored = {**instance, "flavor": migration["old_flavor"]}
        with self._locked(instance["uuid"]):
            if self._step(ctx, instance, migration, "finish_revert_resize",
                          lambda: self.driver.finish_revert_migration(restored, migration, power_on)):
                power_state = self.driver.get_info(restored).power_state
                self.conductor.resize_reverted(ctx, instance["uuid"], migration["uuid"], self.host, power_state)

    # -- live migration ----------------------------------------------------------------------
    def pre_live_migration(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Destination host, called (not cast) before the source starts: refuse early."""
        self.driver.pre_live_migration(self._with_network(ctx, instance), migration)

    def live_migration(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        with self._locked(instance["uuid"]):
            power_state = []
            if self._step(ctx, instance, migration, "live_migration",
                          lambda: power_state.append(self.driver.live_migration(instance, migration))):
                self.conductor.live_migrated(ctx, instance["uuid"], migration["uuid"], self.host, power_state[0])

    def post_live_migration_at_destination(self, ctx: RequestContext, instance: dict, migration: dict,
                                           power_state: int) -> None:
        with self._locked(instance["uuid"]):
            self.driver.post_live_migration_at_destination(instance, migration, power_state)

    def rollback_live_migration_at_destination(self, ctx: RequestContext, instance: dict, migration: dict) -> None:
        """Destination host of a live migration that failed: remove what pre_live_migration made."""
        with self._locked(instance["uuid"]):
            try:
                self.driver.rollback_live_migration_at_destination(instance, migration)
            except Exception:
                LOG.exception("could not clean up after the failed live migration of %s on %s", instance["uuid"],
                              self.host)

    def live_migration_abort(self, ctx: RequestContext, instance: dict) -> None:
        self.driver.live_migration_abort(instance)  # not under the lock: the migration holds it

    def live_migration_force_complete(self, ctx: RequestContext, instance: dict) -> None:
        self.driver.live_migration_force_complete(instance)

    # -- evacuation (and rebuild, its one-host form) ---------------------------------------------
    def rebuild_instance(self, ctx: RequestContext, instance: dict, image: dict, migration: dict | None,
                         stopped: bool) -> None:
        """Recreate the guest from `image`: in place (rebuild) or here after its host died (evacuate,
        with `migration`). `stopped`: leave it powered off afterwards."""
        uuid = instance["uuid"]
        with self._locked(uuid):
            if not self.conductor.instance_update(ctx, uuid, {"task_state": states.REBUILD_SPAWNING},
                                                  expected={"task_state": states.REBUILDING, "host": self.host}):
                LOG.info("rebuild of %s skipped: it is no longer rebuilding on %s", uuid, self.host)
                return
            try:
                instance = self._with_network(ctx, instance)
                if migration is None:
                    self.driver.rebuild(instance, image)
                else:
                    self.driver.spawn(instance, image)
                if stopped:
                    self.driver.power_off(instance)
                power_state = self.driver.get_info(instance).power_state
            except Exception as error:
                LOG.warning("rebuild of %s on %s failed: %s", uuid, self.host, fault_text(error),
                            exc_info=not isinstance(error, VirtError))
                if migration is not None:
                    self._destroy_quietly(instance)
                self.conductor.rebuild_finished(ctx, uuid, migration["uuid"] if migration else None, self.host,
                                                states.NOSTATE, error=fault_text(error))
                return
            self.conductor.rebuild_finished(ctx, uuid, migration["uuid"] if migration else None, self.host,
                                            power_state)
