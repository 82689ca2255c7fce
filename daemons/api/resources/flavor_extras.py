"""A flavor's extra specs (/flavors/{id}/os-extra_specs) and who may use a private flavor
(/flavors/{id}/os-flavor-access, POST /flavors/{id}/action addTenantAccess / removeTenantAccess).

Extra specs are read by anyone who may see the flavor and changed by admins; from 2.86 the keys
of the namespaces ncloud understands are validated (core/extra_specs.py). Access lists exist for
private flavors only; from 2.7 adding a project to a public flavor is a 409.
"""

from __future__ import annotations

import falcon
from sqlalchemy import delete, select

from ncloud.daemons.api import policy, schemas, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.resources.flavors import visible_flavor
from ncloud.daemons.core import extra_specs
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Flavor, FlavorAccess
from ncloud.daemons.core.db.session import Database


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db


def _validated(req: falcon.Request, specs: dict) -> dict:
    if req.context.version >= (2, 86):
        found = extra_specs.problems(specs)
        if found:
            raise Fault(400, "Validation failed; " + "; ".join(found) + ".")
    return specs


class FlavorExtraSpecs(_Base):
    """GET and POST (admin: add or change keys) /flavors/{id}/os-extra_specs."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-extra-specs:index")
        with self.db.reader() as session:
            flavor = visible_flavor(session, req.context.ctx, flavor_id)
        resp.media = {"extra_specs": dict(flavor.extra_specs or {})}

    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-extra-specs:create")
        body = validation.read_json(req)
        schemas.FLAVOR_EXTRA_SPECS.validate(body)
        added = _validated(req, {key: str(value) for key, value in body["extra_specs"].items()})
        with self.db.writer() as session:
            flavor = visible_flavor(session, req.context.ctx, flavor_id)
            flavor.extra_specs = {**(flavor.extra_specs or {}), **added}
        resp.media = {"extra_specs": added}


class FlavorExtraSpec(_Base):
    """GET, PUT (admin) and DELETE (admin) /flavors/{id}/os-extra_specs/{key}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-extra-specs:show")
        with self.db.reader() as session:
            specs = visible_flavor(session, req.context.ctx, flavor_id).extra_specs or {}
        if key not in specs:
            raise Fault(404, f"Flavor {flavor_id} has no extra specs with key {key}.")
        resp.media = {key: specs[key]}

    def on_put(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-extra-specs:update")
        body = validation.read_json(req)
        schemas.FLAVOR_EXTRA_SPEC.validate(body)
        if key not in body:
            raise Fault(400, "Request body and URI mismatch")
        value = _validated(req, {key: str(body[key])})[key]
        with self.db.writer() as session:
            flavor = visible_flavor(session, req.context.ctx, flavor_id)
            flavor.extra_specs = {**(flavor.extra_specs or {}), key: value}
        resp.media = {key: value}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str, key: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-extra-specs:delete")
        with self.db.writer() as session:
            flavor = visible_flavor(session, req.context.ctx, flavor_id)
            specs = dict(flavor.extra_specs or {})
            if key not in specs:
                raise Fault(404, f"Flavor {flavor_id} has no extra specs with key {key}.")
            del specs[key]
            flavor.extra_specs = specs


def _access_list(session, flavor: Flavor) -> list[dict]:
    projects = session.scalars(select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor.id)
                               .order_by(FlavorAccess.project_id))
    return [{"flavor_id": flavor.flavorid, "tenant_id": project} for project in projects]


class FlavorAccessList(_Base):
    """GET /flavors/{id}/os-flavor-access (admin)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-access")
        with self.db.reader() as session:
            flavor = visible_flavor(session, req.context.ctx, flavor_id)
            if flavor.is_public:
                raise Fault(404, "Access list not available for public flavors.")
            resp.media = {"flavor_access": _access_list(session, flavor)}


class FlavorAction(_Base):
    """POST /flavors/{id}/action: addTenantAccess and removeTenantAccess (admin)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        body = validation.read_json(req)
        schemas.FLAVOR_ACTION.validate(body)
        action = next(iter(body))
        project_id = body[action]["tenant"]
        policy.authorize(ctx, f"os_compute_api:os-flavor-access:{'add' if action == 'addTenantAccess' else 'remove'}"
                              "_tenant_access")
        with self.db.writer() as session:
            flavor = visible_flavor(session, ctx, flavor_id)
            granted = session.get(FlavorAccess, (flavor.id, project_id)) is not None
            if action == "addTenantAccess":
                if flavor.is_public and req.context.version >= (2, 7):
                    raise Fault(409, f"Can not add access to a public flavor: {flavor_id}.")
                if granted:
                    raise Fault(409, f"Flavor access already exists for flavor {flavor_id} and project "
                                     f"{project_id} combination.")
                session.add(FlavorAccess(flavor_id=flavor.id, project_id=project_id))
            else:
                if not granted:
                    raise Fault(404, f"Flavor access not found for {flavor_id} / {project_id} combination.")
                session.execute(delete(FlavorAccess).where(FlavorAccess.flavor_id == flavor.id,
                                                           FlavorAccess.project_id == project_id))
            session.flush()
            resp.media = {"flavor_access": _access_list(session, flavor)}
