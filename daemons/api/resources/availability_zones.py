"""GET /os-availability-zone and /os-availability-zone/detail (admin).

A compute host is in the zone of its zone aggregate, else in `[DEFAULT] default_availability_zone`
(core/availability_zones.py). A zone is available when at least one enabled compute service is
in it; the detail (an admin's) also shows Nova's pseudo-zone `internal` with the other services,
and per host each service's `available` (enabled) and `active` (heartbeat recent) flags.
"""

from __future__ import annotations

import falcon
from sqlalchemy import select

from ncloud.daemons.api import policy, views
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import availability_zones, servicegroup
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Service, utcnow
from ncloud.daemons.core.db.session import Database

INTERNAL = "internal"


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def zones(self) -> dict[str, list[Service]]:
        """Services by zone name (`internal` last)."""
        default = self.conf.default.default_availability_zone
        with self.db.reader() as session:
            services = list(session.scalars(select(Service).order_by(Service.host, Service.binary)))
            host_zones = availability_zones.host_zones(session)
        zones: dict[str, list[Service]] = {}
        for service in sorted(services, key=lambda s: s.binary != COMPUTE_BINARY):
            zone = host_zones.get(service.host, default) if service.binary == COMPUTE_BINARY else INTERNAL
            zones.setdefault(zone, []).append(service)
        return zones


class AvailabilityZones(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-availability-zone:list")
        zones = self.zones()
        zones.pop(INTERNAL, None)
        resp.media = {"availabilityZoneInfo": [
            {"zoneName": name, "zoneState": {"available": any(not s.disabled for s in services)}, "hosts": None}
            for name, services in zones.items() if services]}


class AvailabilityZonesDetail(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-availability-zone:detail")
        now, down_time = utcnow(), self.conf.default.service_down_time
        info = []
        for name, services in self.zones().items():
            if not services:
                continue
            hosts: dict[str, dict] = {}
            for service in services:
                hosts.setdefault(service.host, {})[service.binary] = {
                    "available": not service.disabled, "active": servicegroup.is_up(service, down_time, now),
                    "updated_at": views.strtime(service.last_seen_up or service.updated_at)}
            available = any(not s.disabled for s in services) if name != INTERNAL else True
            info.append({"zoneName": name, "zoneState": {"available": available}, "hosts": hosts})
        resp.media = {"availabilityZoneInfo": info}
