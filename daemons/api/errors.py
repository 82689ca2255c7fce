"""Every error the API answers, in Nova's body: `{"itemNotFound": {"message": "...", "code": 404}}`.

Clients (the `openstack` CLI, openstacksdk, Terraform) read the fault name and message out of this
body, so nothing may ever leave the API in another shape: not Falcon's default error document,
not an HTML page, not a traceback. Handlers raise `Fault` (or an `NcloudError`, mapped by its
`code`); anything unexpected is logged with its traceback and answered with a generic 500 that
names only the request id.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import falcon
from sqlalchemy import exc as sa_exc

from ncloud.daemons.core import exception
from ncloud.daemons.core.db.session import DatabaseUnavailable
from ncloud.daemons.core.identity.keys import KeyRepositoryError

LOG = logging.getLogger(__name__)

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    410: "gone",
    413: "overLimit",
    415: "badMediaType",
    416: "rangeNotSatisfiable",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
# Seconds a client is asked to wait when the database or the message bus is unreachable: long
# enough for a broker or database restart, short enough that a retrying client notices recovery.
RETRY_AFTER = 10

UNEXPECTED = ("Unexpected API Error. The request id in the X-Openstack-Request-Id header identifies "
              "it in the API log.")
_HTTP_MESSAGES = {
    404: "The resource could not be found.",
    405: "The method is not allowed for the requested URL.",
}


class Fault(Exception):
    """An answer other than success: `raise Fault(400, "Flavor 7 could not be found.")`."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def fault_body(code: int, message: str, path: str = "") -> dict:
    """Nova's fault body, or Keystone's `{"error": ...}` for the Identity API under /identity."""
    if path == "/identity" or path.startswith("/identity/"):
        return {"error": {"code": code, "message": message, "title": HTTPStatus(code).phrase}}
    return {FAULT_NAMES.get(code, "computeFault"): {"message": message, "code": code}}


def render(resp: falcon.Response, code: int, message: str, headers: dict[str, str] | None = None,
           path: str = "") -> None:
    resp.status = code
    resp.content_type = falcon.MEDIA_JSON  # a handler may have set another type before it failed
    resp.media = fault_body(code, message, path)
    for name, value in (headers or {}).items():
        resp.set_header(name, value)
    if code == 503:
        resp.set_header("Retry-After", str(RETRY_AFTER))


def _on_fault(req, resp, error: Fault, params) -> None:
    render(resp, error.code, error.message, error.headers, req.path)


def _on_http_error(req, resp, error: falcon.HTTPError, params) -> None:
    """Falcon's own errors (no route, wrong method, unreadable body) in Nova's shape."""
    code = error.status_code
    message = _HTTP_MESSAGES.get(code) or error.description or error.title or "Error"
    render(resp, code, message, dict(error.headers or {}), req.path)


def _on_ncloud_error(req, resp, error: exception.NcloudError, params) -> None:
    code = error.code
    if code == 500:
        # A 500-coded NcloudError (NoValidHost, RemoteError, ...) may carry another process's
        # internals; the user gets the generic message, the log gets the story.
        LOG.error("%s %s failed: %s: %s", req.method, req.path, type(error).__name__, error)
        render(resp, 500, UNEXPECTED, path=req.path)
        return
    if code >= 500:
        LOG.warning("%s %s: %s", req.method, req.path, error)
    render(resp, code, str(error), path=req.path)


def _on_database_unavailable(req, resp, error: Exception, params) -> None:
    LOG.warning("%s %s: database unavailable: %s", req.method, req.path, error)
    render(resp, 503, "The database is unavailable; retry later.", path=req.path)


def _is_transient(error: sa_exc.DBAPIError) -> bool:
    """A lost or refused connection, a busy database: worth a retry, not a bug report."""
    if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
        return True
    text = str(error.orig).lower()
    return any(word in text for word in (
        "connect", "gone away", "lost connection", "database is locked", "unable to open database",
        "server closed", "terminating connection", "timeout", "timed out"))


def _on_database_error(req, resp, error: sa_exc.DBAPIError, params) -> None:
    if _is_transient(error):
        _on_database_unavailable(req, resp, error, params)
    else:
        _on_unexpected(req, resp, error, params)


def _on_pool_timeout(req, resp, error: sa_exc.TimeoutError, params) -> None:
    _on_database_unavailable(req, resp, error, params)


def _on_key_repository_error(req, resp, error: Exception, params) -> None:
    LOG.error("%s %s: %s", req.method, req.path, error)
    render(resp, 503, "Identity is not set up on this API node (token keys); the operator has been told in "
                      "the log.", path=req.path)


def _on_unexpected(req, resp, error: Exception, params) -> None:
    LOG.exception("%s %s raised an unexpected error", req.method, req.path)
    render(resp, 500, UNEXPECTED, path=req.path)


def install(app: falcon.App) -> None:
    """Register the handlers; Falcon picks the most specific one for each exception."""
    app.add_error_handler(Exception, _on_unexpected)
    app.add_error_handler(falcon.HTTPError, _on_http_error)
    app.add_error_handler(Fault, _on_fault)
    app.add_error_handler(exception.NcloudError, _on_ncloud_error)
    app.add_error_handler(DatabaseUnavailable, _on_database_unavailable)
    app.add_error_handler(sa_exc.DBAPIError, _on_database_error)
    app.add_error_handler(sa_exc.TimeoutError, _on_pool_timeout)
    app.add_error_handler(KeyRepositoryError, _on_key_repository_error)
