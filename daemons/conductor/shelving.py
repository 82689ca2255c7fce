"""Shelved servers: freeing a host of one (offload) and placing one again (unshelve).

An offloaded server keeps no host and no allocations; its disk is the image `<name>-shelved`.
Unshelving it is a build from that image: the scheduler claims a host (the zone or host asked for,
2.77 and 2.91), the compute spawns it there and deletes the image once it runs. If no host fits or
the spawn fails, the server stays SHELVED_OFFLOADED, with the reason as its fault.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ncloud.daemons.core import exception, instances, placement, states
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import RequestSpec

LOG = logging.getLogger(__name__)

_OFFLOADED = {"vm_state": states.SHELVED_OFFLOADED, "task_state": None, "host": None, "node": None,
              "power_state": states.SHUTDOWN}


class Shelving:
    """Mixed into ConductorManager (which provides db, scheduler and compute)."""

    def instance_offloaded(self, ctx: RequestContext, uuid: str, host: str) -> None:
        with self.db.writer() as session:
            if instances.update_state(session, uuid, _OFFLOADED,
                                      expected={"task_state": states.SHELVING_OFFLOADING, "host": host}):
                placement.release(session, uuid)
                instances.record_event(session, uuid, ctx.request_id, "compute_shelve_offload_instance", host,
                                       result="Success", finish=True)

    def unshelve_instance(self, ctx: RequestContext, uuid: str, zone: str | None = None,
                          host: str | None = None) -> None:
        with self.db.writer() as session:
            instance = instances.get(session, uuid)
            if instance.vm_state != states.SHELVED_OFFLOADED or instance.task_state != states.UNSHELVING:
                return  # a repeated message
            spec = dict(session.scalar(select(RequestSpec.spec).where(RequestSpec.instance_uuid == uuid)) or {})
            image_id = (instance.system_metadata or {}).get("shelved_image_id")
        spec.update({"retry": {"num_attempts": 0, "hosts": []}, "force_host": None, "force_node": None,
                     "requested_destination": {"host": host} if host else None})
        if zone is not None:
            spec["availability_zone"] = zone
        try:
            destination = self.scheduler.select_destinations(ctx, spec, [uuid])[0]
        except (exception.NoValidHost, exception.MessagingTimeout, exception.MessagingUnavailable) as error:
            self.unshelve_failed(ctx, uuid, None, f"No valid host was found to unshelve {uuid}: {error}")
            return
        with self.db.writer() as session:
            placed = {"host": destination["host"], "node": destination["node"]}
            if zone is not None:
                placed["availability_zone"] = zone
            if not instances.update_state(session, uuid, placed,
                                          expected={"task_state": states.UNSHELVING, "host": None}):
                placement.release(session, uuid)  # deleted meanwhile
                return
            if zone is not None:
                session.execute(RequestSpec.__table__.update().where(RequestSpec.instance_uuid == uuid)
                                .values(spec={**spec, "requested_destination": None}))
            payload = instances.to_dict(instances.get(session, uuid))
        self.compute.unshelve_instance(ctx, destination["host"], payload, {"id": image_id})

    def unshelve_failed(self, ctx: RequestContext, uuid: str, host: str | None, reason: str) -> None:
        """No host, or the spawn failed: the server stays offloaded, its claim released."""
        with self.db.writer() as session:
            if not instances.update_state(session, uuid, _OFFLOADED, expected={"task_state": states.UNSHELVING}):
                return
            placement.release(session, uuid)
            instances.add_fault(session, uuid, reason, host=host)
            instances.record_event(session, uuid, ctx.request_id, "compute_unshelve_instance", host,
                                   result="Error", details=reason, finish=True)
        LOG.warning("unshelve of %s failed: %s", uuid, reason)
