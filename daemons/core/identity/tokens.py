"""Tokens: authenticated, encrypted, non-persistent (Fernet), validated by any daemon locally.

A token carries who (user), how (auth methods), for what (a project, a domain, or none: unscoped), until
when, and its audit ids; nothing is stored when it is issued. Any daemon holding the key
repository (identity/keys.py) validates it without a round trip. Revocation, which does need
the database, is checked by the caller against revocation events.

The payload is compact JSON inside a Fernet token (AES-128-CBC with an HMAC-SHA256 over
everything): a token changed by one bit, encrypted with an unknown key, or cut short is
refused as a whole, never half-read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import InvalidToken, MultiFernet

from ncloud.daemons.core import exception
from ncloud.daemons.core.identity import keys

# 2 added the domain of a domain-scoped token; tokens of version 1 (8 fields) still validate.
PAYLOAD_VERSION = 2


class TokenNotValid(exception.NcloudError):
    code = 401
    message = "The request you have made requires authentication."


class TokenExpired(TokenNotValid):
    message = "The token has expired."


def new_audit_id() -> str:
    """Keystone's audit id: 16 random bytes, url-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


@dataclass(frozen=True)
class Token:
    user_id: str
    methods: tuple[str, ...]
    expires_at: dt.datetime  # aware, UTC
    project_id: str | None = None
    audit_ids: tuple[str, ...] = field(default_factory=lambda: (new_audit_id(),))
    application_credential_id: str | None = None
    issued_at: dt.datetime | None = None  # set on validation, from the Fernet timestamp
    domain_id: str | None = None  # a domain-scoped token's domain (then project_id is None)

    @property
    def scoped(self) -> bool:
        return self.project_id is not None or self.domain_id is not None


class TokenProvider:
    """Issues and validates tokens with the keys in `repository`, following its rotations."""

    def __init__(self, repository: Path):
        self.repository = Path(repository)
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None
        self._loaded_at: int | None = None

    def issue(self, token: Token) -> str:
        # The issue time in microseconds: Fernet's own timestamp has whole seconds, too coarse to
        # tell a token issued just after a revocation (a new password) from one issued before it.
        issued_us = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
        payload = [PAYLOAD_VERSION, token.user_id, list(token.methods), token.project_id,
                   int(token.expires_at.timestamp()), list(token.audit_ids), token.application_credential_id,
                   issued_us, token.domain_id]
        encrypted = self._keys().encrypt(json.dumps(payload, separators=(",", ":")).encode())
        return encrypted.decode().rstrip("=")  # as Keystone's: no padding, safe in a header and a URL

    def validate(self, text: str, now: dt.datetime | None = None) -> Token:
        """The token's content; TokenNotValid if it was not issued with our keys, TokenExpired if late."""
        if not text or len(text) > 1024:
            raise TokenNotValid()
        raw = (text + "=" * (-len(text) % 4)).encode()
        try:
            fernet = self._keys()
            try:
                plain = fernet.decrypt(raw)
            except InvalidToken:
                fernet = self._keys(force=True)  # issued with a key promoted since we loaded ours?
                plain = fernet.decrypt(raw)
            payload = json.loads(plain)
        except (InvalidToken, ValueError, TypeError):
            raise TokenNotValid() from None
        if not isinstance(payload, list) or (payload[:1], len(payload)) not in (([1], 8), ([2], 9)):
            raise TokenNotValid()
        if len(payload) == 8:  # version 1, issued before domain scope existed: never domain-scoped
            payload.append(None)
        _, user_id, methods, project_id, expires, audit_ids, app_cred, issued_us, domain_id = payload
        token = Token(user_id=user_id, methods=tuple(methods), project_id=project_id, domain_id=domain_id,
                      expires_at=dt.datetime.fromtimestamp(expires, dt.UTC), audit_ids=tuple(audit_ids),
                      application_credential_id=app_cred,
                      issued_at=dt.datetime.fromtimestamp(issued_us / 1_000_000, dt.UTC))
        if token.expires_at <= (now or dt.datetime.now(dt.UTC)):
            raise TokenExpired()
        return token

    def _keys(self, force: bool = False) -> MultiFernet:
        """The keys, read again when the repository changed (a rotation renames and adds files)."""
        changed = os.stat(self.repository).st_mtime_ns if self.repository.exists() else None
        with self._lock:
            if force or self._fernet is None or changed != self._loaded_at:
                self._fernet = keys.load(self.repository)
                self._loaded_at = changed
            return self._fernet
