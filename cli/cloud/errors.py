"""What can go wrong between the `ncloud` command and a cloud, each with the exit code it ends with.

The exit codes are part of the interface (scripts test them): 1 the cloud refused or a server
ended in ERROR, 2 a usage error (the command line; click's own), 3 the cloud could not be
reached, 4 the configuration names no usable cloud or the login was refused.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base: the message says what went wrong and what to do."""

    exit_code = 1


class ConfigError(CloudError):
    """No usable cloud: clouds.yaml, the OS_* variables or the --os-* options fall short."""

    exit_code = 4


class Unreachable(CloudError):
    """The endpoint did not answer (DNS, refused connection, TLS, timeout)."""

    exit_code = 3


class APIError(CloudError):
    """The API answered with an error: its status, its message and the request id."""

    def __init__(self, status: int, message: str, request_id: str | None = None, method: str = "", url: str = ""):
        self.status = status
        self.api_message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        details = f"HTTP {status}" + (f", request {request_id}" if request_id else "")
        super().__init__(f"{message} ({details})" if method else message)


class AuthError(APIError):
    """The Identity API refused the credentials."""

    exit_code = 4


class NotFound(APIError):
    """No such resource (also raised, without method and url, when a name matches nothing)."""


class Ambiguous(CloudError):
    """A name matches several resources: the message lists their ids."""
