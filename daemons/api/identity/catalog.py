"""Identity v3 catalog, read-only: /v3/services, /v3/endpoints, /v3/regions.

The catalog is written by `ncloud identity bootstrap` from the configuration (the URLs are the
operator's to set there, not through the API); these answer the lookups clients make, such as
`openstack limit create --service glance` finding the image service by name.
"""

from __future__ import annotations

import falcon
from sqlalchemy import select

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.identity.admin import _Admin, _links, _load
from ncloud.daemons.core.db.models import CatalogService, Endpoint


def service_view(row: CatalogService, base: str) -> dict:
    return {"id": row.id, "type": row.type, "name": row.name, "description": row.description or "",
            "enabled": row.enabled, "links": _links(base, "services", row.id)}


def endpoint_view(row: Endpoint, base: str) -> dict:
    return {"id": row.id, "interface": row.interface, "region_id": row.region_id, "region": row.region_id,
            "service_id": row.service_id, "url": row.url, "enabled": row.enabled,
            "links": _links(base, "endpoints", row.id)}


def region_view(region_id: str, base: str) -> dict:
    return {"id": region_id, "description": "", "parent_region_id": None, "links": _links(base, "regions", region_id)}


class Services(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "list_services")
        query = select(CatalogService).order_by(CatalogService.type)
        for name in ("type", "name"):
            if name in req.params:
                query = query.where(getattr(CatalogService, name) == req.get_param(name))
        with self.db.reader() as session:
            rows = session.scalars(query).all()
        self.listing(req, resp, "services", rows, service_view)


class ServiceItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        self.authorize(req, "get_service")
        with self.db.reader() as session:
            resp.media = {"service": service_view(_load(session, CatalogService, service_id, "service"),
                                                  self.base(req))}


class Endpoints(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "list_endpoints")
        query = select(Endpoint).order_by(Endpoint.service_id, Endpoint.interface)
        for name in ("interface", "service_id", "region_id"):
            if name in req.params:
                query = query.where(getattr(Endpoint, name) == req.get_param(name))
        with self.db.reader() as session:
            rows = session.scalars(query).all()
        self.listing(req, resp, "endpoints", rows, endpoint_view)


class EndpointItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, endpoint_id: str) -> None:
        self.authorize(req, "get_endpoint")
        with self.db.reader() as session:
            resp.media = {"endpoint": endpoint_view(_load(session, Endpoint, endpoint_id, "endpoint"),
                                                    self.base(req))}


class Regions(_Admin):
    """The regions the endpoints name (ncloud keeps no region records of their own)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "list_regions")
        with self.db.reader() as session:
            regions = session.scalars(select(Endpoint.region_id).distinct().order_by(Endpoint.region_id)).all()
        self.listing(req, resp, "regions", regions, region_view)


class RegionItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, region_id: str) -> None:
        self.authorize(req, "get_region")
        with self.db.reader() as session:
            known = session.scalar(select(Endpoint.id).where(Endpoint.region_id == region_id).limit(1))
        if known is None:
            raise Fault(404, f"Could not find region: {region_id}.")
        resp.media = {"region": region_view(region_id, self.base(req))}
