"""The checks, each a function from the cloud to findings. They read the cloud as its controllers
do: the configuration file of a controller (database, bus, admin credentials, API URL).

A check that cannot tell (its own dependency is down) says UNKNOWN rather than guess; the check of
that dependency says CRITICAL, so the exit code names the real culprit.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ncloud.cli.check.findings import Finding, Status

TRANSITIONAL = ("building", "resized")  # vm_states a server should only pass through


@dataclass
class Thresholds:
    deadline: float = 5.0  # seconds the API and the RPC pings may take
    stuck_minutes: float = 30.0  # a task or a build older than this is stuck
    capacity_warning: float = 10.0  # percent of RAM or vCPU left on the enabled computes
    store_warning: float = 10.0  # percent free where images are stored
    store_critical: float = 5.0


@dataclass
class Cloud:
    """Lazily opened handles on the cloud; closed by `close()`."""

    conf: object
    thresholds: Thresholds = field(default_factory=Thresholds)
    _db: object = None
    _transport: object = None

    @property
    def db(self):
        if self._db is None:
            from ncloud.daemons.core.db.session import Database

            self._db = Database(self.conf.database_url)
        return self._db

    @property
    def transport(self):
        if self._transport is None:
            from ncloud.daemons.core import rpc

            self._transport = rpc.Transport(self.conf.default.transport_url, publish_retry=rpc.FAIL_FAST_RETRY)
        return self._transport

    def api_url(self) -> str:
        from ncloud.daemons.core.identity.bootstrap import base_urls

        return base_urls(self.conf)["internal"]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._db is not None:
            self._db.engine.dispose()


def _now() -> dt.datetime:
    from ncloud.daemons.core.db.models import utcnow

    return utcnow()


# -- the API and Identity ------------------------------------------------------------------------
def api(cloud: Cloud) -> Iterator[Finding]:
    import httpx

    url = f"{cloud.api_url()}/healthcheck"
    started = time.monotonic()
    try:
        response = httpx.get(url, timeout=cloud.thresholds.deadline)
    except httpx.HTTPError as error:
        yield Finding("api", Status.CRITICAL, f"{url} did not answer within {cloud.thresholds.deadline:g} s: {error}")
        return
    seconds = time.monotonic() - started
    figures = {"api_seconds": (round(seconds, 3), "s")}
    if response.status_code != 200:
        yield Finding("api", Status.CRITICAL, f"{url} answered {response.status_code}: {response.text[:200]}", figures)
    else:
        yield Finding("api", Status.OK, f"answered in {seconds * 1000:.0f} ms", figures)


def token(cloud: Cloud) -> Iterator[Finding]:
    from ncloud.cli.cloud.errors import CloudError
    from ncloud.cli.cloud.session import admin_session

    started = time.monotonic()
    try:
        admin_session(cloud.conf)
    except CloudError as error:
        yield Finding("token", Status.CRITICAL, f"no token for {cloud.conf.identity.admin_user}: {error}")
        return
    seconds = time.monotonic() - started
    yield Finding("token", Status.OK, f"issued to {cloud.conf.identity.admin_user} in {seconds * 1000:.0f} ms",
                  {"token_seconds": (round(seconds, 3), "s")})


# -- the database and the bus --------------------------------------------------------------------
def database(cloud: Cloud) -> Iterator[Finding]:
    from ncloud.daemons.core.db import migrate

    try:
        cloud.db.ping()
        found = migrate.status(cloud.db)
    except Exception as error:  # DatabaseUnavailable, and the many types drivers raise
        yield Finding("database", Status.CRITICAL, f"unreachable: {type(error).__name__}: {error}"[:300])
        return
    if not found.up_to_date:
        yield Finding("database", Status.WARNING, f"schema at {found.current}, pending: {', '.join(found.pending)} "
                      "(run ncloud db sync, or ncloud upgrade)")
    else:
        yield Finding("database", Status.OK, f"reachable, schema at {found.current}")


def message_bus(cloud: Cloud) -> Iterator[Finding]:
    from ncloud.daemons.api.resources.health import probe_message_bus

    try:
        probe_message_bus(cloud.transport, timeout=cloud.thresholds.deadline)
    except Exception as error:  # kombu raises transport-specific types
        yield Finding("message_bus", Status.CRITICAL, f"unreachable: {type(error).__name__}: {error}"[:300])
        return
    yield Finding("message_bus", Status.OK, "a message went through")


# -- the daemons ---------------------------------------------------------------------------------
def services(cloud: Cloud) -> Iterator[Finding]:
    """Every enabled service's heartbeat is fresh, and every one with a queue answers a ping."""
    from sqlalchemy import select

    from ncloud.daemons.core import exception, rpc, servicegroup
    from ncloud.daemons.core.context import admin_context
    from ncloud.daemons.core.db.models import Service

    with cloud.db.reader() as session:
        rows = list(session.scalars(select(Service).order_by(Service.binary, Service.host)))
    if not rows:
        yield Finding("services", Status.CRITICAL, "no service has ever registered")
        return
    now = _now()
    down_time = cloud.conf.default.service_down_time
    problems, up, disabled = [], 0, 0
    for row in rows:
        if row.disabled:
            disabled += 1
            continue
        if not servicegroup.is_up(row, down_time, now):
            age = "never" if row.last_seen_up is None else f"{(now - row.last_seen_up).total_seconds():.0f} s ago"
            problems.append(f"{row.binary} on {row.host} is down (last heartbeat {age})")
            continue
        if row.topic is not None:  # a daemon with a queue (the API has none)
            client = rpc.RPCClient(cloud.transport, row.topic, server=row.host, timeout=cloud.thresholds.deadline)
            try:
                client.call(admin_context(), "ping")
            except (exception.MessagingTimeout, exception.MessagingUnavailable) as error:
                problems.append(f"{row.binary} on {row.host} does not answer pings ({error})")
                continue
        up += 1
    figures = {"services_up": (up, ""), "services_down": (len(problems), ""), "services_disabled": (disabled, "")}
    if problems:
        yield Finding("services", Status.CRITICAL, "; ".join(problems), figures)
    else:
        yield Finding("services", Status.OK, f"{up} up and answering, {disabled} disabled", figures)


# -- capacity and consistency --------------------------------------------------------------------
def capacity(cloud: Cloud) -> Iterator[Finding]:
    from sqlalchemy import select

    from ncloud.daemons.core import placement, servicegroup
    from ncloud.daemons.core.db.models import ResourceProvider, Service

    with cloud.db.reader() as session:
        usable = {row.host for row in session.scalars(select(Service).where(Service.binary == "ncloud-compute"))
                  if not row.disabled and servicegroup.is_up(row, cloud.conf.default.service_down_time)}
        providers = {row.id: row.name for row in session.scalars(select(ResourceProvider))}
        inventories = placement.inventories(session)
        usages = placement.usages(session)
    total: dict[str, int] = {}
    used: dict[str, int] = {}
    for provider_id, name in providers.items():
        if name not in usable:
            continue
        for rc, record in inventories.get(provider_id, {}).items():
            total[rc] = total.get(rc, 0) + record.capacity
            used[rc] = used.get(rc, 0) + usages.get(provider_id, {}).get(rc, 0)
    if not usable:
        yield Finding("capacity", Status.CRITICAL, "no enabled compute host is up: nothing can boot")
        return
    free = {rc: total[rc] - used.get(rc, 0) for rc in total}
    figures = {f"free_{rc.lower()}": (free[rc], "") for rc in sorted(free)}
    low = [f"{rc} {free[rc]} of {total[rc]} free" for rc in (placement.VCPU, placement.MEMORY_MB)
           if rc in total and total[rc] and free[rc] * 100 / total[rc] < cloud.thresholds.capacity_warning]
    summary = ", ".join(f"{rc} {free[rc]}/{total[rc]}" for rc in sorted(free))
    if low:
        yield Finding("capacity", Status.WARNING, f"little left on {len(usable)} compute(s): {'; '.join(low)}", figures)
    else:
        yield Finding("capacity", Status.OK, f"{len(usable)} compute(s), free {summary}", figures)


def stuck_servers(cloud: Cloud) -> Iterator[Finding]:
    from sqlalchemy import or_, select

    from ncloud.daemons.core.db.models import Instance

    limit = _now() - dt.timedelta(minutes=cloud.thresholds.stuck_minutes)
    with cloud.db.reader() as session:
        rows = list(session.scalars(select(Instance).where(
            Instance.deleted.is_(False),
            or_(Instance.task_state.is_not(None), Instance.vm_state.in_(TRANSITIONAL)),
            or_(Instance.task_started_at < limit, Instance.task_started_at.is_(None) & (Instance.updated_at < limit)))))
    if rows:
        names = ", ".join(f"{row.uuid} ({row.vm_state}/{row.task_state or '-'} on {row.host or 'no host'})"
                          for row in rows[:10])
        yield Finding("stuck_servers", Status.WARNING, f"{len(rows)} server(s) in a transition for more than "
                      f"{cloud.thresholds.stuck_minutes:g} min: {names}", {"stuck_servers": (len(rows), "")})
    else:
        yield Finding("stuck_servers", Status.OK, "none", {"stuck_servers": (0, "")})


def allocations(cloud: Cloud) -> Iterator[Finding]:
    """Resources held for nothing, and servers on a host holding nothing there."""
    from sqlalchemy import select

    from ncloud.daemons.core import migrations
    from ncloud.daemons.core.db.models import Allocation, Instance, Migration

    with cloud.db.reader() as session:
        consumers = set(session.scalars(select(Allocation.consumer_id).distinct()))
        live = {row.uuid: row for row in session.scalars(select(Instance).where(Instance.deleted.is_(False)))}
        moving = set(session.scalars(select(Migration.uuid).where(Migration.status.not_in(migrations.FINAL))))
    orphans = sorted(consumers - set(live) - moving)
    unaccounted = sorted(uuid for uuid, row in live.items()
                         if row.host and row.vm_state not in ("error", "shelved_offloaded") and uuid not in consumers)
    figures = {"orphan_allocations": (len(orphans), ""), "servers_without_allocations": (len(unaccounted), "")}
    problems = []
    if orphans:
        problems.append(f"{len(orphans)} allocation consumer(s) without a server: {', '.join(orphans[:5])}")
    if unaccounted:
        problems.append(f"{len(unaccounted)} server(s) on a host without allocations: {', '.join(unaccounted[:5])}")
    if problems:
        yield Finding("allocations", Status.WARNING, "; ".join(problems), figures)
    else:
        yield Finding("allocations", Status.OK, f"{len(consumers)} consumer(s), all accounted for", figures)


def image_store(cloud: Cloud) -> Iterator[Finding]:
    path = Path(cloud.conf.image_store_path)
    measured = next((p for p in (path, *path.parents) if p.exists()), Path("/"))  # before the first upload
    usage = shutil.disk_usage(measured)
    percent = usage.free * 100 / usage.total
    figures = {"image_store_free_bytes": (usage.free, "B"), "image_store_free_percent": (round(percent, 1), "%")}
    summary = f"{usage.free / 2**30:.1f} GiB ({percent:.0f}%) free in {path}"
    if percent < cloud.thresholds.store_critical:
        yield Finding("image_store", Status.CRITICAL, summary, figures)
    elif percent < cloud.thresholds.store_warning:
        yield Finding("image_store", Status.WARNING, summary, figures)
    else:
        yield Finding("image_store", Status.OK, summary, figures)


CHECKS: dict[str, Callable[[Cloud], Iterator[Finding]]] = {
    "api": api, "token": token, "database": database, "message_bus": message_bus, "services": services,
    "capacity": capacity, "stuck_servers": stuck_servers, "allocations": allocations, "image_store": image_store,
}
# What each check needs: when that is down, the check says UNKNOWN instead of piling on.
NEEDS = {"services": ("database", "message_bus"), "capacity": ("database",), "stuck_servers": ("database",),
         "allocations": ("database",)}


def run_all(cloud: Cloud, only: list[str] | None = None,
            checks: dict[str, Callable[[Cloud], Iterator[Finding]]] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    critical: set[str] = set()
    for name, check in (checks or CHECKS).items():
        if only and name not in only:
            continue
        down = [need for need in NEEDS.get(name, ()) if need in critical]
        if down:
            findings.append(Finding(name, Status.UNKNOWN, f"not checked: {', '.join(down)} unavailable"))
            continue
        try:
            found = list(check(cloud))
        except Exception as error:  # a check's own bug or an unexpected answer: say so, go on
            found = [Finding(name, Status.UNKNOWN, f"the check failed: {type(error).__name__}: {error}"[:300])]
        findings.extend(found)
        if any(finding.status == Status.CRITICAL for finding in found):
            critical.add(name)
    return findings


def moves_in_progress(cloud: Cloud) -> Iterator[Finding]:
    """Resizes, migrations and evacuations not finished: an upgrade restarts the daemons under them."""
    from sqlalchemy import select

    from ncloud.daemons.core import migrations
    from ncloud.daemons.core.db.models import Migration

    with cloud.db.reader() as session:
        rows = list(session.scalars(select(Migration).where(Migration.status.not_in(migrations.FINAL))))
    if rows:
        names = ", ".join(f"{row.instance_uuid} ({row.migration_type} {row.status})" for row in rows[:10])
        yield Finding("moves", Status.WARNING, f"{len(rows)} move(s) not finished: {names}; confirm or revert "
                      "resizes and let migrations end before upgrading", {"moves_in_progress": (len(rows), "")})
    else:
        yield Finding("moves", Status.OK, "no move in progress", {"moves_in_progress": (0, "")})


# `ncloud upgrade-check`: what must hold before upgrade.yml restarts anything.
UPGRADE_CHECKS = {"database": database, "message_bus": message_bus, "services": services, "moves": moves_in_progress}
