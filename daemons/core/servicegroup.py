"""The services table: which daemon runs where, and whether it is up.

A service is up when its last heartbeat (`last_seen_up`, written only after a heartbeat message
went through its consumer loop) is younger than `service_down_time` and nobody forced it down.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ncloud.daemons.core.db.models import Service, utcnow


def register(session: Session, host: str, binary: str, topic: str | None) -> Service:
    service = session.scalars(select(Service).where(Service.host == host, Service.binary == binary)).first()
    if service is None:
        service = Service(uuid=str(uuid.uuid4()), host=host, binary=binary, topic=topic, report_count=0)
        session.add(service)
        session.flush()
    return service


def heartbeat(session: Session, host: str, binary: str) -> None:
    session.execute(update(Service).where(Service.host == host, Service.binary == binary)
                    .values(last_seen_up=utcnow(), report_count=Service.report_count + 1))


def alive(last_seen_up: dt.datetime | None, forced_down: bool, down_time: float,
          now: dt.datetime | None = None) -> bool:
    if forced_down or last_seen_up is None:
        return False
    return ((now or utcnow()) - last_seen_up).total_seconds() <= down_time


def is_up(service: Service, down_time: float, now: dt.datetime | None = None) -> bool:
    return alive(service.last_seen_up, service.forced_down, down_time, now)
