"""Identity v3 unified limits: /v3/registered_limits, /v3/limits, /v3/limits/model.

Keystone's shapes and rules, so `openstack registered limit create/list/set/delete` and `openstack
limit ...` work: an admin registers defaults and sets project limits; anyone reads the registered
defaults; a project's members read that project's limits (and no other's). A project limit
needs a registered limit of the same service, region and resource first; a registered limit
still referenced by project limits cannot be deleted. Enforcement belongs to each service
(core/identity/limits.py; the Image API's quotas use it).
"""

from __future__ import annotations

import falcon
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.identity.admin import _Admin, _body, _id, _is_admin, _links, _load, _read
from ncloud.daemons.api.validation import Schema
from ncloud.daemons.core.db.models import CatalogService, Endpoint, Limit, Project, RegisteredLimit
from ncloud.daemons.core.identity.bootstrap import new_id

_COUNT = {"type": "integer", "minimum": -1, "maximum": 2**31 - 1}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
_RESOURCE = {"type": "string", "minLength": 1, "maxLength": 255}
_REGION = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}


def _many(key: str, properties: dict, required: tuple[str, ...]) -> Schema:
    item = {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}
    return Schema({"type": "object", "required": [key], "additionalProperties": False,
                   "properties": {key: {"type": "array", "items": item, "minItems": 1}}})


REGISTERED_CREATE = _many("registered_limits", {"service_id": _id, "region_id": _REGION, "resource_name": _RESOURCE,
                                                "default_limit": _COUNT, "description": _DESCRIPTION},
                          ("service_id", "resource_name", "default_limit"))
REGISTERED_UPDATE = _body("registered_limit", {"service_id": _id, "region_id": _REGION, "resource_name": _RESOURCE,
                                               "default_limit": _COUNT, "description": _DESCRIPTION})
LIMIT_CREATE = _many("limits", {"service_id": _id, "project_id": _id, "region_id": _REGION,
                                "resource_name": _RESOURCE, "resource_limit": _COUNT, "description": _DESCRIPTION},
                     ("service_id", "project_id", "resource_name", "resource_limit"))
LIMIT_UPDATE = _body("limit", {"resource_limit": _COUNT, "description": _DESCRIPTION})


def registered_view(row: RegisteredLimit, base: str) -> dict:
    return {"id": row.id, "service_id": row.service_id, "region_id": row.region_id,
            "resource_name": row.resource_name, "default_limit": row.default_limit,
            "description": row.description, "links": _links(base, "registered_limits", row.id)}


def limit_view(row: Limit, base: str) -> dict:
    return {"id": row.id, "project_id": row.project_id, "domain_id": None, "service_id": row.service_id,
            "region_id": row.region_id, "resource_name": row.resource_name, "resource_limit": row.resource_limit,
            "description": row.description, "links": _links(base, "limits", row.id)}


def _check_references(session, service_id: str, region_id: str | None) -> None:
    if session.get(CatalogService, service_id) is None:
        raise Fault(400, f"Invalid input for field 'service_id': Could not find service: {service_id}.")
    if region_id is not None and session.scalar(
            select(Endpoint.id).where(Endpoint.region_id == region_id).limit(1)) is None:
        raise Fault(400, f"Invalid input for field 'region_id': Could not find region: {region_id}.")


def _same(model, ref: dict, *names: str):
    """A clause matching the row `ref` would duplicate. Spelled out because SQL's unique
    constraints let rows with a NULL region repeat."""
    region = ref.get("region_id")
    return [model.region_id.is_(None) if region is None else model.region_id == region,
            *(getattr(model, name) == ref[name] for name in names)]


def _duplicate(kind: str) -> Fault:
    return Fault(409, f"Conflict occurred attempting to store {kind} - Duplicate entry.")


def _filtered(req: falcon.Request, query, model, names: tuple[str, ...]):
    for name in names:
        if name in req.params:
            query = query.where(getattr(model, name) == req.get_param(name))
    return query


class RegisteredLimits(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "list_registered_limits")
        query = _filtered(req, select(RegisteredLimit).order_by(RegisteredLimit.resource_name), RegisteredLimit,
                          ("service_id", "region_id", "resource_name"))
        with self.db.reader() as session:
            rows = session.scalars(query).all()
        self.listing(req, resp, "registered_limits", rows, registered_view)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "create_registered_limit")
        body = _read(req, REGISTERED_CREATE)
        try:
            with self.db.writer() as session:
                rows = []
                for ref in body["registered_limits"]:
                    _check_references(session, ref["service_id"], ref.get("region_id"))
                    if session.scalar(select(RegisteredLimit.id).where(
                            *_same(RegisteredLimit, ref, "service_id", "resource_name"))) is not None:
                        raise _duplicate("registered_limit")
                    rows.append(RegisteredLimit(id=new_id(), **ref))
                    session.add(rows[-1])
                    session.flush()  # a second of the same in this request is a duplicate too
        except IntegrityError:
            raise _duplicate("registered_limit") from None
        resp.status = 201
        base = self.base(req)
        resp.media = {"registered_limits": [registered_view(row, base) for row in rows]}


class RegisteredLimitItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        self.authorize(req, "get_registered_limit")
        with self.db.reader() as session:
            row = _load(session, RegisteredLimit, limit_id, "registered limit")
        resp.media = {"registered_limit": registered_view(row, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        self.authorize(req, "update_registered_limit")
        ref = _read(req, REGISTERED_UPDATE, "registered_limit")
        try:
            with self.db.writer() as session:
                row = _load(session, RegisteredLimit, limit_id, "registered limit")
                moved = {name for name in ("service_id", "region_id", "resource_name") if name in ref}
                if moved and self._referenced(session, row):
                    raise Fault(403, "Unable to update the service, region or resource of a registered limit that "
                                     "project limits refer to: delete those first.")
                for name, value in ref.items():
                    setattr(row, name, value)
                _check_references(session, row.service_id, row.region_id)
        except IntegrityError:
            raise _duplicate("registered_limit") from None
        resp.media = {"registered_limit": registered_view(row, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        self.authorize(req, "delete_registered_limit")
        with self.db.writer() as session:
            row = _load(session, RegisteredLimit, limit_id, "registered limit")
            if self._referenced(session, row):
                raise Fault(403, "Unable to delete a registered limit that project limits refer to: delete those "
                                 "first.")
            session.delete(row)
        resp.status = 204

    @staticmethod
    def _referenced(session, row: RegisteredLimit) -> bool:
        return session.scalar(select(Limit.id).where(*_same(Limit, {
            "service_id": row.service_id, "resource_name": row.resource_name, "region_id": row.region_id},
            "service_id", "resource_name")).limit(1)) is not None


class Limits(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """An admin sees every project's limits; anyone else only their own project's."""
        caller = self.authorize(req, "list_limits")
        query = _filtered(req, select(Limit).order_by(Limit.resource_name), Limit,
                          ("service_id", "region_id", "resource_name", "project_id"))
        if not _is_admin(caller):
            query = query.where(Limit.project_id == (caller.project.id if caller.project else None))
        with self.db.reader() as session:
            rows = session.scalars(query).all()
        self.listing(req, resp, "limits", rows, limit_view)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "create_limit")
        body = _read(req, LIMIT_CREATE)
        try:
            with self.db.writer() as session:
                rows = []
                for ref in body["limits"]:
                    _check_references(session, ref["service_id"], ref.get("region_id"))
                    if session.get(Project, ref["project_id"]) is None:
                        raise Fault(400, f"Invalid input for field 'project_id': Could not find project: "
                                         f"{ref['project_id']}.")
                    if session.scalar(select(RegisteredLimit.id).where(
                            *_same(RegisteredLimit, ref, "service_id", "resource_name"))) is None:
                        raise Fault(403, f"No registered limit of {ref['resource_name']} for this service and region: "
                                         "register one before setting a project's own.")
                    if session.scalar(select(Limit.id).where(
                            *_same(Limit, ref, "service_id", "resource_name", "project_id"))) is not None:
                        raise _duplicate("limit")
                    rows.append(Limit(id=new_id(), **ref))
                    session.add(rows[-1])
                    session.flush()
        except IntegrityError:
            raise _duplicate("limit") from None
        resp.status = 201
        base = self.base(req)
        resp.media = {"limits": [limit_view(row, base) for row in rows]}


class LimitItem(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        caller = self.authorize(req, "get_limit")
        with self.db.reader() as session:
            row = session.get(Limit, limit_id)
        if row is None or not (_is_admin(caller) or (caller.project and caller.project.id == row.project_id)):
            raise Fault(404, f"Could not find limit: {limit_id}.")  # another project's: as if absent
        resp.media = {"limit": limit_view(row, self.base(req))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        self.authorize(req, "update_limit")
        body = _read(req, LIMIT_UPDATE)
        with self.db.writer() as session:
            row = _load(session, Limit, limit_id, "limit")
            for name, value in body["limit"].items():
                setattr(row, name, value)
        resp.media = {"limit": limit_view(row, self.base(req))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, limit_id: str) -> None:
        self.authorize(req, "delete_limit")
        with self.db.writer() as session:
            session.delete(_load(session, Limit, limit_id, "limit"))
        resp.status = 204


class LimitModel(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "get_limit_model")
        resp.media = {"model": {"name": "flat", "description": "Limit enforcement and validation does not take "
                                                               "project hierarchy into consideration."}}

