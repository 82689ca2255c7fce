"""The scheduler: picks a host for each server and claims its resources before answering.

One pass: load the candidate hosts, run the filters (counting what each removed and why), weigh
the survivors, claim on the best one (or one of the best `host_subset_size`, to spread
concurrent requests). A claim that loses a race for the last room on a host moves on to the
next host. When nothing fits, NoValidHost carries the whole story into the server's fault.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter

from sqlalchemy import select

from ncloud.daemons.core import exception, placement, server_groups
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Instance
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.scheduler import filters, host_state, weighers

LOG = logging.getLogger(__name__)
HOST_STATE_MAX_AGE = 1.0  # seconds; see SchedulerManager._hosts


class SchedulerManager:
    """RPC endpoint of topic `scheduler`."""

    def __init__(self, conf, db: Database):
        self.conf = conf
        self.db = db
        self.filters = filters.enabled(conf.scheduler.enabled_filters)
        self.weighers = weighers.enabled(conf)
        # One scheduling pass at a time per process: threads of one scheduler would otherwise pick
        # the same best host and lose generation races to each other. Several scheduler processes
        # still run in parallel; their races are what the claim's generation check settles.
        self._lock = threading.Lock()
        self._cached: list[host_state.HostState] | None = None
        self._cached_at = 0.0

    def select_destinations(self, ctx: RequestContext, spec: dict, instance_uuids: list[str]) -> list[dict]:
        with self._lock:
            return self._select_destinations(spec, instance_uuids)

    def _select_destinations(self, spec: dict, instance_uuids: list[str]) -> list[dict]:
        request = placement.flavor_resources(spec["flavor"])
        chosen: list[dict] = []
        claimed_now: list[str] = []
        if spec.get("group"):  # where the group's other servers are (filters/server_group.py)
            with self.db.reader() as session:
                spec = {**spec, "group_hosts": server_groups.member_hosts(session, spec["group"]["uuid"],
                                                                          excluding=instance_uuids)}
        hints = spec.get("scheduler_hints") or {}
        if hints.get("same_host") or hints.get("different_host"):  # filters/affinity_hints.py
            spec = {**spec, "hint_hosts": self._hint_hosts(hints)}
        try:
            for uuid in instance_uuids:
                host, new_claim = self._place(uuid, spec, request)
                if spec.get("group"):
                    spec["group_hosts"][host.host] += 1
                if new_claim:
                    claimed_now.append(uuid)
                chosen.append({"host": host.host, "node": host.nodename, "provider_id": host.provider_id})
        except Exception:
            # All or nothing, as in Nova: a multi-server request that does not fit (or fails in any
            # other way) claims nothing.
            with self.db.writer() as session:
                for uuid in claimed_now:
                    placement.release(session, uuid)
            raise
        LOG.info("placed %s on %s", ", ".join(instance_uuids), ", ".join(c["host"] for c in chosen))
        return chosen

    def _hint_hosts(self, hints: dict) -> dict[str, set[str]]:
        """{hint: the hosts of the servers it names} for same_host and different_host."""
        found = {}
        with self.db.reader() as session:
            for hint in ("same_host", "different_host"):
                uuids = hints.get(hint)
                if uuids:
                    uuids = [uuids] if isinstance(uuids, str) else list(uuids)
                    found[hint] = set(session.scalars(select(Instance.host).where(
                        Instance.uuid.in_(uuids), Instance.deleted.is_(False), Instance.host.is_not(None))))
        return found

    def _hosts(self, fresh: bool = False) -> list[host_state.HostState]:
        """The candidate hosts, read again at most every HOST_STATE_MAX_AGE seconds.

        Reuse is safe: this process's own claims update the cached providers, and any other
        change (another scheduler's claim, a delete) bumps a provider's generation, which the
        claim detects before it re-reads that provider.
        """
        now = time.monotonic()
        if fresh or self._cached is None or now - self._cached_at > HOST_STATE_MAX_AGE:
            self._cached = host_state.load(self.db, self.conf.default.service_down_time,
                                           self.conf.default.default_availability_zone)
            self._cached_at = now
        return self._cached

    def _candidates(self, spec: dict, request: dict, hosts: list) -> tuple[list, list[str]]:
        """Hosts that pass every filter, and the lines that explain what was removed."""
        forced_host, forced_node = spec.get("force_host"), spec.get("force_node")
        if forced_host or forced_node:
            remaining = [host for host in hosts if (not forced_host or host.host == forced_host)
                         and (not forced_node or host.nodename == forced_node)]
            if not remaining:
                wanted = " / ".join(f"{kind} {name}" for kind, name in (("host", forced_host), ("node", forced_node))
                                    if name)
                return [], [f"the requested {wanted} is not a known compute node"]
            return remaining, []
        story = [f"{len(hosts)} compute host(s) known"]
        wanted = spec.get("requested_destination")
        if wanted:  # 2.74's host / hypervisor_hostname: only there, and only if the filters agree
            hosts = [host for host in hosts if (not wanted.get("host") or host.host == wanted["host"])
                     and (not wanted.get("node") or host.nodename == wanted["node"])]
            story.append(f"{len(hosts)} of them the requested destination")
        ignored = spec.get("ignore_hosts")
        if ignored:  # a move never lands where the server is (unless a resize to the same host is allowed)
            hosts = [host for host in hosts if host.host not in ignored]
            story.append(f"{len(hosts)} of them not the server's current host")
        remaining = list(hosts)
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

    def _place(self, uuid: str, spec: dict, request: dict) -> tuple[host_state.HostState, bool]:
        """The host for one instance and whether a claim was made now (False: it existed)."""
        fresh = False
        while True:
            hosts = self._hosts(fresh)
            try:
                return self._place_on(uuid, spec, request, hosts)
            except exception.NoValidHost:
                if fresh:
                    raise
                fresh = True  # decide "nothing fits" only on figures read just now

    def _holder(self, uuid: str, hosts: list) -> host_state.HostState | None:
        """The host on which the instance holds its claim already, if it does."""
        providers = placement.holders(self.db, uuid)
        return next((host for host in hosts if host.provider_id in providers), None)

    def _place_on(self, uuid: str, spec: dict, request: dict, hosts: list) -> tuple[host_state.HostState, bool]:
        candidates, story = self._candidates(spec, request, hosts)
        lost_races = []
        while candidates:
            ranked = [host for _, host in weighers.weigh(candidates, self.weighers, spec)]
            host = random.choice(ranked[:self.conf.scheduler.host_subset_size])
            try:
                host.provider = placement.claim(self.db, uuid, host.provider_id, request,
                                                retries=self.conf.scheduler.claim_retries, snapshot=host.provider)
            except placement.AlreadyClaimed:  # an earlier delivery of this request claimed
                holder = self._holder(uuid, hosts)
                if holder is None:
                    raise exception.NoValidHost(reason=f"{uuid} holds allocations on an unknown host") from None
                return holder, False
            except placement.ClaimFailed as failure:
                lost_races.append(f"{host.host}: {failure}")
                candidates.remove(host)
                continue
            return host, True
        holder = self._holder(uuid, hosts)
        if holder is not None:  # an earlier delivery of this request placed it; it counts, not the filters
            return holder, False
        reason = "; ".join(story) + "."
        if lost_races:
            reason += " Claims failed on the remaining hosts (" + "; ".join(lost_races) + ")."
        if any(line.startswith("ResourceFilter removed") for line in story) or lost_races:
            reason += f" Requested: {', '.join(f'{rc}={n}' for rc, n in sorted(request.items()))}."
        raise exception.NoValidHost(reason=reason)
