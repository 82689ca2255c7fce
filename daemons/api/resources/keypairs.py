"""/os-keypairs: a user's SSH keys (and x509 certificates) to inject into servers.

Key pairs belong to a user, not to a project (Nova's model): a user sees the same keys in every
project, and an admin reaches another user's with `?user_id=` (2.10). Per microversion:
2.2 adds `type` and answers create 201 / delete 204 (200 / 202 before); 2.10 the admin `user_id`;
2.35 paging by name (`limit`, `marker`, `keypairs_links`); 2.92 removes generation (a public key
is required, the private key never leaves the client) and admits "@" and "." in names.
"""

from __future__ import annotations

import falcon
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from ncloud.daemons.api import policy, schemas, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.core import keypairs, quotas
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import KeyPair
from ncloud.daemons.core.db.session import Database


def _target_user(req: falcon.Request, params: dict[str, list[str]], rule: str) -> str:
    """The user whose keys a request is about: the caller, or (2.10, policy permitting) `user_id`."""
    ctx: RequestContext = req.context.ctx
    user_id = ctx.user_id
    if req.context.version >= (2, 10):
        user_id = validation.last(params, "user_id") or user_id
    policy.authorize(ctx, rule, {"user_id": user_id})
    return user_id


def _view(keypair: KeyPair, version: APIVersion, fields: tuple[str, ...]) -> dict:
    body = {field: getattr(keypair, field) for field in fields}
    if version >= (2, 2):
        body["type"] = keypair.type
    return body


class KeyPairs:
    """GET /os-keypairs and POST /os-keypairs (import, or generate before 2.92)."""

    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.KEYPAIR_LIST_QUERY.validate(version, params)
        user_id = _target_user(req, params, "os_compute_api:os-keypairs:index")
        query = select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)
        limit = None
        if version >= (2, 35):
            marker = validation.last(params, "marker")
            with self.db.reader() as session:
                if marker is not None and session.scalar(select(KeyPair.id).where(
                        KeyPair.user_id == user_id, KeyPair.name == marker)) is None:
                    raise Fault(400, f"Marker {marker} could not be found.")
            if marker is not None:
                query = query.where(KeyPair.name > marker)
            limit = validation.last(params, "limit")
            limit = min(int(limit), self.conf.api.max_limit) if limit is not None else None
            if limit is not None:
                query = query.limit(limit)
        with self.db.reader() as session:
            found = list(session.scalars(query))
        body: dict = {"keypairs": [{"keypair": _view(k, version, ("name", "public_key", "fingerprint"))}
                                   for k in found]}
        if limit and len(found) == limit:
            urls = views.Urls.for_request(req, self.conf.api.public_endpoint)
            body["keypairs_links"] = urls.next_link("os-keypairs", params, found[-1].name)
        resp.media = body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        body = validation.read_json(req)
        schemas.KEYPAIR_CREATE.validate(version, body)
        spec = body["keypair"]
        user_id = spec.get("user_id") or ctx.user_id
        policy.authorize(ctx, "os_compute_api:os-keypairs:create", {"user_id": user_id})
        key_type = spec.get("type", keypairs.SSH)
        private_key = None
        if "public_key" in spec:
            public_key = spec["public_key"]
        else:
            private_key, public_key = keypairs.generate(key_type, user_id)
        try:
            fingerprint = keypairs.fingerprint(public_key, key_type)
        except keypairs.InvalidKey as error:
            raise Fault(400, str(error)) from None
        keypair = KeyPair(name=spec["name"], user_id=user_id, fingerprint=fingerprint, public_key=public_key,
                          type=key_type)
        try:
            with self.db.writer() as session:
                quotas.check_key_pairs(self.conf, session, user_id)
                session.add(keypair)
        except sa_exc.IntegrityError:
            raise Fault(409, f"Key pair '{keypair.name}' already exists.") from None
        view = _view(keypair, version, ("name", "public_key", "fingerprint", "user_id"))
        if private_key is not None:
            view["private_key"] = private_key
        resp.status = 201 if version >= (2, 2) else 200
        resp.media = {"keypair": view}


class KeyPairItem:
    """GET /os-keypairs/{name} and DELETE /os-keypairs/{name}."""

    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def _find(self, session, req: falcon.Request, name: str, rule: str) -> KeyPair:
        params = validation.query(req)
        schemas.KEYPAIR_ITEM_QUERY.validate(req.context.version, params)
        user_id = _target_user(req, params, rule)
        keypair = session.scalars(select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)).first()
        if keypair is None:
            raise Fault(404, f"Keypair {name} not found for user {user_id}")
        return keypair

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        with self.db.reader() as session:
            keypair = self._find(session, req, name, "os_compute_api:os-keypairs:show")
        view = _view(keypair, req.context.version, ("id", "name", "public_key", "fingerprint", "user_id"))
        view.update(created_at=views.strtime(keypair.created_at), updated_at=views.strtime(keypair.updated_at),
                    deleted=False, deleted_at=None)
        resp.media = {"keypair": view}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        with self.db.writer() as session:
            session.delete(self._find(session, req, name, "os_compute_api:os-keypairs:delete"))
        resp.status = 204 if req.context.version >= (2, 2) else 202
