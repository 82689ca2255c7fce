"""Console access tokens: what `POST /servers/{id}/remote-consoles` hands out and the console proxy
takes back (Nova's console_auth_tokens).

A token is random (32 bytes, URL-safe) and stored only as its SHA-256, with where the guest's
console listens (the compute host's address and port, from its driver) and an expiry
(`[console] token_ttl`). It is good for one connection: the proxy consumes it. Deleting a server
deletes its tokens (core/instances.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import ConsoleAuthToken, utcnow

# (protocol, type) -> the proxy that serves it; the consoles the libvirt driver offers.
CONSOLE_TYPES = {("vnc", "novnc"): "novnc", ("spice", "spice-html5"): "spice-html5", ("serial", "serial"): "serial"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def access_url(conf: Config, console_type: str, token: str) -> str:
    """The URL a browser (or websocket client) opens: the proxy's base URL with the token."""
    if console_type == "novnc":  # noVNC reads the websocket path, with the token, from `path`
        return f"{conf.console.novncproxy_base_url}?path={quote(f'?token={token}', safe='')}"
    base = conf.console.spicehtml5proxy_base_url if console_type == "spice-html5" else conf.console.serialproxy_base_url
    return f"{base}?token={token}"


def authorize(session: Session, conf: Config, instance_uuid: str, console_type: str, connect: dict) -> str:
    """A new token for the console `connect` describes ({host, port, internal_access_path})."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleAuthToken(token_hash=_digest(token), console_type=console_type, host=connect["host"],
                                 port=int(connect["port"]), internal_access_path=connect.get("internal_access_path"),
                                 instance_uuid=instance_uuid,
                                 expires=utcnow() + dt.timedelta(seconds=conf.console.token_ttl)))
    return token


def consume(session: Session, token: str) -> ConsoleAuthToken | None:
    """The console a token opens, once: the token is gone afterwards. None if unknown or expired."""
    row = session.scalars(select(ConsoleAuthToken).where(ConsoleAuthToken.token_hash == _digest(token))
                          .with_for_update()).first()
    if row is None:
        return None
    session.delete(row)
    return row if row.expires > utcnow() else None
