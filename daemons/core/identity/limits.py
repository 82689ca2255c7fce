"""Unified limits (Keystone's): what a project may use of a service's resource.

An administrator registers a default for every project (`openstack registered limit create
--service glance --default-limit 100 image_count_total`) and may give one project its own
(`openstack limit create --service glance --project demo --resource-limit 500 image_count_total`).
A service asks `project_limit` and enforces the answer itself, as Glance and Nova do through
oslo.limit; the model is Keystone's `flat` one (a project's limit stands alone).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ncloud.daemons.core.db.models import CatalogService, Limit, RegisteredLimit

UNLIMITED = -1


def project_limit(session: Session, service_type: str, resource_name: str, project_id: str | None,
                  region_id: str | None, fallback: int) -> int:
    """The project's own limit, else the registered default, else `fallback` (the service's
    configured default); -1 means no limit. A limit for the region beats one for every region."""
    service_ids = select(CatalogService.id).where(CatalogService.type == service_type)
    region = or_(Limit.region_id == region_id, Limit.region_id.is_(None))
    if project_id is not None:
        own = session.execute(select(Limit.resource_limit, Limit.region_id).where(
            Limit.service_id.in_(service_ids), Limit.resource_name == resource_name,
            Limit.project_id == project_id, region)).all()
        if own:
            return _most_specific(own)
    registered = session.execute(select(RegisteredLimit.default_limit, RegisteredLimit.region_id).where(
        RegisteredLimit.service_id.in_(service_ids), RegisteredLimit.resource_name == resource_name,
        or_(RegisteredLimit.region_id == region_id, RegisteredLimit.region_id.is_(None)))).all()
    return _most_specific(registered) if registered else fallback


def _most_specific(rows) -> int:
    return sorted(rows, key=lambda row: row[1] is None)[0][0]
