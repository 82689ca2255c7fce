"""Availability zones, Nova's way: an aggregate whose metadata names `availability_zone` puts its
hosts in that zone; a host in no such aggregate is in `[DEFAULT] default_availability_zone`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncloud.daemons.core.db.models import Aggregate, AggregateHost

ZONE_KEY = "availability_zone"


def host_zones(session: Session, hosts: list[str] | None = None) -> dict[str, str]:
    """host -> its zone, for the hosts in a zone aggregate (all of them, or those of `hosts`)."""
    query = select(AggregateHost.host, Aggregate.metadata_).join(Aggregate, Aggregate.id == AggregateHost.aggregate_id)
    if hosts is not None:
        if not hosts:
            return {}
        query = query.where(AggregateHost.host.in_(hosts))
    return {host: metadata[ZONE_KEY] for host, metadata in session.execute(query) if (metadata or {}).get(ZONE_KEY)}


def named_zones(session: Session) -> set[str]:
    """The zones aggregates define (whether or not they have hosts yet)."""
    return {metadata[ZONE_KEY] for metadata in session.scalars(select(Aggregate.metadata_))
            if (metadata or {}).get(ZONE_KEY)}
