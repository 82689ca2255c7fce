"""Compute API microversions: which one a request asked for, and the range ncloud serves.

A client names a version with `OpenStack-API-Version: compute 2.N` (or Nova's older
`X-OpenStack-Nova-API-Version: 2.N`; the standard header wins when both are sent), `latest`
meaning the newest. No header means 2.1, so clients written before microversions keep the
bodies they were written for. Handlers compare `req.context.version` with a tuple:
`if version >= (2, 47): ...`; every such change is listed in docs/compute-api.md.

Parsing is Nova's: the microversion-parse library does the same in a few lines but pulls in
WebOb for a middleware we do not use.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import falcon

from ncloud.daemons.api.errors import Fault

STANDARD_HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
SERVICE_TYPE = "compute"
VARY = f"{STANDARD_HEADER}, {LEGACY_HEADER}"
_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class APIVersion(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        match = _FORMAT.match(text.strip())
        if match is None:
            raise Fault(400, f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.")
        return cls(int(match.group(1)), int(match.group(2)))


MIN_VERSION = APIVersion(2, 1)
MAX_VERSION = APIVersion(2, 100)
DEFAULT_VERSION = MIN_VERSION


def requested(req: falcon.Request) -> str | None:
    """The version string the client asked for, or None."""
    standard = req.get_header(STANDARD_HEADER)
    if standard:
        # "compute 2.5, image 2.3": the last value for our service type counts, as in Nova.
        for value in reversed(standard.split(",")):
            service, _, version = value.strip().partition(" ")
            if service.lower() == SERVICE_TYPE and version.strip():
                return version.strip()
    legacy = req.get_header(LEGACY_HEADER)
    if legacy:
        return legacy.split(",")[-1].strip()
    return None


def negotiate(req: falcon.Request) -> APIVersion:
    """The version this request is served at: 400 for a malformed one, 406 for one out of range."""
    text = requested(req)
    if text is None:
        return DEFAULT_VERSION
    if text == "latest":  # exactly: Nova answers "LATEST" with the 400 of a malformed version
        return MAX_VERSION
    version = APIVersion.parse(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise Fault(406, f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and maximum "
                         f"is {MAX_VERSION}.")
    return version


def announce(resp: falcon.Response, version: APIVersion) -> None:
    """Say which version served the response, and that the response depends on the headers."""
    resp.set_header(STANDARD_HEADER, f"{SERVICE_TYPE} {version}")
    resp.set_header(LEGACY_HEADER, str(version))
    resp.append_header("Vary", VARY)
