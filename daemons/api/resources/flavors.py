"""/flavors, /flavors/detail and /flavors/{id}: list and show flavors; admins create and delete them.

The public id of a flavor is its `flavorid` (a string the admin chose, or a generated UUID), never
the database row id. Lists follow Nova: sorted by `flavorid` ascending unless `sort_key` /
`sort_dir` say otherwise, paginated by `limit` and `marker`; non-admins see public, enabled
flavors only. A cloud has tens of flavors, so a list is one query sorted and paged in Python,
which keeps every sort key paginating the same way.
"""

from __future__ import annotations

import uuid

import falcon
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from ncloud.daemons.api import policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.core import exception
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import Flavor, FlavorAccess
from ncloud.daemons.core.db.session import Database

SORT_KEYS = ("created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id", "is_public",
             "memory_mb", "name", "root_gb", "rxtx_factor", "swap", "updated_at", "vcpus")


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def urls(self, req: falcon.Request) -> views.Urls:
        return views.Urls.for_request(req, self.conf.api.public_endpoint)

    def page(self, req: falcon.Request, detail: bool) -> dict:
        ctx: RequestContext = req.context.ctx
        params = validation.query(req)
        schemas.FLAVOR_LIST_QUERY.validate(params)
        with self.db.reader() as session:
            flavors = list(session.scalars(select(Flavor)))
            granted = set() if ctx.is_admin else accessible(session, ctx)
        flavors = _sorted(_filtered(flavors, ctx, params, granted), params)
        marker = validation.last(params, "marker")
        if marker:
            position = next((i for i, f in enumerate(flavors) if f.flavorid == marker), None)
            if position is None:
                raise Fault(400, f"Marker {marker} could not be found.")
            flavors = flavors[position + 1:]
        max_limit = self.conf.api.max_limit
        limit = min(int(validation.last(params, "limit", str(max_limit))), max_limit)
        flavors = flavors[:limit]
        urls, version = self.urls(req), req.context.version
        if detail:
            extra_specs = _may_read_extra_specs(ctx)
            shown = [views.flavor_detail(flavor, urls, version, extra_specs) for flavor in flavors]
        else:
            shown = [views.flavor_summary(flavor, urls, version) for flavor in flavors]
        body: dict = {"flavors": shown}
        if limit and len(flavors) == limit:
            body["flavors_links"] = urls.next_link("flavors/detail" if detail else "flavors", params,
                                                   flavors[-1].flavorid)
        return body


class Flavors(_Base):
    """GET /flavors and POST /flavors (admin)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.page(req, detail=False)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "os_compute_api:os-flavor-manage:create")
        body = validation.read_json(req)
        schemas.FLAVOR_CREATE.validate(req.context.version, body)
        spec = body["flavor"]
        flavorid = str(spec["id"]) if spec.get("id") is not None else str(uuid.uuid4())
        flavor = Flavor(
            flavorid=flavorid, name=spec["name"], vcpus=int(spec["vcpus"]), memory_mb=int(spec["ram"]),
            root_gb=int(spec["disk"]), ephemeral_gb=int(spec.get("OS-FLV-EXT-DATA:ephemeral", 0)),
            swap=int(spec.get("swap", 0)), rxtx_factor=float(spec.get("rxtx_factor", 1.0)),
            is_public=validation.to_bool(spec.get("os-flavor-access:is_public", True), "is_public"),
            disabled=False, extra_specs={}, description=spec.get("description"))
        try:
            with self.db.writer() as session:
                if session.scalars(select(Flavor.id).where(Flavor.name == flavor.name)).first() is not None:
                    raise Fault(409, f"Flavor with name {flavor.name} already exists.")
                if session.scalars(select(Flavor.id).where(Flavor.flavorid == flavorid)).first() is not None:
                    raise Fault(409, f"Flavor with ID {flavorid} already exists.")
                session.add(flavor)
        except sa_exc.IntegrityError:
            # Another request created the same name or id between our check and our insert.
            raise Fault(409, f"Flavor {flavor.name} ({flavorid}) already exists.") from None
        resp.media = {"flavor": views.flavor_detail(flavor, self.urls(req), req.context.version,
                                                    _may_read_extra_specs(ctx))}


class FlavorsDetail(_Base):
    """GET /flavors/detail."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.page(req, detail=True)


class FlavorItem(_Base):
    """GET /flavors/{id}, PUT /flavors/{id} (admin, 2.55: the description only) and DELETE (admin)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        with self.db.reader() as session:
            flavor = _get(session, flavor_id)
        resp.media = {"flavor": views.flavor_detail(flavor, self.urls(req), req.context.version,
                                                    _may_read_extra_specs(req.context.ctx))}

    def on_put(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        if req.context.version < (2, 55):
            raise Fault(404, "The resource could not be found.")  # as Nova answers a method newer than the request
        ctx: RequestContext = req.context.ctx
        policy.authorize(ctx, "os_compute_api:os-flavor-manage:update")
        body = validation.read_json(req)
        schemas.FLAVOR_UPDATE.validate(body)
        with self.db.writer() as session:
            flavor = _get(session, flavor_id)
            flavor.description = body["flavor"]["description"]
        resp.media = {"flavor": views.flavor_detail(flavor, self.urls(req), req.context.version,
                                                    _may_read_extra_specs(ctx))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-flavor-manage:delete")
        with self.db.writer() as session:
            session.delete(_get(session, flavor_id))
        resp.status = 202


def _may_read_extra_specs(ctx: RequestContext) -> bool:
    return policy.allowed(ctx, "os_compute_api:os-flavor-extra-specs:index")


def _get(session, flavor_id: str) -> Flavor:
    flavor = session.scalars(select(Flavor).where(Flavor.flavorid == flavor_id)).first()
    if flavor is None:
        raise exception.FlavorNotFound(flavor_id=flavor_id)
    return flavor


def accessible(session, ctx: RequestContext) -> set[int]:
    """Row ids of the private flavors the caller's project was given (os-flavor-access)."""
    return set(session.scalars(select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == ctx.project_id)))


def visible_flavor(session, ctx: RequestContext, flavor_id: str) -> Flavor:
    """A flavor the caller may use: public, given to their project, or any for an admin."""
    flavor = _get(session, flavor_id)
    if not (ctx.is_admin or flavor.is_public or flavor.id in accessible(session, ctx)):
        raise exception.FlavorNotFound(flavor_id=flavor_id)
    return flavor


def _filtered(flavors: list[Flavor], ctx: RequestContext, params: dict[str, list[str]],
              granted: set[int]) -> list[Flavor]:
    """Admins choose with ?is_public (public only by default, 'none' for all); others see the
    public flavors and the private ones given to their project, never disabled ones."""
    if ctx.is_admin:
        is_public = _is_public(validation.last(params, "is_public"))
        if is_public is not None:
            flavors = [f for f in flavors if bool(f.is_public) == is_public]
    else:
        flavors = [f for f in flavors if not f.disabled and (f.is_public or f.id in granted)]
    min_ram = validation.last(params, "minRam")
    if min_ram:
        flavors = [f for f in flavors if f.memory_mb >= int(min_ram)]
    min_disk = validation.last(params, "minDisk")
    if min_disk:
        flavors = [f for f in flavors if f.root_gb >= int(min_disk)]
    return flavors


def _is_public(raw: str | None) -> bool | None:
    """Nova's reading of ?is_public: absent means public only, 'none' means all."""
    if raw is None:
        return True
    if raw.strip().lower() == "none":
        return None
    return validation.to_bool(raw, "is_public")


def _sorted(flavors: list[Flavor], params: dict[str, list[str]]) -> list[Flavor]:
    key = validation.last(params, "sort_key", "flavorid")
    if key not in SORT_KEYS:
        raise Fault(400, "Sort key supplied is invalid: " + str(key))
    reverse = validation.last(params, "sort_dir", "asc") == "desc"

    def sort_value(flavor: Flavor) -> tuple:
        # None sorts first ascending (as SQL NULLs do on SQLite and MySQL); the row id breaks ties.
        value = getattr(flavor, key)
        return (value is not None, value if value is not None else 0, flavor.id)

    return sorted(flavors, key=sort_value, reverse=reverse)
