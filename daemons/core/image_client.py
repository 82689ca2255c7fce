"""How the compute hosts (and the conductor) reach the Image API: uploads of snapshots, deletes of
images a server no longer needs, and the listing a backup rotation reads.

Over HTTP, as Nova talks to Glance, because the image store lives with the API and a compute host
is another machine. The client authenticates as the cloud's administrator ([identity] admin_user,
a password token from the Identity API, reused until shortly before it expires); under the
noauth2 development strategy it presents the trusted token `admin:admin` instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator

import httpx

from ncloud.daemons.core.config import Config
from ncloud.daemons.core.identity.bootstrap import base_urls

LOG = logging.getLogger(__name__)
TOKEN_MARGIN = 60.0  # seconds before its expiry a token is replaced


class ImageServiceError(Exception):
    """The Image API refused or could not be reached; the message says which and why."""


class ImageClient:
    def __init__(self, conf: Config, timeout: float = 60.0):
        self.conf = conf
        internal = base_urls(conf)["internal"]
        self.endpoint = (conf.image.api_endpoint or f"{internal}/image").rstrip("/")
        self.identity = f"{internal}/identity/v3"
        self.timeout = timeout
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    # -- authentication --------------------------------------------------------------------------
    def _auth_token(self) -> str:
        if self.conf.api.auth_strategy == "noauth2":
            return "admin:admin"
        with self._lock:
            if self._token is None or self._token[1] - TOKEN_MARGIN < time.time():
                self._token = self._issue()
            return self._token[0]

    def _issue(self) -> tuple[str, float]:
        identity = self.conf.identity
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": identity.admin_user, "domain": {"id": "default"}, "password": identity.admin_password}}},
            "scope": {"project": {"name": identity.admin_project, "domain": {"id": "default"}}}}}
        try:
            response = httpx.post(f"{self.identity}/auth/tokens", json=body, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise ImageServiceError(f"the Identity API at {self.identity} could not be reached: {error}") from error
        if response.status_code != 201:
            raise ImageServiceError(f"the Identity API at {self.identity} refused the token request of "
                                    f"{identity.admin_user} ({response.status_code}): {response.text[:200]}")
        expires = response.json()["token"]["expires_at"]
        return response.headers["X-Subject-Token"], _epoch(expires)

    # -- requests --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, what: str, ok: tuple[int, ...], **kwargs) -> httpx.Response:
        headers = {"X-Auth-Token": self._auth_token(), **kwargs.pop("headers", {})}
        try:
            response = httpx.request(method, f"{self.endpoint}{path}", headers=headers, timeout=self.timeout,
                                     **kwargs)
        except httpx.HTTPError as error:
            raise ImageServiceError(f"{what}: the Image API at {self.endpoint} could not be reached: "
                                    f"{error}") from error
        if response.status_code not in ok:
            raise ImageServiceError(f"{what}: the Image API answered {response.status_code}: {response.text[:300]}")
        return response

    def upload(self, image_id: str, data: Iterable[bytes]) -> None:
        """Store the image's data (it must be `queued`); the Image API checksums it and makes it active."""
        self._request("PUT", f"/v2/images/{image_id}/file", f"uploading image {image_id}", (204,),
                      content=data, headers={"Content-Type": "application/octet-stream"})

    def get(self, image_id: str) -> dict:
        """An image's record (status, disk_format, size, os_hash_algo, os_hash_value, ...)."""
        return self._request("GET", f"/v2/images/{image_id}", f"reading image {image_id}", (200,)).json()

    @contextlib.contextmanager
    def download(self, image_id: str) -> Iterator[Iterator[bytes]]:
        """The image's data, streamed in chunks (a compute host fetching it into its image cache)."""
        what = f"downloading image {image_id}"
        request = httpx.Request("GET", f"{self.endpoint}/v2/images/{image_id}/file",
                                headers={"X-Auth-Token": self._auth_token()})
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        response.read()
                        raise ImageServiceError(f"{what}: the Image API answered {response.status_code}: "
                                                f"{response.text[:300]}")
                    yield response.iter_bytes(1024 * 1024)
                finally:
                    response.close()
        except httpx.HTTPError as error:
            raise ImageServiceError(f"{what}: the Image API at {self.endpoint} could not be reached: "
                                    f"{error}") from error

    def delete(self, image_id: str) -> None:
        """Delete an image; one already gone is fine."""
        self._request("DELETE", f"/v2/images/{image_id}", f"deleting image {image_id}", (204, 404))

    def find(self, **properties: str) -> list[dict]:
        """Images whose properties match, newest first (a backup rotation's candidates)."""
        response = self._request("GET", "/v2/images", "listing images", (200,),
                                 params={**properties, "sort": "created_at:desc", "limit": 1000})
        return response.json()["images"]


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
