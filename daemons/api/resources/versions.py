"""Version documents: how clients (keystoneauth, openstacksdk) discover what this API speaks.

Only v2.1 exists and, until microversions land, its newest version is 2.1 itself. Both documents
are public: clients read them before they authenticate.
"""

from __future__ import annotations

import falcon

from ncloud.daemons.api.views import Urls

UPDATED = "2013-07-23T11:33:21Z"  # the date Nova gives v2.1; clients only show it
MIN_VERSION = "2.1"
MAX_VERSION = "2.1"


def _version(urls: Urls) -> dict:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{urls.versioned}/"}],
    }


class Versions:
    """GET /compute/ : every API version (just one)."""

    def __init__(self, public_endpoint: str):
        self.public_endpoint = public_endpoint

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [_version(Urls.for_request(req, self.public_endpoint))]}


class Version:
    """GET /compute/v2.1/ : this version, its media type and documentation link."""

    def __init__(self, public_endpoint: str):
        self.public_endpoint = public_endpoint

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        version = _version(Urls.for_request(req, self.public_endpoint))
        version["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
        version["media-types"] = [{"base": "application/json",
                                   "type": f"application/vnd.openstack.compute+json;version={MAX_VERSION}"}]
        resp.media = {"version": version}
