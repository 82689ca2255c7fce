"""The request context: who asked, in which project, under which request id.

It travels with every RPC message so that the conductor, scheduler and compute log the same
request id as the API did, and act with the caller's identity. The current context is also kept
per thread so log lines carry the request id without passing it everywhere.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict, dataclass, field

_local = threading.local()


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


@dataclass
class RequestContext:
    user_id: str | None = None
    project_id: str | None = None
    roles: list[str] = field(default_factory=list)
    request_id: str = field(default_factory=new_request_id)
    global_request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> RequestContext:
        values = values or {}
        known = {k: values[k] for k in ("user_id", "project_id", "roles", "request_id", "global_request_id")
                 if k in values}
        return cls(**known)

    def __enter__(self) -> RequestContext:
        self._previous = getattr(_local, "context", None)
        _local.context = self
        return self

    def __exit__(self, *exc) -> None:
        _local.context = self._previous


def admin_context() -> RequestContext:
    """The context of the cloud itself (periodic tasks, reconcilers)."""
    return RequestContext(user_id=None, project_id=None, roles=["admin"])


def current() -> RequestContext | None:
    return getattr(_local, "context", None)
