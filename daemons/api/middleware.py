"""What every request goes through before and after its handler: request id, identity, version.

- `RequestContextMiddleware` gives each request its id (`X-Openstack-Request-Id` and Nova's older
  `X-Compute-Request-Id` on every response, errors included), keeps a client's own `req-<uuid>` as
  the global request id that ties calls across services together, makes the request's
  `RequestContext` current for the handler's thread (so log lines carry the id) and logs one line
  per request.
- `NoAuthMiddleware` is the `noauth2` development strategy: the token `user:project` is trusted
  as it stands. Version documents and the health check need no token, as in Nova.
- `TokenAuthMiddleware` is the `keystone` strategy: Identity tokens, validated on every request.
- `MicroversionMiddleware` decides the microversion of each Compute API request (api/microversion.py)
  and says which one was served, with `Vary`. Requests under `/compute/v2/` (the v2.0 API, which has
  no microversions) are served by the v2.1 code at 2.1, as Nova serves them.
"""

from __future__ import annotations

import logging
import re
import time

import falcon

from ncloud.daemons.api import microversion
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.core.context import RequestContext, new_request_id

LOG = logging.getLogger(__name__)

API_PREFIX = "/compute/v2.1"
GLOBAL_REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LEGACY_V2_PREFIX = "/compute/v2"


IMAGE_PREFIX = "/image/v2"


def is_api_path(path: str) -> bool:
    """Paths that need a token: the Compute API beyond its version document, and the Image API."""
    return ((path.startswith(API_PREFIX + "/") and path != API_PREFIX + "/") or path.startswith(IMAGE_PREFIX + "/")
            or (path.startswith(LEGACY_V2_PREFIX + "/") and path != LEGACY_V2_PREFIX + "/"))


class RequestContextMiddleware:
    def __init__(self, enforcer=None):
        self.enforcer = enforcer  # the policy in force (api/policy.py), carried by each request's context

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        sent = req.get_header("X-Openstack-Request-Id")
        ctx = RequestContext(request_id=new_request_id(),
                             global_request_id=sent if sent and GLOBAL_REQUEST_ID.fullmatch(sent) else None)
        if self.enforcer is not None:
            ctx.policy = self.enforcer
        req.context.ctx = ctx
        req.context.started = time.monotonic()
        ctx.__enter__()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        ctx: RequestContext | None = getattr(req.context, "ctx", None)
        if ctx is None:  # process_request did not run: still never answer without an id
            ctx = RequestContext()
        resp.set_header("X-Openstack-Request-Id", ctx.request_id)
        resp.set_header("X-Compute-Request-Id", ctx.request_id)
        elapsed = time.monotonic() - getattr(req.context, "started", time.monotonic())
        query = f"?{req.query_string}" if req.query_string else ""
        LOG.info('%s "%s %s%s" status: %s time: %.4f', req.remote_addr, req.method, req.path, query,
                 resp.status_code, elapsed)
        ctx.__exit__(None, None, None)


class NoAuthMiddleware:
    """`X-Auth-Token: <user>:<project>` (or `<user>`, whose project is then its own name)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not is_api_path(req.path):
            return
        token = (req.get_header("X-Auth-Token") or "").strip()
        if not token:
            raise Fault(401, "The request you have made requires authentication.")
        user, _, project = token.partition(":")
        user, project = user.strip(), project.strip() or user.strip()
        if not user or len(user) > MAX_ID or len(project) > MAX_ID:
            raise Fault(401, "The request you have made requires authentication.")
        ctx: RequestContext = req.context.ctx
        ctx.user_id = user
        ctx.project_id = project
        ctx.roles = ["admin"] if user == "admin" else ["member", "reader"]


MAX_ID = 64  # user and project ids, as the database stores them


class TokenAuthMiddleware:
    """`[api] auth_strategy = keystone`: the X-Auth-Token is an Identity token, validated here.

    Validation is local (the token keys) plus the database checks of identity/auth.py, on every
    request: nothing is cached that could outlive a revocation.
    """

    def __init__(self, authenticator):
        self.authenticator = authenticator

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not is_api_path(req.path):
            return
        identity = self.authenticator.validate((req.get_header("X-Auth-Token") or "").strip())
        if identity.project is None:
            raise Fault(401, "The request you have made requires authentication: use a project-scoped token.")
        ctx: RequestContext = req.context.ctx
        ctx.user_id = identity.user.id
        ctx.project_id = identity.project.id
        ctx.roles = identity.role_names


def is_compute_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class MicroversionMiddleware:
    """After authentication, as in Nova: a request without a valid token is a 401 whatever it asks."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.version = microversion.DEFAULT_VERSION
        if req.path.startswith(LEGACY_V2_PREFIX + "/") and req.path != LEGACY_V2_PREFIX + "/":
            req.path = API_PREFIX + req.path[len(LEGACY_V2_PREFIX):]
            req.context.legacy_v2 = True
            return
        if is_compute_path(req.path):
            req.context.version = microversion.negotiate(req)
            req.context.announce = True

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        if getattr(req.context, "announce", False):
            microversion.announce(resp, req.context.version)
