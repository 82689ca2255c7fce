"""The one way the `ncloud` command talks to a cloud's APIs: log in (or reuse a cached token),
find endpoints in the catalog, send requests with the microversion the commands are written
for, and turn every failure into a CloudError whose message says what to do.

httpx does the HTTP (one client per command: connections are reused while --wait polls).
Commands never build headers or parse errors themselves.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

import httpx

from ncloud.cli.cloud import tokens
from ncloud.cli.cloud.config import CloudConfig
from ncloud.cli.cloud.errors import APIError, AuthError, CloudError, NotFound, Unreachable

# The Compute API microversion the commands are written against (--os-compute-api-version or
# compute_api_version in clouds.yaml choose another).
COMPUTE_MICROVERSION = "2.96"
USER_AGENT = "ncloud-cli"
SECRET_HEADERS = ("x-auth-token", "x-subject-token")


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def error_message(response: httpx.Response) -> str:
    """The API's own words: Nova's {"itemNotFound": {"message": ...}}, Keystone's {"error":
    {"message": ...}}, Glance's plain text, whichever the body holds."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:500] or response.reason_phrase
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if body.get("message"):
            return str(body["message"])
    return str(body)[:500]


def request_id(response: httpx.Response) -> str | None:
    return response.headers.get("x-openstack-request-id") or response.headers.get("x-compute-request-id")


class _TLSOnFirstUse(httpx.BaseTransport):
    """The https transport, made on the first https request: httpx reads and parses the CA bundle
    when a client is made (a fifth of a command's start), and a cloud on http never needs it."""

    def __init__(self, verify: bool | str):
        self.verify = verify
        self.transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.transport is None:
            self.transport = httpx.HTTPTransport(verify=self.verify)
        return self.transport.handle_request(request)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _proxied() -> bool:
    """Whether proxy variables apply (httpx then mounts its proxy transports, which we keep)."""
    import os

    return any(os.environ.get(name) for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                                 "http_proxy", "HTTP_PROXY"))


class Session:
    """A logged-in client of one cloud."""

    def __init__(self, config: CloudConfig, debug: bool = False, timeout: float = 60.0, cache: bool = True):
        self.config = config
        self.debug = debug
        self.compute_microversion = config.compute_api_version or COMPUTE_MICROVERSION
        self.cache_key = tokens.cache_key(config.name, config.auth_type, config.auth) if cache else None
        hooks = {"request": [self._log_request], "response": [self._log_response]} if debug else {}
        timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))  # a TLS handshake is part of connecting
        if _proxied():
            self.client = httpx.Client(timeout=timeout, verify=config.verify, headers={"User-Agent": USER_AGENT},
                                       event_hooks=hooks)
        else:
            self.client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, event_hooks=hooks,
                                       transport=httpx.HTTPTransport(verify=False),  # plain http only
                                       mounts={"https://": _TLSOnFirstUse(config.verify)})
        self._login: dict | None = None

    @classmethod
    def with_token(cls, token: str, endpoints: dict[str, str], timeout: float = 60.0) -> Session:
        """A session that never logs in: this token, these endpoints (service type -> URL). For
        clouds under the noauth2 development strategy, whose APIs trust `admin:admin`."""
        config = CloudConfig(name="token", auth_type="token", auth={"auth_url": "", "token": token},
                             interface="public", source="a fixed token")
        session = cls(config, timeout=timeout, cache=False)
        session._login = {"token": token, "expires_at": float("inf"), "user_id": None, "project_id": None,
                          "catalog": [{"type": kind, "endpoints": [{"interface": "public", "url": url}]}
                                      for kind, url in endpoints.items()]}
        return session

    # -- login ------------------------------------------------------------------------------

    @property
    def login_data(self) -> dict:
        if self._login is None:
            cached = tokens.load(self.cache_key) if self.cache_key else None
            self._login = cached or self._authenticate()
        return self._login

    @property
    def token(self) -> str:
        return self.login_data["token"]

    @property
    def project_id(self) -> str | None:
        return self.login_data.get("project_id")

    @property
    def user_id(self) -> str | None:
        return self.login_data.get("user_id")

    def _auth_body(self) -> dict:
        auth, kind = self.config.auth, self.config.auth_type
        if kind == "token":
            identity = {"methods": ["token"], "token": {"id": auth["token"]}}
        elif kind == "v3applicationcredential":
            credential = {"secret": auth["application_credential_secret"]}
            if auth.get("application_credential_id"):
                credential["id"] = auth["application_credential_id"]
            else:
                credential["name"] = auth["application_credential_name"]
                credential["user"] = self._user(auth)
            return {"auth": {"identity": {"methods": ["application_credential"],
                                          "application_credential": credential}}}
        else:
            identity = {"methods": ["password"], "password": {"user": {**self._user(auth),
                                                                       "password": auth["password"]}}}
        body = {"identity": identity}
        scope = self._scope(auth)
        if scope:
            body["scope"] = scope
        return {"auth": body}

    @staticmethod
    def _domain(auth: dict, prefix: str) -> dict:
        if auth.get(f"{prefix}domain_id"):
            return {"id": auth[f"{prefix}domain_id"]}
        return {"name": auth.get(f"{prefix}domain_name") or "Default"}

    def _user(self, auth: dict) -> dict:
        if auth.get("user_id"):
            return {"id": auth["user_id"]}
        return {"name": auth["username"], "domain": self._domain(auth, "user_")}

    def _scope(self, auth: dict) -> dict | None:
        if auth.get("project_id"):
            return {"project": {"id": auth["project_id"]}}
        if auth.get("project_name"):
            return {"project": {"name": auth["project_name"], "domain": self._domain(auth, "project_")}}
        if auth.get("domain_id"):
            return {"domain": {"id": auth["domain_id"]}}
        if auth.get("domain_name"):
            return {"domain": {"name": auth["domain_name"]}}
        return None

    def identity_url(self) -> str:
        url = self.config.auth_url.rstrip("/")
        return url if url.endswith("/v3") else f"{url}/v3"

    def _authenticate(self) -> dict:
        url = f"{self.identity_url()}/auth/tokens"
        response = self._send("POST", url, json=self._auth_body())
        if response.status_code in (401, 403):
            raise AuthError(response.status_code, f"the login was refused: {error_message(response)} (check the "
                            f"credentials of {self.config.source})", request_id(response), "POST", url)
        if response.status_code != 201:
            raise self._error(response)
        body = response.json()["token"]
        login = {"token": response.headers["X-Subject-Token"], "expires_at": _parse_time(body["expires_at"]),
                 "catalog": body.get("catalog") or [], "user_id": (body.get("user") or {}).get("id"),
                 "project_id": (body.get("project") or {}).get("id"),
                 "roles": [role["name"] for role in body.get("roles") or []]}
        if self.cache_key:
            tokens.save(self.cache_key, login)
        return login

    def forget_token(self) -> None:
        self._login = None
        if self.cache_key:
            tokens.drop(self.cache_key)

    # -- endpoints and requests ------------------------------------------------------------

    def endpoint(self, service_type: str) -> str:
        region, interface = self.config.region_name, self.config.interface
        for service in self.login_data["catalog"]:
            if service.get("type") != service_type:
                continue
            for endpoint in service.get("endpoints") or []:
                if endpoint.get("interface") == interface and (not region or endpoint.get("region") == region):
                    return endpoint["url"].rstrip("/")
        where = f" in region {region}" if region else ""
        raise CloudError(f"the cloud's catalog has no {interface} {service_type} endpoint{where} "
                         "(check region_name and interface)")

    def url(self, service_type: str, path: str) -> str:
        if service_type == "identity":
            return f"{self.identity_url()}{path}"
        base = self.endpoint(service_type)
        if service_type == "image" and not base.endswith("/v2"):
            base += "/v2"
        return f"{base}{path}"

    def request(self, method: str, service_type: str, path: str, ok: tuple[int, ...] = (200, 201, 202, 204),
                microversion: str | None = None, **kwargs) -> httpx.Response:
        """One call to a service of the catalog. Compute calls carry the microversion; a 401 (the
        token expired or was revoked) logs in again once. Any status outside `ok` raises."""
        headers = dict(kwargs.pop("headers", None) or {})
        if service_type == "compute":
            version = microversion or self.compute_microversion
            headers["OpenStack-API-Version"] = f"compute {version}"
            headers["X-OpenStack-Nova-API-Version"] = version
        elif microversion:
            headers["OpenStack-API-Version"] = f"{service_type} {microversion}"
        url = self.url(service_type, path)
        for attempt in (1, 2):
            response = self._send(method, url, headers={**headers, "X-Auth-Token": self.token}, **kwargs)
            if response.status_code == 401 and attempt == 1 and self.config.auth_type != "token":
                self.forget_token()
                continue
            break
        if response.status_code not in ok:
            raise self._error(response)
        return response

    def get(self, service_type: str, path: str, **kwargs) -> dict:
        return self.request("GET", service_type, path, **kwargs).json()

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        stream = kwargs.pop("stream", False)
        try:
            if stream:
                request = self.client.build_request(method, url, **kwargs)
                return self.client.send(request, stream=True)
            return self.client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f"{method} {url}: no answer in time (is it {url.split(':')[0]}? is the cloud up?)") \
                from None
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            raise Unreachable(f"{url} could not be reached: {reason} (is the cloud up, and is {self.config.source} "
                              "right about its address?)") from None

    @staticmethod
    def _error(response: httpx.Response) -> APIError:
        if response.is_stream_consumed is False:
            response.read()
        kind = NotFound if response.status_code == 404 else APIError
        return kind(response.status_code, error_message(response), request_id(response), response.request.method,
                    str(response.request.url))

    # -- --debug ----------------------------------------------------------------------------

    @staticmethod
    def _masked_headers(headers) -> str:
        return "".join(f"  {name.decode()}: {'***' if name.lower().decode() in SECRET_HEADERS else value.decode()}\n"
                       for name, value in headers.raw)

    def _log_request(self, request: httpx.Request) -> None:
        body = ""
        if request.headers.get("content-type", "").startswith("application/json"):
            body = _mask_secrets(request.content.decode(errors="replace"))
        elif request.headers.get("content-type"):
            body = f"<{request.headers.get('content-type')} body>"
        sys.stderr.write(f"REQ: {request.method} {request.url}\n{self._masked_headers(request.headers)}"
                         + (f"  {body}\n" if body else ""))
        request.extensions["ncloud_started"] = time.monotonic()

    def _log_response(self, response: httpx.Response) -> None:
        started = response.request.extensions.get("ncloud_started", time.monotonic())
        text = ""
        if response.headers.get("content-type", "").startswith("application/json"):
            response.read()
            text = _mask_secrets(response.text)[:4000]
        sys.stderr.write(f"RESP: {response.status_code} {response.reason_phrase} in "
                         f"{(time.monotonic() - started) * 1000:.0f} ms\n{self._masked_headers(response.headers)}"
                         + (f"  {text}\n" if text else ""))

    def close(self) -> None:
        self.client.close()


SECRET_KEYS = {"password", "secret", "adminPass", "admin_pass", "token", "id_token"}


def _mask(value, parent: str = ""):
    if isinstance(value, dict):
        return {key: "***" if (key in SECRET_KEYS and isinstance(item, str)) or (parent == "token" and key == "id")
                else _mask(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, parent) for item in value]
    return value


def _mask_secrets(text: str) -> str:
    """A JSON body for --debug, its passwords, secrets and tokens replaced by ***."""
    import json

    try:
        return json.dumps(_mask(json.loads(text)))
    except ValueError:
        return "<a body that is not JSON>"


def password_session(auth_url: str, user: str, password: str, project: str, cache: bool = False) -> Session:
    """A session of `user` on `project` (domain Default) at the Identity API `auth_url`: for code
    that knows the credentials itself (`ncloud up`, tests, benchmarks) rather than a clouds.yaml."""
    config = CloudConfig(name=f"{user}@{project}", auth_type="password", source=f"user {user} at {auth_url}",
                         auth={"auth_url": auth_url, "username": user, "password": password,
                               "project_name": project})
    return Session(config, cache=cache)


def admin_session(conf) -> Session:
    """The cloud's administrator, logged in, from a daemon's configuration file: what operator
    commands run on a controller use (`ncloud check`, `ncloud host drain`). Under the noauth2
    development strategy the APIs take the trusted token `admin:admin`, as the daemons' own
    clients do (the login still proves Identity works)."""
    from ncloud.daemons.core.identity.bootstrap import base_urls

    identity = conf.identity
    config = CloudConfig(name=f"admin@{conf.default.host}", auth_type="password", auth={
        "auth_url": f"{base_urls(conf)['internal']}/identity/v3", "username": identity.admin_user,
        "password": identity.admin_password, "project_name": identity.admin_project},
        region_name=identity.region_name, interface="internal", source="the configuration file's [identity]")
    session = Session(config, cache=False)
    login = session.login_data
    if conf.api.auth_strategy == "noauth2":
        login["token"] = "admin:admin"
    return session
