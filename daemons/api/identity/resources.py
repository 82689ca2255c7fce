"""Identity v3 under /identity: version discovery, tokens, the catalog, the caller's projects.

Keystone's shapes, because keystoneauth (behind the `openstack` CLI and openstacksdk) reads them:
the version document at /identity and /identity/v3, `POST /v3/auth/tokens` answering 201 with the
token in `X-Subject-Token`, `GET`/`HEAD`/`DELETE` of a token named by `X-Subject-Token` on behalf
of the caller's `X-Auth-Token`. Errors are Keystone's `{"error": {"code", "message", "title"}}`
(see api/errors.py).
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api import validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.views import Urls
from ncloud.daemons.core.identity.auth import Authenticator, Identity, Unauthorized, token_body

PREFIX = "/identity/v3"
VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"


def _version(base: str) -> dict:
    return {"id": VERSION_ID, "status": "stable", "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{base}{PREFIX}/"}],
            "media-types": [{"base": "application/json", "type": MEDIA_TYPE}]}


def _base(req: falcon.Request, public_endpoint: str) -> str:
    return Urls.for_request(req, public_endpoint).root


class Versions:
    """GET /identity: the versions there are (one), answered 300 Multiple Choices as Keystone does."""

    def __init__(self, public_endpoint: str):
        self.public_endpoint = public_endpoint

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = 300
        resp.media = {"versions": {"values": [_version(_base(req, self.public_endpoint))]}}


class Version:
    """GET /identity/v3: this version."""

    def __init__(self, public_endpoint: str):
        self.public_endpoint = public_endpoint

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": _version(_base(req, self.public_endpoint))}


class _Authenticated:
    def __init__(self, auth: Authenticator, public_endpoint: str):
        self.auth = auth
        self.public_endpoint = public_endpoint

    def caller(self, req: falcon.Request) -> Identity:
        """The identity of the request's own X-Auth-Token (401 without a valid one)."""
        return self.auth.validate((req.get_header("X-Auth-Token") or "").strip())


class Tokens(_Authenticated):
    """POST (issue), GET/HEAD (validate) and DELETE (revoke) /identity/v3/auth/tokens."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = validation.read_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
            raise Fault(400, "Expecting to find auth in request body. The server could not comply with the "
                             "request since it is either malformed or otherwise incorrect.")
        text, identity = self.auth.authenticate(body["auth"])
        resp.status = 201
        resp.set_header("X-Subject-Token", text)
        resp.media = {"token": token_body(identity, None if "nocatalog" in req.params else self.auth.catalog())}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        subject = self._subject(req)
        resp.set_header("X-Subject-Token", req.get_header("X-Subject-Token"))
        resp.media = {"token": token_body(subject, None if "nocatalog" in req.params else self.auth.catalog())}

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._subject(req)
        resp.set_header("X-Subject-Token", req.get_header("X-Subject-Token"))
        resp.status = 200

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.auth.revoke(self._subject(req))
        resp.status = 204

    def _subject(self, req: falcon.Request) -> Identity:
        """The token named by X-Subject-Token, which only its owner or an admin may look at (404 otherwise)."""
        caller = self.caller(req)
        try:
            subject = self.auth.validate((req.get_header("X-Subject-Token") or "").strip())
        except Unauthorized:
            raise Fault(404, "Could not find token.") from None
        if subject.user.id != caller.user.id and "admin" not in caller.role_names:
            raise Fault(404, "Could not find token.")
        return subject


class Catalog(_Authenticated):
    """GET /identity/v3/auth/catalog: the catalog of the caller's (scoped) token."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        if caller.project is None and caller.domain is None:
            raise Fault(403, "The service catalog is available to scoped tokens only.")
        base = _base(req, self.public_endpoint)
        resp.media = {"catalog": self.auth.catalog(),
                      "links": {"self": f"{base}{PREFIX}/auth/catalog", "previous": None, "next": None}}


class AuthProjects(_Authenticated):
    """GET /identity/v3/auth/projects: the projects the caller has a role on."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        base = _base(req, self.public_endpoint)
        resp.media = {"projects": [
            {"id": project.id, "name": project.name, "domain_id": project.domain_id, "enabled": True,
             "is_domain": False, "parent_id": project.domain_id, "description": project.description,
             "links": {"self": f"{base}{PREFIX}/projects/{project.id}"}}
            for project in self.auth.projects_of(caller.user.id)],
            "links": {"self": f"{base}{PREFIX}/auth/projects", "previous": None, "next": None}}
