"""No stuck states: a periodic sweep that ends every task that outlived its timeout.

- a build (`scheduling`, `networking`, `spawning`, ...) older than `[conductor] build_timeout`:
  the server goes to ERROR with a fault naming the task state and host, and its allocation is
  released;
- a delete older than `delete_timeout` is finished: the instance is marked deleted and its
  allocation released (its host is presumed gone; a host that comes back destroys, at start,
  the guests the database no longer places on it: `[compute] running_deleted_instance_action`);
- any other task older than `action_timeout`: ERROR with a fault; the allocation stays, because
  the server still occupies its host. A move between hosts that stalls (a host died mid-way)
  ends its migration in `error` and hands the server its old allocations back;
- a SOFT_DELETED server older than `[DEFAULT] reclaim_instance_interval` is deleted for good
  through its host (the delete timeout above covers a host that never answers), and a SHELVED
  one older than `shelved_offload_time` is offloaded.
`task_timeouts` gives a task state a timeout of its own (e.g. `rebooting_hard:900`).
Allocations whose consumer is deleted or unknown (neither a server nor a move under way) are
released too. Every change is a
compare-and-swap on (task_state, task_started_at), so several conductors can sweep at once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.moves import give_back
from ncloud.daemons.core import instances, migrations, placement, states
from ncloud.daemons.core.context import admin_context
from ncloud.daemons.core.db.models import Allocation, Instance, Migration, utcnow
from ncloud.daemons.core.db.session import Database

LOG = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, conf, db: Database, compute: ComputeAPI):
        self.conf = conf
        self.db = db
        self.compute = compute
        # [conductor] task_timeouts: STATE:SECONDS pairs (their form is checked when the file is read)
        self.overrides = {state: float(seconds) for state, _, seconds in
                          (item.partition(":") for item in conf.conductor.task_timeouts)}

    def timeout_for(self, task_state: str) -> float:
        conductor = self.conf.conductor
        if task_state in self.overrides:
            return self.overrides[task_state]
        if task_state in states.BUILD_TASKS:
            return conductor.build_timeout
        if task_state == states.DELETING:
            return conductor.delete_timeout
        return conductor.action_timeout

    def run(self) -> int:
        """One sweep; returns how many instances it settled."""
        now = utcnow()
        shortest = min(self.conf.conductor.build_timeout, self.conf.conductor.delete_timeout,
                       self.conf.conductor.action_timeout, *self.overrides.values())
        with self.db.reader() as session:
            stale = session.execute(select(Instance.uuid, Instance.task_state, Instance.task_started_at,
                                           Instance.host)
                                    .where(Instance.deleted.is_(False), Instance.task_state.is_not(None),
                                           Instance.task_started_at < now - dt.timedelta(seconds=shortest))
                                    ).all()
        settled = 0
        for uuid, task_state, started_at, host in stale:
            limit = self.timeout_for(task_state)
            if (now - started_at).total_seconds() < limit:
                continue
            if self._settle(uuid, task_state, started_at, host, limit):
                settled += 1
        settled += self._reclaim_soft_deleted(now)
        settled += self._offload_shelved(now)
        settled += self._release_orphan_allocations()
        return settled

    def _offload_shelved(self, now: dt.datetime) -> int:
        """Shelved servers kept on their host longer than [DEFAULT] shelved_offload_time are offloaded."""
        keep = self.conf.default.shelved_offload_time
        if keep <= 0:
            return 0
        with self.db.reader() as session:
            shelved = session.scalars(select(Instance).where(
                Instance.deleted.is_(False), Instance.vm_state == states.SHELVED, Instance.task_state.is_(None))).all()
            due = [instances.to_dict(row) for row in shelved
                   if dt.datetime.fromisoformat((row.system_metadata or {}).get("shelved_at", now.isoformat()))
                   < now - dt.timedelta(seconds=keep)]
        offloaded = 0
        for instance in due:
            with self.db.writer() as session:
                if not instances.update_state(session, instance["uuid"], {"task_state": states.SHELVING_OFFLOADING},
                                              expected={"vm_state": states.SHELVED, "task_state": None}):
                    continue
            LOG.info("offloading %s: shelved more than %gs ago", instance["uuid"], keep)
            self.compute.shelve_offload_instance(admin_context(), instance["host"],
                                                 {**instance, "task_state": states.SHELVING_OFFLOADING})
            offloaded += 1
        return offloaded

    def _reclaim_soft_deleted(self, now: dt.datetime) -> int:
        interval = self.conf.default.reclaim_instance_interval
        if not interval:
            return 0
        with self.db.reader() as session:
            due = session.scalars(select(Instance).where(
                Instance.deleted.is_(False), Instance.vm_state == states.SOFT_DELETED, Instance.task_state.is_(None),
                Instance.deleted_at < now - dt.timedelta(seconds=interval))).all()
            due = [instances.to_dict(row) for row in due]
        for instance in due:
            uuid = instance["uuid"]
            with self.db.writer() as session:
                if not instances.update_state(session, uuid, {"task_state": states.DELETING},
                                              expected={"vm_state": states.SOFT_DELETED, "task_state": None}):
                    continue
                if instance["host"] is None:
                    instances.mark_deleted(session, uuid)
                    placement.release(session, uuid)
            LOG.info("reclaiming %s: soft deleted more than %gs ago", uuid, interval)
            if instance["host"] is not None:
                self.compute.terminate_instance(admin_context(), instance["host"],
                                                {**instance, "task_state": states.DELETING})
        return len(due)

    def _settle(self, uuid: str, task_state: str, started_at: dt.datetime, host: str | None, limit: float) -> bool:
        expected = {"task_state": task_state, "task_started_at": started_at}
        with self.db.writer() as session:
            if task_state == states.DELETING:
                if not instances.update_state(session, uuid, {"task_state": states.DELETING}, expected):
                    return False
                instances.mark_deleted(session, uuid)
                placement.release(session, uuid)
                instances.finish_action(session, uuid, None, message="Error")
                LOG.warning("delete of %s did not finish within %ss on host %s: marked deleted", uuid, limit, host)
                return True
            if not instances.update_state(session, uuid, {"vm_state": states.ERROR, "task_state": None}, expected):
                return False
            where = f"on host {host}" if host else "before a host was chosen"
            if task_state in states.BUILD_TASKS:
                placement.release(session, uuid)
                message = f"Build timed out: the server spent more than {limit:g}s in task state {task_state} {where}."
            else:
                message = f"Task {task_state} did not finish within {limit:g}s {where}."
                if task_state in states.MOVE_TASKS:
                    self._end_move(session, uuid)
            instances.add_fault(session, uuid, message, code=500, host=host)
            instances.record_event(session, uuid, None, "conductor_reconcile", host, result="Error", details=message,
                                   finish=True)
        LOG.warning("%s: %s", uuid, message)
        return True

    @staticmethod
    def _end_move(session, uuid: str) -> None:
        migration = session.scalars(select(Migration).where(
            Migration.instance_uuid == uuid, Migration.status.not_in(migrations.FINAL))
            .order_by(Migration.id.desc()).limit(1)).first()
        if migration is not None:
            give_back(session, uuid, migration.uuid)
            migrations.set_status(session, migration.uuid, "error")

    def _release_orphan_allocations(self) -> int:
        with self.db.writer() as session:
            orphans = session.scalars(
                select(Allocation.consumer_id).distinct()
                .outerjoin(Instance, Instance.uuid == Allocation.consumer_id)
                .outerjoin(Migration, Migration.uuid == Allocation.consumer_id)
                .where((Instance.id.is_(None)) | (Instance.deleted.is_(True)))
                .where((Migration.id.is_(None)) | (Migration.status.in_(migrations.FINAL)))).all()
            for consumer in orphans:
                placement.release(session, consumer)
        if orphans:
            LOG.warning("released allocations of %d deleted or unknown server(s): %s", len(orphans),
                        ", ".join(orphans))
        return len(orphans)
