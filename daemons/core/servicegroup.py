"""The services table: which daemon runs where, and whether it is up.

A service is up when its last heartbeat (`last_seen_up`, written only after a heartbeat message
went through its consumer loop) is younger than `service_down_time` and nobody forced it down.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ncloud.daemons.core.db.models import Service, utcnow
from ncloud.daemons.core.db.session import Database


def register(db: Database, host: str, binary: str, topic: str | None) -> tuple[int, str]:
    """The (id, uuid) of the service's row, created if missing.

    Two processes may register the same (host, binary) at the same moment (the API workers of
    one host at start): both find no row, one insert wins and the other gets a duplicate key.
    That one then finds the winner's row in a new transaction (its first one's snapshot would
    not show it).
    """
    for attempt in (1, 2):
        try:
            with db.writer() as session:
                service = session.scalars(select(Service).where(Service.host == host,
                                                                Service.binary == binary)).first()
                if service is None:
                    service = Service(uuid=str(uuid.uuid4()), host=host, binary=binary, topic=topic, report_count=0)
                    session.add(service)
                    session.flush()
                return service.id, service.uuid
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


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


def host_service_up(session: Session, host: str, binary: str, down_time: float) -> bool:
    """Whether `binary` runs on `host` now (a compute, say, that an operation needs)."""
    service = session.scalars(select(Service).where(Service.host == host, Service.binary == binary)).first()
    return service is not None and is_up(service, down_time)
