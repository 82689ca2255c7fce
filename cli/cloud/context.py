"""The cloud of this invocation: the global --os-* options the root command took, and the
session built from them on first use (commands that never call the API never log in)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Globals:
    cloud: str | None = None
    options: dict = field(default_factory=dict)  # the --os-* options given, as clouds.yaml keys
    debug: bool = False
    timeout: float = 60.0


GLOBALS = Globals()
_session = None


def connect(prompt: bool = True):
    """The session of this invocation, logged in lazily (a cached token costs no request).
    `prompt`: ask for a missing password on a terminal (never while completing a word)."""
    global _session
    if _session is None:
        from ncloud.cli.cloud.config import resolve
        from ncloud.cli.cloud.session import Session

        _session = Session(resolve(GLOBALS.cloud, GLOBALS.options, prompt=prompt), debug=GLOBALS.debug,
                           timeout=GLOBALS.timeout)
    return _session

