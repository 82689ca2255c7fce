"""How the `ncloud` command reaches a cloud's APIs: clouds.yaml (or OS_* variables), a token,
and the endpoints of its catalog. One place for authentication; commands stay thin."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

SEARCH_PATH = (Path("clouds.yaml"), Path("~/.config/openstack/clouds.yaml"), Path("/etc/openstack/clouds.yaml"))


class ClientError(Exception):
    """The cloud could not be reached or refused; the message says what to do."""


def _clouds_file() -> Path | None:
    configured = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if configured:
        return Path(configured).expanduser()
    return next((path.expanduser() for path in SEARCH_PATH if path.expanduser().exists()), None)


def _auth_from(cloud: str) -> tuple[dict, str, str]:
    """(auth, region, interface) of a clouds.yaml cloud, or of the OS_* variables without one."""
    if cloud:
        import yaml

        path = _clouds_file()
        if path is None or not path.exists():
            raise ClientError(f"cloud {cloud!r} asked for, but no clouds.yaml was found (set OS_CLIENT_CONFIG_FILE)")
        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
        if cloud not in clouds:
            raise ClientError(f"{path} has no cloud {cloud!r} (it has: {', '.join(clouds) or 'none'})")
        entry = clouds[cloud]
        return entry.get("auth") or {}, entry.get("region_name", ""), entry.get("interface", "public")
    env = os.environ
    auth = {"auth_url": env.get("OS_AUTH_URL"), "username": env.get("OS_USERNAME"),
            "password": env.get("OS_PASSWORD"), "project_name": env.get("OS_PROJECT_NAME"),
            "user_domain_name": env.get("OS_USER_DOMAIN_NAME", "Default"),
            "project_domain_name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")}
    if not auth["auth_url"]:
        raise ClientError("no cloud given: use --os-cloud (clouds.yaml) or source an openrc (OS_AUTH_URL, ...)")
    return auth, env.get("OS_REGION_NAME", ""), env.get("OS_INTERFACE", "public")


@dataclass
class Session:
    token: str
    catalog: list[dict]
    region: str = ""
    interface: str = "public"

    @classmethod
    def from_cloud(cls, cloud: str = "") -> Session:
        auth, region, interface = _auth_from(cloud)
        url = str(auth.get("auth_url") or "").rstrip("/")
        if not url.endswith("/v3"):
            url += "/v3"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth.get("username"), "password": auth.get("password"),
            "domain": {"name": auth.get("user_domain_name", "Default")}}}},
            "scope": {"project": {"name": auth.get("project_name"),
                                  "domain": {"name": auth.get("project_domain_name", "Default")}}}}}
        try:
            response = httpx.post(f"{url}/auth/tokens", json=body, timeout=30)
        except httpx.HTTPError as error:
            raise ClientError(f"the Identity API at {url} could not be reached: {error}") from None
        if response.status_code != 201:
            raise ClientError(f"the Identity API at {url} refused the login ({response.status_code}): "
                              f"{response.text[:200]}")
        return cls(response.headers["X-Subject-Token"], response.json()["token"].get("catalog") or [], region,
                   interface)

    def endpoint(self, service_type: str) -> str:
        for service in self.catalog:
            if service.get("type") != service_type:
                continue
            for endpoint in service.get("endpoints") or []:
                if endpoint.get("interface") == self.interface and (
                        not self.region or endpoint.get("region") == self.region):
                    return endpoint["url"]
        raise ClientError(f"the catalog has no {self.interface} {service_type} endpoint")
