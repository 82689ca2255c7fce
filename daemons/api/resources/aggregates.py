"""/os-aggregates (admin): sets of compute hosts with metadata; `availability_zone` makes one a zone.

Nova's rules: names are unique; a host must be a compute service's to join, and may be in zones
of one name only; an aggregate with hosts cannot be deleted. The zone of an aggregate is its
`availability_zone` metadata (set at creation, by update, or with set_metadata). From 2.41 every
body carries the aggregate's `uuid`; from 2.81 its hosts can be asked to cache images.
"""

from __future__ import annotations

import uuid as uuidlib

import falcon
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from ncloud.daemons.api import policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.api.server_actions import image_info
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core.availability_zones import ZONE_KEY
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Aggregate, AggregateHost, Image, Service
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport


def view(aggregate: Aggregate, hosts: list[str] | None, version: APIVersion) -> dict:
    """`hosts` None: the body of a create, which has neither hosts nor metadata."""
    metadata = dict(aggregate.metadata_ or {})
    body = {"id": aggregate.id, "name": aggregate.name, "availability_zone": metadata.get(ZONE_KEY),
            "created_at": views.strtime(aggregate.created_at), "updated_at": views.strtime(aggregate.updated_at),
            "deleted": False, "deleted_at": None}
    if hosts is not None:
        body.update(hosts=hosts, metadata=metadata)
    if version >= (2, 41):
        body["uuid"] = aggregate.uuid
    return body


def _hosts(session, aggregate_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {aggregate_id: [] for aggregate_id in aggregate_ids}
    for aggregate_id, host in session.execute(select(AggregateHost.aggregate_id, AggregateHost.host)
                                              .where(AggregateHost.aggregate_id.in_(aggregate_ids))
                                              .order_by(AggregateHost.host)):
        found[aggregate_id].append(host)
    return found


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def aggregate(self, session, aggregate_id: str) -> Aggregate:
        row_id = validation.integer_id(aggregate_id)
        aggregate = session.get(Aggregate, row_id) if row_id is not None else None
        if aggregate is None:
            raise Fault(404, f"Aggregate {aggregate_id} could not be found.")
        return aggregate

    def check_zone_of_hosts(self, session, aggregate: Aggregate, zone: str | None, hosts: list[str]) -> None:
        """A host is in one zone: refuse `zone` for hosts that other aggregates put in another."""
        if not zone or not hosts:
            return
        rows = session.scalars(select(Aggregate.metadata_)
                               .join(AggregateHost, AggregateHost.aggregate_id == Aggregate.id)
                               .where(AggregateHost.host.in_(hosts), Aggregate.id != aggregate.id))
        others = sorted({metadata[ZONE_KEY] for metadata in rows
                         if (metadata or {}).get(ZONE_KEY) and metadata[ZONE_KEY] != zone})
        if others:
            raise Fault(400, f"Cannot add host to aggregate {aggregate.id}. Reason: One or more hosts already in "
                             f"availability zone(s) {others}.")

    def respond(self, resp: falcon.Response, session, aggregate: Aggregate, version: APIVersion) -> None:
        session.flush()
        resp.media = {"aggregate": view(aggregate, _hosts(session, [aggregate.id])[aggregate.id], version)}


class Aggregates(_Base):
    """GET and POST /os-aggregates."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-aggregates:index")
        with self.db.reader() as session:
            aggregates = list(session.scalars(select(Aggregate).order_by(Aggregate.id)))
            hosts = _hosts(session, [a.id for a in aggregates])
        resp.media = {"aggregates": [view(a, hosts[a.id], req.context.version) for a in aggregates]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-aggregates:create")
        body = validation.read_json(req)
        schemas.AGGREGATE_CREATE.validate(body)
        spec = body["aggregate"]
        metadata = {ZONE_KEY: spec["availability_zone"]} if spec.get("availability_zone") else {}
        aggregate = Aggregate(uuid=str(uuidlib.uuid4()), name=spec["name"], metadata_=metadata)
        try:
            with self.db.writer() as session:
                session.add(aggregate)
        except sa_exc.IntegrityError:
            raise Fault(409, f"Aggregate {spec['name']} already exists.") from None
        resp.media = {"aggregate": view(aggregate, None, req.context.version)}


class AggregateItem(_Base):
    """GET, PUT (name, availability_zone) and DELETE /os-aggregates/{id}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-aggregates:show")
        with self.db.reader() as session:
            self.respond(resp, session, self.aggregate(session, aggregate_id), req.context.version)

    def on_put(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-aggregates:update")
        body = validation.read_json(req)
        schemas.AGGREGATE_UPDATE.validate(body)
        spec = body["aggregate"]
        try:
            with self.db.writer() as session:
                aggregate = self.aggregate(session, aggregate_id)
                if "availability_zone" in spec:
                    zone = spec["availability_zone"]
                    self.check_zone_of_hosts(session, aggregate, zone, _hosts(session, [aggregate.id])[aggregate.id])
                    metadata = {k: v for k, v in (aggregate.metadata_ or {}).items() if k != ZONE_KEY}
                    aggregate.metadata_ = {**metadata, **({ZONE_KEY: zone} if zone else {})}
                if "name" in spec:
                    aggregate.name = spec["name"]
                self.respond(resp, session, aggregate, req.context.version)
        except sa_exc.IntegrityError:
            raise Fault(409, f"Aggregate {spec.get('name')} already exists.") from None

    def on_delete(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-aggregates:delete")
        with self.db.writer() as session:
            aggregate = self.aggregate(session, aggregate_id)
            if _hosts(session, [aggregate.id])[aggregate.id]:
                raise Fault(400, f"Cannot perform action 'delete' on aggregate {aggregate_id}. Reason: Host "
                                 "aggregate is not empty.")
            session.delete(aggregate)


class AggregateAction(_Base):
    """POST /os-aggregates/{id}/action: add_host, remove_host, set_metadata."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        body = validation.read_json(req)
        schemas.AGGREGATE_ACTION.validate(body)
        action, spec = next(iter(body.items()))
        policy.authorize(req.context.ctx, f"os_compute_api:os-aggregates:{action}")
        with self.db.writer() as session:
            aggregate = self.aggregate(session, aggregate_id)
            members = _hosts(session, [aggregate.id])[aggregate.id]
            if action == "add_host":
                host = spec["host"]
                if session.scalar(select(Service.id).where(Service.host == host,
                                                            Service.binary == COMPUTE_BINARY)) is None:
                    raise Fault(404, f"Compute host {host} could not be found.")
                if host in members:
                    raise Fault(409, f"Aggregate {aggregate_id} already has host {host}.")
                self.check_zone_of_hosts(session, aggregate, (aggregate.metadata_ or {}).get(ZONE_KEY), [host])
                session.add(AggregateHost(aggregate_id=aggregate.id, host=host))
            elif action == "remove_host":
                host = spec["host"]
                if host not in members:
                    raise Fault(404, f"Aggregate {aggregate_id} has no host {host}.")
                session.delete(session.get(AggregateHost, (aggregate.id, host)))
            else:
                changes = spec["metadata"]
                if ZONE_KEY in changes:
                    self.check_zone_of_hosts(session, aggregate, changes[ZONE_KEY], members)
                metadata = dict(aggregate.metadata_ or {})
                for key, value in changes.items():
                    if value is None:
                        metadata.pop(key, None)
                    else:
                        metadata[key] = value
                aggregate.metadata_ = metadata
            self.respond(resp, session, aggregate, req.context.version)


class AggregateImages(_Base):
    """POST /os-aggregates/{id}/images (2.81): have the aggregate's hosts fetch images into their
    image cache ahead of the boots that will need them. Answered 202 once the hosts are asked;
    each caches in the background and logs how it went."""

    def __init__(self, conf: Config, db: Database, transport: Transport):
        super().__init__(conf, db)
        self.compute = ComputeAPI(transport)

    def on_post(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        if req.context.version < (2, 81):
            raise Fault(404, "The resource could not be found.")
        ctx = req.context.ctx
        policy.authorize(ctx, "compute:aggregates:images")
        body = validation.read_json(req)
        schemas.AGGREGATE_IMAGES.validate(body)
        wanted = list(dict.fromkeys(entry["id"] for entry in body["cache"]))
        with self.db.reader() as session:
            aggregate = self.aggregate(session, aggregate_id)
            hosts = _hosts(session, [aggregate.id])[aggregate.id]
            found = {image.id: image for image in session.scalars(select(Image).where(Image.id.in_(wanted)))}
            for image_id in wanted:
                if image_id not in found:
                    raise Fault(400, f"Image {image_id} could not be found.")
            images = [image_info(found[image_id]) for image_id in wanted]
        for host in hosts:
            self.compute.cache_images(ctx, host, images)
        resp.status = 202
