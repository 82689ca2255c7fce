"""The scheduler: picks a host for each server and claims its resources before answering.

One pass: load the candidate hosts, run the filters (counting what each removed and why), weigh
the survivors, claim on the best one (or one of the best `host_subset_size`, to spread
concurrent requests). A claim that loses a race for the last room on a host moves on to the
next host. When nothing fits, NoValidHost carries the whole story into the server's fault.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

from sqlalchemy import select

from ncloud.daemons.core import exception, placement
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Allocation, ComputeNode, ResourceProvider
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.scheduler import filters, host_state, weighers

LOG = logging.getLogger(__name__)


class SchedulerManager:
    """RPC endpoint of topic `scheduler`."""

    def __init__(self, conf, db: Database):
        self.conf = conf
        self.db = db
        self.filters = filters.enabled(conf.scheduler.enabled_filters)
        self.weighers = weighers.enabled(conf)

    def select_destinations(self, ctx: RequestContext, spec: dict, instance_uuids: list[str]) -> list[dict]:
        request = placement.flavor_resources(spec["flavor"])
        hosts = host_state.load(self.db, self.conf.default.service_down_time,
                                self.conf.default.default_availability_zone)
        chosen: list[dict] = []
        claimed_now: list[str] = []
        try:
            for uuid in instance_uuids:
                existing = self._existing_claim(uuid)
                if existing is not None:  # an earlier delivery of this request claimed already
                    chosen.append(existing)
                    continue
                host = self._place(uuid, spec, request, hosts)
                claimed_now.append(uuid)
                chosen.append({"host": host.host, "node": host.nodename, "provider_id": host.provider_id})
        except exception.NoValidHost:
            # All or nothing, as in Nova: a multi-server request that does not fit claims nothing.
            with self.db.writer() as session:
                for uuid in claimed_now:
                    placement.release(session, uuid)
            raise
        LOG.info("placed %s on %s", ", ".join(instance_uuids), ", ".join(c["host"] for c in chosen))
        return chosen

    def _existing_claim(self, uuid: str) -> dict | None:
        with self.db.reader() as session:
            row = session.execute(
                select(ComputeNode.host, ComputeNode.hypervisor_hostname, ResourceProvider.id)
                .join(ResourceProvider, ResourceProvider.uuid == ComputeNode.uuid)
                .join(Allocation, Allocation.resource_provider_id == ResourceProvider.id)
                .where(Allocation.consumer_id == uuid).limit(1)).first()
        if row is None:
            return None
        return {"host": row[0], "node": row[1], "provider_id": row[2]}

    def _candidates(self, spec: dict, request: dict, hosts: list) -> tuple[list, list[str]]:
        """Hosts that pass every filter, and the lines that explain what was removed."""
        forced = spec.get("force_host")
        if forced:
            remaining = [host for host in hosts if host.host == forced]
            if not remaining:
                return [], [f"the requested host {forced} is not a known compute host"]
            return remaining, []
        remaining = list(hosts)
        story = [f"{len(hosts)} compute host(s) known"]
        for host_filter in self.filters:
            reasons: Counter = Counter()
            passed = []
            for host in remaining:
                reason = host_filter.rejects(host, spec, request)
                if reason is None:
                    passed.append(host)
                else:
                    reasons[reason] += 1
            name = type(host_filter).__name__
            if reasons:
                detail = ", ".join(f"{reason} on {count}" for reason, count in reasons.most_common())
                story.append(f"{name} removed {len(remaining) - len(passed)} ({detail})")
            elif name != "RetryFilter":
                story.append(f"{name} removed 0")
            remaining = passed
        return remaining, story

    def _place(self, uuid: str, spec: dict, request: dict, hosts: list):
        candidates, story = self._candidates(spec, request, hosts)
        lost_races = []
        while candidates:
            ranked = [host for _, host in weighers.weigh(candidates, self.weighers)]
            host = random.choice(ranked[:self.conf.scheduler.host_subset_size])
            try:
                placement.claim(self.db, uuid, host.provider_id, request,
                                retries=self.conf.scheduler.claim_retries)
            except placement.ClaimFailed as failure:
                lost_races.append(f"{host.host}: {failure}")
                candidates.remove(host)
                continue
            host.consume(request)
            return host
        reason = "; ".join(story) + "."
        if lost_races:
            reason += " Claims failed on the remaining hosts (" + "; ".join(lost_races) + ")."
        if any(line.startswith("ResourceFilter removed") for line in story) or lost_races:
            reason += f" Requested: {', '.join(f'{rc}={n}' for rc, n in sorted(request.items()))}."
        raise exception.NoValidHost(reason=reason)
