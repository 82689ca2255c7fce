"""Response bodies checked against tempest's schemas: OpenStack's own statement of every body per microversion.

`conforms(response, "2.47", "servers", "get_server")` checks the status code and body of a
response exactly as tempest checks Nova's (tempest.lib.common.rest_client), with the
schema tempest applies at that microversion: the newest `v2_N` module of that resource at or below it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import tempest.lib.api_schema.response.compute as compute_schemas
from tempest.lib.common.rest_client import RestClient

# Directories, not pkgutil's packages: some (v2_84) have no __init__.py and are namespace packages.
_VERSIONS = sorted(int(path.name.split("_")[1]) for base in compute_schemas.__path__ for path in Path(base).iterdir()
                   if path.is_dir() and path.name.startswith("v2_"))


def schema(version: str, resource: str, name: str) -> dict:
    minor = int(version.split(".")[1])
    for candidate in reversed([v for v in _VERSIONS if v <= minor]):
        try:
            module = importlib.import_module(f"{compute_schemas.__name__}.v2_{candidate}.{resource}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(f"tempest has no {resource}.{name} schema at or below {version}")


class _Response(dict):
    """What tempest validates: the headers (lower-case names) with the status beside them."""

    def __init__(self, response):
        super().__init__((name.lower(), value) for name, value in response.headers.items())
        self.status = response.status_code


def conforms(response, version: str, resource: str, name: str) -> bool:
    """Raises (tempest's exception, naming the mismatch) unless it conforms; True otherwise. The
    response is falcon's test client's or httpx's."""
    body = None
    if response.text:
        body = response.json() if callable(response.json) else response.json
    RestClient.validate_response(schema(version, resource, name), _Response(response), body)
    return True
