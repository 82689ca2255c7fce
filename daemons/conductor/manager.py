"""The conductor: orchestrates builds and is the compute hosts' only way to the database.

Builds follow the architecture: ask the scheduler for hosts (which claims resources), record the
choice, send the build to the host. A build that fails on a host releases its claim and is
rescheduled elsewhere until `[scheduler] max_attempts`; then the server goes to ERROR with a fault
that names every host tried and the last error. Every step is a compare-and-swap on the instance,
so a redelivered message or a delete racing with a build cannot leave anything half done.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.moves import MoveTasks
from ncloud.daemons.conductor.shelving import Shelving
from ncloud.daemons.core import exception, fixed_ips, instances, placement, server_groups, servicegroup, states
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import ComputeNode, Instance, RequestSpec, utcnow
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.scheduler.rpcapi import SchedulerAPI

LOG = logging.getLogger(__name__)


class ConductorManager(MoveTasks, Shelving):
    """RPC endpoint of topic `conductor` (moves between hosts: conductor/moves.py; shelved servers:
    conductor/shelving.py)."""

    def __init__(self, conf, db: Database, scheduler: SchedulerAPI, compute: ComputeAPI):
        self.conf = conf
        self.db = db
        self.scheduler = scheduler
        self.compute = compute

    # -- builds ------------------------------------------------------------------------------
    def build_instances(self, ctx: RequestContext, instance_uuids: list[str], instances_: list[dict] | None = None,
                        spec: dict | None = None) -> None:
        """Place and build servers that wait in `scheduling`.

        The API sends the instances and request spec it has just written (`instances_`, `spec`),
        which saves reading them back; a reschedule passes only the uuids. A passing failure
        (database or broker away) is raised, so that the message is tried again; any other one
        fails the builds with a fault rather than leaving them to time out.
        """
        try:
            self._build_instances(ctx, instance_uuids, instances_, spec)
        except Exception as error:
            if exception.is_transient(error):
                raise
            LOG.exception("building %s failed unexpectedly", ", ".join(instance_uuids))
            for uuid in instance_uuids:
                self._fail_build(ctx, uuid, f"Internal error while scheduling the build: {type(error).__name__}: "
                                            f"{error}")

    def _build_instances(self, ctx: RequestContext, instance_uuids: list[str], instances_: list[dict] | None,
                         spec: dict | None) -> None:
        if instances_ is not None and spec is not None:
            waiting = {instance["uuid"]: instance for instance in instances_}
            specs = dict.fromkeys(waiting, spec)
        else:
            waiting, specs = self._waiting(ctx, instance_uuids)
        order = [uuid for uuid in instance_uuids if uuid in waiting]
        if not order:
            return
        try:
            # Idempotent per instance (an existing claim is returned): asked again after a lost reply.
            destinations = self.scheduler.select_destinations(ctx, specs[order[0]], order)
        except exception.NoValidHost as error:
            for uuid in order:
                # A reschedule that found no other host: the failure that started it is the news.
                last = (specs[uuid].get("retry") or {}).get("last_error")
                message = f"Build failed on {last}. No other host could take it: {error}" if last else str(error)
                self._fail_build(ctx, uuid, message, code=500)
            return
        except (exception.MessagingTimeout, exception.MessagingUnavailable) as error:
            for uuid in order:
                self._fail_build(ctx, uuid, f"The scheduler could not be reached: {error}", code=500)
            return
        for uuid, destination in zip(order, destinations, strict=True):
            target = {"host": destination["host"], "node": destination["node"]}
            with self.db.writer() as session:
                if instances.update_state(session, uuid, target, expected={
                        "vm_state": states.BUILDING, "task_state": states.SCHEDULING, "host": None}):
                    build = {**waiting[uuid], **target}
                else:
                    build = self._after_lost_placement(session, uuid)
            if build is not None:
                self.compute.build_and_run_instance(ctx, build["host"], build, specs[uuid])

    def _waiting(self, ctx: RequestContext, uuids: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
        """Instances still to be placed, and their specs. One already placed by an earlier delivery
        of this message gets its build sent again (the compute host's compare-and-swap makes a
        duplicate harmless)."""
        with self.db.reader() as session:
            rows = session.scalars(select(Instance).where(
                Instance.uuid.in_(uuids), Instance.deleted.is_(False),
                Instance.vm_state == states.BUILDING, Instance.task_state == states.SCHEDULING)).all()
            specs = {row.instance_uuid: row.spec for row in session.scalars(
                select(RequestSpec).where(RequestSpec.instance_uuid.in_(uuids)))}
        waiting = {}
        for row in rows:
            if row.host is not None:
                self.compute.build_and_run_instance(ctx, row.host, instances.to_dict(row), specs[row.uuid])
            else:
                waiting[row.uuid] = instances.to_dict(row)
        return waiting, specs

    @staticmethod
    def _after_lost_placement(session, uuid: str) -> dict | None:
        """The instance was not where the placement expected it (this message was delivered before).

        Deleted meanwhile: give its room back. Placed by an earlier delivery but its build maybe not
        sent: send it again (the compute host's compare-and-swap makes a duplicate harmless).
        Anything else (built, or failed by a path that released its claim itself): leave it be; its
        claim is its own.
        """
        try:
            current = instances.get(session, uuid)
        except exception.InstanceNotFound:
            placement.release(session, uuid)
            return None
        if current.vm_state == states.BUILDING and current.host is not None and current.task_state == states.SCHEDULING:
            return instances.to_dict(current)
        return None

    def _fail_build(self, ctx: RequestContext | None, uuid: str, message: str, code: int = 500,
                    host: str | None = None, details: str | None = None,
                    expected: dict | None = None) -> bool:
        with self.db.writer() as session:
            failed = instances.update_state(session, uuid, {"vm_state": states.ERROR, "task_state": None},
                                            expected=expected or {"vm_state": states.BUILDING})
            if failed:  # otherwise it is no longer building (built, deleted, ...): its claim is not ours
                placement.release(session, uuid)
                instances.add_fault(session, uuid, message, code=code, details=details, host=host)
                request_id = ctx.request_id if ctx else None
                instances.record_event(session, uuid, request_id, "conductor_schedule_and_build_instances",
                                       host, result="Error", details=message, finish=True)
        if failed:
            LOG.warning("build of %s failed: %s", uuid, message)
        return failed

    def build_failed(self, ctx: RequestContext, uuid: str, host: str, reason: str, details: str = "") -> None:
        """A compute host could not build the instance: reschedule it, or fail it for good."""
        max_attempts = self.conf.scheduler.max_attempts
        with self.db.writer() as session:
            try:
                instance = instances.get(session, uuid)
            except exception.InstanceNotFound:
                placement.release(session, uuid)
                return
            spec_row = session.scalars(select(RequestSpec).where(RequestSpec.instance_uuid == uuid)).one()
            spec = dict(spec_row.spec)
            retry = dict(spec.get("retry") or {"num_attempts": 0, "hosts": []})
            resumed = (instance.host is None and instance.task_state == states.SCHEDULING
                       and retry.get("hosts", [])[-1:] == [host])
            if not resumed and (instance.host != host or instance.task_state not in states.BUILD_TASKS):
                return  # a stale or repeated report
        if resumed:  # this report was handled up to the reschedule, then its handler died: finish it
            self.build_instances(ctx, [uuid])
            return
        with self.db.writer() as session:
            spec_row = session.scalars(select(RequestSpec).where(RequestSpec.instance_uuid == uuid)).one()
            spec = dict(spec_row.spec)
            retry = dict(spec.get("retry") or {"num_attempts": 0, "hosts": []})
            retry["num_attempts"] = retry.get("num_attempts", 0) + 1
            retry["hosts"] = [*retry.get("hosts", []), host]
            retry["last_error"] = f"{host}: {reason}"
            exhausted = retry["num_attempts"] >= max_attempts
            # Still building there? Checked again, as the first write: the look above was another
            # transaction, and the build may have ended meanwhile (then nothing is written here).
            if not exhausted and not instances.update_state(
                    session, uuid, {"host": None, "node": None, "task_state": states.SCHEDULING},
                    expected={"host": host, "vm_state": states.BUILDING, "task_state": tuple(states.BUILD_TASKS)}):
                return
            spec["retry"] = retry
            spec_row.spec = spec
            instances.record_event(session, uuid, ctx.request_id, "compute_build_and_run_instance", host,
                                   result="Error", details=reason, traceback=details or None)
            if not exhausted:
                placement.release(session, uuid)
        if exhausted:
            tried = ", ".join(retry["hosts"])
            message = (f"Build failed on {retry['num_attempts']} host(s) ({tried}), the maximum of "
                       f"[scheduler] max_attempts={max_attempts}. Last error on {host}: {reason}")
            self._fail_build(ctx, uuid, message, host=host, details=details or None,
                             expected={"host": host, "vm_state": states.BUILDING})
            return
        LOG.info("rescheduling %s after failure on %s (attempt %d of %d): %s", uuid, host,
                 retry["num_attempts"] + 1, max_attempts, reason)
        self.build_instances(ctx, [uuid])

    def group_policy_violation(self, ctx: RequestContext, uuid: str, host: str, group: dict) -> str | None:
        """The compute's late check of a hard group policy (core/server_groups.py)."""
        with self.db.reader() as session:
            return server_groups.late_violation(session, group, uuid, host)

    def network_info(self, ctx: RequestContext, uuid: str) -> dict | None:
        with self.db.reader() as session:
            rows = fixed_ips.of_servers(session, [uuid]).get(uuid)
        return fixed_ips.network_info(self.conf, rows[0]) if rows else None

    # -- reports from compute hosts ------------------------------------------------------------
    def instance_update(self, ctx: RequestContext, uuid: str, updates: dict, expected: dict) -> bool:
        with self.db.writer() as session:
            return instances.apply_once(session, uuid, updates, expected)

    def instance_built(self, ctx: RequestContext, uuid: str, host: str, power_state: int) -> bool:
        updates = {"vm_state": states.ACTIVE, "task_state": None, "power_state": power_state, "launched_at": utcnow()}
        with self.db.writer() as session:
            if not instances.update_state(session, uuid, updates,
                                          expected={"host": host, "task_state": states.SPAWNING}):
                # Asked again after a lost reply (already built), or deleted meanwhile.
                return instances.already_applied(session, uuid, {**updates, "host": host})
            instances.record_event(session, uuid, ctx.request_id, "compute_build_and_run_instance", host,
                                   result="Success", finish=True)
        return True

    def instance_destroyed(self, ctx: RequestContext, uuid: str, host: str) -> None:
        with self.db.writer() as session:
            placement.release(session, uuid)
            if instances.mark_deleted(session, uuid):  # not again for a repeated message
                instances.record_event(session, uuid, ctx.request_id, "compute_terminate_instance", host,
                                       result="Success", finish=True)

    def action_finished(self, ctx: RequestContext, uuid: str, host: str, event: str, updates: dict,
                        expected: dict, error: str | None = None) -> bool:
        with self.db.writer() as session:
            done = instances.update_state(session, uuid, updates, expected)
            if not done:  # asked again after a lost reply, or overtaken (deleted meanwhile)
                return instances.already_applied(session, uuid, updates)
            if error:
                instances.add_fault(session, uuid, error, host=host)
            instances.record_event(session, uuid, ctx.request_id, event, host,
                                   result="Error" if error else "Success", details=error, finish=True)
        return done

    def instances_on_host(self, ctx: RequestContext, host: str) -> list[dict]:
        with self.db.reader() as session:
            rows = session.scalars(select(Instance).where(Instance.host == host, Instance.deleted.is_(False)))
            return [instances.to_dict(row) for row in rows]

    # -- services and inventory --------------------------------------------------------------
    def service_register(self, ctx: RequestContext, host: str, binary: str, topic: str) -> dict:
        service_id, service_uuid = servicegroup.register(self.db, host, binary, topic)
        return {"id": service_id, "uuid": service_uuid}

    def service_heartbeat(self, ctx: RequestContext, host: str, binary: str) -> None:
        with self.db.writer() as session:
            servicegroup.heartbeat(session, host, binary)

    def compute_node_update(self, ctx: RequestContext, host: str, node: dict, inventory: dict) -> None:
        records = {rc: placement.InventoryRecord(**values) for rc, values in inventory.items()}
        with self.db.writer() as session:
            row = session.scalars(select(ComputeNode).where(ComputeNode.uuid == node["uuid"])).first()
            if row is None:
                row = ComputeNode(uuid=node["uuid"], host=host, hypervisor_hostname=node["hypervisor_hostname"],
                                  hypervisor_type=node["hypervisor_type"], vcpus=0, memory_mb=0, local_gb=0)
                session.add(row)
            for key in ("hypervisor_type", "hypervisor_version", "host_ip", "vcpus", "memory_mb", "local_gb",
                        "cpu_info"):
                if getattr(row, key) != node.get(key):
                    setattr(row, key, node.get(key))
            row.host = host
            placement.ensure_provider(session, node["uuid"], node["hypervisor_hostname"], records)
