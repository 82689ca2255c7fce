"""The token cache: one file per cloud and credentials under the user's cache folder (mode 0600
in a 0700 folder), reused until shortly before the token expires, so a command costs one API
call, not a login and a call.

A file is named by the cloud and a SHA-256 of every credential element, the secret included (as
keystoneauth's cache ids are): a changed or wrong password never finds an old token. The folder
and files are the user's alone, like the token inside.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path

REFRESH_MARGIN = 300.0  # seconds before expiry when a cached token is no longer used


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ncloud" / "tokens"


def cache_key(cloud: str, auth_type: str, auth: dict) -> str:
    elements = json.dumps([auth_type, sorted(auth.items())], default=str)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", cloud)[:40] or "cloud"
    return f"{safe}-{hashlib.sha256(elements.encode()).hexdigest()[:32]}"


def load(key: str, now: float | None = None) -> dict | None:
    """The cached login (token, expiry, catalog, ...) when it is still good for a while."""
    try:
        data = json.loads((cache_dir() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or float(data.get("expires_at", 0)) - REFRESH_MARGIN <= (now or time.time()):
        return None
    return data


def save(key: str, data: dict) -> None:
    """Write atomically, never readable by others (a failure to cache is not an error)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        partial = folder / f".{key}.{os.getpid()}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        partial.replace(folder / f"{key}.json")
    except OSError:
        pass


def drop(key: str) -> None:
    with contextlib.suppress(OSError):
        (cache_dir() / f"{key}.json").unlink()
