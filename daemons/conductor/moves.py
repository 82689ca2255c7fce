"""Moving servers between hosts: resize, cold and live migration, evacuation (and in-place rebuild).

Allocations follow Placement-era Nova: when a move starts, the server's allocations on its host
are handed to the migration (its uuid becomes their consumer) and the scheduler claims the
destination for the server itself. So both hosts stay accounted for while the move is under
way; confirming (or completing) releases the migration's, and any failure or revert releases
the server's new claim and hands the old allocations back.

Each step runs on one host and reports here; every report is a compare-and-swap on the server's
task state and the migration's status, so a repeated message finds the step done and does
nothing more.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select, update

from ncloud.daemons.core import exception, instances, migrations, placement, states
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import ComputeNode, Migration, RequestSpec

LOG = logging.getLogger(__name__)

# What a failed step leaves: (migration status, the server's vm_state, whether the server goes
# back to its source with its old allocations). None for vm_state: the state it had before the move.
_FAILED = {
    "resize_instance": ("error", None, True),  # nothing has moved yet: the guest is as it was
    "finish_resize": ("error", states.ERROR, True),  # stopped on its source, not started on the destination
    "confirm_resize": ("error", states.ERROR, False),  # runs on the destination; the source is not clean
    "revert_resize": ("error", states.ERROR, False),
    "finish_revert_resize": ("error", states.ERROR, False),
    "live_migration": ("failed", None, True),  # the guest still runs on its source
    "pre_live_migration": ("error", None, True),
}
_STEP_TASKS = {
    "resize_instance": states.RESIZE_MIGRATING, "finish_resize": states.RESIZE_MIGRATED,
    "confirm_resize": states.RESIZE_CONFIRMING, "revert_resize": states.RESIZE_REVERTING,
    "finish_revert_resize": states.RESIZE_REVERTING, "live_migration": states.MIGRATING,
    "pre_live_migration": states.MIGRATING,
}
_ACTION_EVENTS = {migrations.RESIZE: "compute_resize_instance", migrations.COLD: "compute_resize_instance",
                  migrations.LIVE: "compute_live_migration", migrations.EVACUATION: "compute_rebuild_instance"}


def flavor_columns(flavor: dict) -> dict:
    """The instance columns that follow its flavor."""
    return {"flavor": flavor, "instance_type_id": flavor.get("id"), "vcpus": flavor["vcpus"],
            "memory_mb": flavor["memory_mb"], "root_gb": flavor.get("root_gb", 0),
            "ephemeral_gb": flavor.get("ephemeral_gb", 0)}


def _vm_state_for(power_state: int) -> str:
    return states.STOPPED if power_state == states.SHUTDOWN else states.ACTIVE


def give_back(session, uuid: str, migration_uuid: str) -> None:
    """The move is off: release the server's new claim and hand it its old allocations again."""
    if placement.holds(session, migration_uuid):
        placement.release(session, uuid)
        placement.move(session, migration_uuid, uuid)


class MoveTasks:
    """Mixed into ConductorManager (which provides conf, db, scheduler and compute)."""

    # -- choosing the destination ---------------------------------------------------------------
    def _start_move(self, ctx: RequestContext, uuid: str, migration_uuid: str, from_status: str,
                    to_status: str, task_from: str, task_to: str) -> tuple[dict, dict] | None:
        """Claim a destination for the move (the old allocations handed to the migration first) and
        record it. Returns (instance, migration) as the hosts need them, or None when the move
        cannot go on (repeated message, server deleted, no host: all recorded)."""
        with self.db.writer() as session:
            migration = migrations.get(session, migration_uuid)
            if migration.status != from_status:
                return None  # a repeated message: this step ran already
            spec = dict(session.scalar(select(RequestSpec.spec).where(RequestSpec.instance_uuid == uuid)) or {})
            placement.move(session, uuid, migration_uuid)
            options = dict(migration.options or {})
            source = migration.source_compute
            kind = migration.migration_type
        spec.update({"flavor": migration.new_flavor, "retry": {"num_attempts": 0, "hosts": []},
                     "force_host": None, "force_node": None, "requested_destination": None})
        if options.get("host"):
            if options.get("force"):
                spec["force_host"] = options["host"]
            else:
                spec["requested_destination"] = {"host": options["host"]}
        if not (kind == migrations.RESIZE and self.conf.default.allow_resize_to_same_host):
            spec["ignore_hosts"] = [source]
        try:
            destination = self.scheduler.select_destinations(ctx, spec, [uuid])[0]
        except (exception.NoValidHost, exception.MessagingTimeout, exception.MessagingUnavailable) as error:
            self._fail(ctx, uuid, migration_uuid, "error", None, True, source,
                       f"No valid host was found for the {kind} of {uuid}: {error}", task_from)
            return None
        with self.db.writer() as session:
            address = session.scalar(select(ComputeNode.host_ip).where(ComputeNode.host == destination["host"],
                                                                       ComputeNode.hypervisor_hostname
                                                                       == destination["node"]))
            moved = migrations.set_status(session, migration_uuid, to_status, expected=from_status,
                                          dest_compute=destination["host"], dest_node=destination["node"],
                                          dest_host=address)
            if not moved or not instances.update_state(session, uuid, {"task_state": task_to},
                                                       expected={"task_state": task_from, "host": source}):
                give_back(session, uuid, migration_uuid)  # deleted or reset meanwhile
                return None
            instance = instances.to_dict(instances.get(session, uuid))
            migration_dict = migrations.to_dict(migrations.get(session, migration_uuid))
        LOG.info("%s of %s: %s -> %s", kind, uuid, source, destination["host"])
        return instance, migration_dict

    def _fail(self, ctx: RequestContext, uuid: str, migration_uuid: str, status: str, vm_state: str | None,
              back_to_source: bool, host: str | None, message: str, task_state: str,
              fault: bool = True) -> None:
        with self.db.writer() as session:
            migration = session.scalars(select(Migration).where(Migration.uuid == migration_uuid)).first()
            if migration is None or migration.status in migrations.FINAL:
                return  # reported already
            migrations.set_status(session, migration_uuid, status)
            updates: dict = {"task_state": None, "vm_state": vm_state or migration.old_vm_state}
            if back_to_source:
                give_back(session, uuid, migration_uuid)
                updates.update({"host": migration.source_compute, "node": migration.source_node,
                                **flavor_columns(migration.old_flavor)})
            if not instances.update_state(session, uuid, updates, expected={"task_state": task_state}):
                return
            if fault:
                instances.add_fault(session, uuid, message, host=host)
            instances.record_event(session, uuid, ctx.request_id, _ACTION_EVENTS[migration.migration_type], host,
                                   result="Error", details=message, finish=True)
        LOG.warning("%s", message)

    def move_failed(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str, step: str,
                    reason: str, aborted: bool = False) -> None:
        """A host could not do its step of a move (compute/moves.py): settle the server."""
        status, vm_state, back = _FAILED[step]
        if aborted:
            status = "cancelled"
        self._fail(ctx, uuid, migration_uuid, status, vm_state, back, host,
                   f"{step} failed on {host}: {reason}", _STEP_TASKS[step], fault=not aborted)
        if step == "live_migration":  # the guest stays on its source: the destination's preparations go
            with self.db.reader() as session:
                migration = migrations.to_dict(migrations.get(session, migration_uuid))
                instance = instances.to_dict(instances.get(session, uuid, include_deleted=True))
            self.compute.rollback_live_migration_at_destination(ctx, migration["dest_compute"], instance, migration)

    # -- resize and cold migration ---------------------------------------------------------------
    def migrate_server(self, ctx: RequestContext, uuid: str, migration_uuid: str) -> None:
        started = self._start_move(ctx, uuid, migration_uuid, "pre-migrating", "migrating", states.RESIZE_PREP,
                                   states.RESIZE_MIGRATING)
        if started is not None:
            instance, migration = started
            self.compute.resize_instance(ctx, migration["source_compute"], instance, migration)

    def resize_migrated(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        with self.db.writer() as session:
            if not migrations.set_status(session, migration_uuid, "post-migrating", expected="migrating"):
                return
            if not instances.update_state(session, uuid, {"task_state": states.RESIZE_MIGRATED},
                                          expected={"task_state": states.RESIZE_MIGRATING, "host": host}):
                return
            instance = instances.to_dict(instances.get(session, uuid))
            migration = migrations.to_dict(migrations.get(session, migration_uuid))
        self.compute.finish_resize(ctx, migration["dest_compute"], instance, migration)

    def resize_finished(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                        power_state: int) -> None:
        with self.db.writer() as session:
            migration = migrations.get(session, migration_uuid)
            if not migrations.set_status(session, migration_uuid, "finished", expected="post-migrating"):
                return
            updates = {"host": host, "node": migration.dest_node, "vm_state": states.RESIZED, "task_state": None,
                       "power_state": power_state, **flavor_columns(migration.new_flavor)}
            if instances.update_state(session, uuid, updates, expected={"task_state": states.RESIZE_MIGRATED}):
                instances.record_event(session, uuid, ctx.request_id, "compute_finish_resize", host,
                                       result="Success", finish=True)

    def resize_confirmed(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        with self.db.writer() as session:
            instance = instances.get(session, uuid)
            confirm_locally(session, ctx, instance, migrations.get(session, migration_uuid), host)

    def resize_reverted_at_dest(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str) -> None:
        with self.db.reader() as session:
            migration = migrations.to_dict(migrations.get(session, migration_uuid))
            instance = instances.to_dict(instances.get(session, uuid))
        if migration["status"] == "reverting":
            self.compute.finish_revert_resize(ctx, migration["source_compute"], instance, migration)

    def resize_reverted(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                        power_state: int) -> None:
        with self.db.writer() as session:
            migration = migrations.get(session, migration_uuid)
            if not migrations.set_status(session, migration_uuid, "reverted", expected="reverting"):
                return
            give_back(session, uuid, migration_uuid)
            updates = {"host": host, "node": migration.source_node, "vm_state": _vm_state_for(power_state),
                       "task_state": None, "power_state": power_state, **flavor_columns(migration.old_flavor)}
            if instances.update_state(session, uuid, updates, expected={"task_state": states.RESIZE_REVERTING}):
                instances.record_event(session, uuid, ctx.request_id, "compute_finish_revert_resize", host,
                                       result="Success", finish=True)

    # -- live migration ------------------------------------------------------------------------
    def live_migrate(self, ctx: RequestContext, uuid: str, migration_uuid: str) -> str | None:
        """Start a live migration; returns why it could not start (None when it did)."""
        started = self._start_move(ctx, uuid, migration_uuid, "accepted", "preparing", states.MIGRATING,
                                   states.MIGRATING)
        if started is None:
            with self.db.reader() as session:
                migration = migrations.get(session, migration_uuid)
                return None if migration.status not in ("error", "failed") else _last_fault(session, uuid)
        instance, migration = started
        try:
            self.compute.pre_live_migration(ctx, migration["dest_compute"], instance, migration)
        except Exception as error:
            reason = error.value if isinstance(error, exception.RemoteError) else str(error)
            self.move_failed(ctx, uuid, migration_uuid, migration["dest_compute"], "pre_live_migration", reason)
            return f"pre_live_migration failed on {migration['dest_compute']}: {reason}"
        with self.db.writer() as session:
            if not migrations.set_status(session, migration_uuid, "running", expected="preparing"):
                return None
        self.compute.live_migration(ctx, migration["source_compute"], instance, {**migration, "status": "running"})
        return None

    def live_migrated(self, ctx: RequestContext, uuid: str, migration_uuid: str, host: str,
                      power_state: int) -> None:
        with self.db.reader() as session:
            migration = migrations.to_dict(migrations.get(session, migration_uuid))
            instance = instances.to_dict(instances.get(session, uuid))
        if migration["status"] != "running":
            return
        dest = migration["dest_compute"]
        self.compute.post_live_migration_at_destination(ctx, dest, instance, migration, power_state)
        with self.db.writer() as session:
            if not migrations.set_status(session, migration_uuid, "completed", expected="running"):
                return
            placement.release(session, migration_uuid)
            if instances.update_state(session, uuid, {"host": dest, "node": migration["dest_node"], "task_state": None,
                                                      "power_state": power_state},
                                      expected={"task_state": states.MIGRATING, "host": host}):
                instances.record_event(session, uuid, ctx.request_id, "compute_live_migration", host,
                                       result="Success", finish=True)

    # -- evacuation and rebuild ------------------------------------------------------------------
    def evacuate_server(self, ctx: RequestContext, uuid: str, migration_uuid: str, image: dict) -> None:
        started = self._start_move(ctx, uuid, migration_uuid, "accepted", "pre-migrating", states.REBUILDING,
                                   states.REBUILDING)
        if started is None:
            return
        instance, migration = started
        dest = migration["dest_compute"]
        with self.db.writer() as session:
            if not instances.update_state(session, uuid, {"host": dest, "node": migration["dest_node"],
                                                          "task_state": states.REBUILDING},
                                          expected={"task_state": states.REBUILDING,
                                                    "host": migration["source_compute"]}):
                give_back(session, uuid, migration_uuid)
                return
        stopped = bool(migration["options"].get("stopped")) or migration["old_vm_state"] == states.STOPPED
        self.compute.rebuild_instance(ctx, dest, {**instance, "host": dest, "node": migration["dest_node"]}, image,
                                      migration, stopped)

    def rebuild_finished(self, ctx: RequestContext, uuid: str, migration_uuid: str | None, host: str,
                         power_state: int, error: str | None = None) -> None:
        """The end of a rebuild, in place or on a new host (evacuation)."""
        if error and migration_uuid:
            self._fail(ctx, uuid, migration_uuid, "error", states.ERROR, True, host,
                       f"Evacuation to {host} failed: {error}", states.REBUILD_SPAWNING)
            return
        with self.db.writer() as session:
            if error:
                updates = {"vm_state": states.ERROR, "task_state": None}
            else:
                updates = {"vm_state": _vm_state_for(power_state), "task_state": None, "power_state": power_state}
            if not instances.update_state(session, uuid, updates,
                                          expected={"task_state": states.REBUILD_SPAWNING, "host": host}):
                return
            if migration_uuid:
                migrations.set_status(session, migration_uuid, "done", expected="pre-migrating")
            if error:
                instances.add_fault(session, uuid, f"Rebuild failed on {host}: {error}", host=host)
            instances.record_event(session, uuid, ctx.request_id, "compute_rebuild_instance", host,
                                   result="Error" if error else "Success", details=error, finish=True)

    def evacuated_from(self, ctx: RequestContext, host: str) -> list[dict]:
        """Servers evacuated from `host` whose old guests it must remove now that it is back."""
        with self.db.reader() as session:
            rows = session.scalars(select(Migration).where(
                Migration.source_compute == host, Migration.migration_type == migrations.EVACUATION,
                Migration.status == "done")).all()
            return [migrations.to_dict(row) for row in rows]

    def migrations_in_progress(self, ctx: RequestContext, host: str) -> list[dict]:
        """Moves from or to `host` not yet over: their guests may be on it while the database
        places them elsewhere (the power sync must not take them for strays)."""
        with self.db.reader() as session:
            rows = session.scalars(select(Migration).where(
                or_(Migration.source_compute == host, Migration.dest_compute == host),
                Migration.status.not_in(migrations.FINAL))).all()
            return [migrations.to_dict(row) for row in rows]

    def evacuation_cleaned(self, ctx: RequestContext, migration_uuid: str) -> None:
        """The old host removed an evacuated guest: its allocations there go."""
        with self.db.writer() as session:
            placement.release(session, migration_uuid)
            migrations.set_status(session, migration_uuid, "completed", expected="done")


def confirm_locally(session, ctx: RequestContext, instance, migration: Migration, host: str | None) -> bool:
    """Finish a confirmed resize in the database: the source's allocations go, the server is
    ACTIVE (or SHUTOFF) on its new host with the new flavor for good. Used by the conductor when
    the source host reports it is clean, and by the API when the source host is down (its leftovers
    are reaped when it comes back)."""
    if not migrations.set_status(session, migration.uuid, "confirmed", expected="confirming"):
        return False
    placement.release(session, migration.uuid)
    session.execute(update(RequestSpec).where(RequestSpec.instance_uuid == instance.uuid)
                    .values(spec={**_spec_of(session, instance.uuid), "flavor": migration.new_flavor}))
    if instances.update_state(session, instance.uuid,
                              {"vm_state": _vm_state_for(instance.power_state), "task_state": None},
                              expected={"task_state": states.RESIZE_CONFIRMING}):
        instances.record_event(session, instance.uuid, ctx.request_id, "compute_confirm_resize", host,
                               result="Success", finish=True)
    return True


def _spec_of(session, uuid: str) -> dict:
    return dict(session.scalar(select(RequestSpec.spec).where(RequestSpec.instance_uuid == uuid)) or {})


def _last_fault(session, uuid: str) -> str | None:
    fault = instances.latest_faults(session, [uuid]).get(uuid)
    return fault.message if fault else "the live migration could not start"
