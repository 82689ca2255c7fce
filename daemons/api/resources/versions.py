"""Version documents: how clients (keystoneauth, openstacksdk) discover what this API speaks.

`GET /compute/` lists v2.0 (Nova's API before microversions, served at `/compute/v2/` by the
v2.1 code at 2.1) and v2.1 with its microversion range. The documents are public: clients read
them before they authenticate.
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api.microversion import MAX_VERSION, MIN_VERSION
from ncloud.daemons.api.views import Urls

# The dates Nova gives its two versions; clients only show them.
UPDATED_V2 = "2011-01-21T11:33:21Z"
UPDATED_V21 = "2013-07-23T11:33:21Z"


def _v2(urls: Urls) -> dict:
    return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": UPDATED_V2,
            "links": [{"rel": "self", "href": f"{urls.unversioned}/v2/"}]}


def _v21(urls: Urls) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION), "min_version": str(MIN_VERSION),
            "updated": UPDATED_V21, "links": [{"rel": "self", "href": f"{urls.versioned}/"}]}


def _document(version: dict, media_version: str) -> dict:
    """A version's own document: its list entry plus documentation link and media type."""
    version["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
    version["media-types"] = [{"base": "application/json",
                               "type": f"application/vnd.openstack.compute+json;version={media_version}"}]
    return {"version": version}


class _Document:
    def __init__(self, public_endpoint: str):
        self.public_endpoint = public_endpoint

    def urls(self, req: falcon.Request) -> Urls:
        return Urls.for_request(req, self.public_endpoint)


class Versions(_Document):
    """GET /compute/ : every API version, v2.0 first as in Nova."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        urls = self.urls(req)
        resp.media = {"versions": [_v2(urls), _v21(urls)]}


class Version(_Document):
    """GET /compute/v2.1/"""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = _document(_v21(self.urls(req)), "2.1")


class LegacyVersion(_Document):
    """GET /compute/v2/"""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = _document(_v2(self.urls(req)), "2")
