"""Which cloud a command talks to, and as whom: clouds.yaml, OS_* variables and --os-* options.

The ecosystem's rules, so that an openrc or a clouds.yaml made for the `openstack` client works
unchanged:
- clouds.yaml is the first of $OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
  ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; a secure.yaml found the same way
  (beside it) adds the secrets, cloud by cloud;
- the cloud is named by --os-cloud, else $OS_CLOUD; without one, the OS_* variables alone
  describe it (an openrc file);
- precedence, lowest first: the named cloud of clouds.yaml, then the OS_* variables, then the
  --os-* options (as the `openstack` client, whose options default to the variables).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ncloud.cli.cloud.errors import ConfigError

# OS_* variable -> where it goes: "auth.KEY" inside the auth section, else a top-level key.
ENVIRONMENT = {
    "OS_AUTH_URL": "auth.auth_url", "OS_USERNAME": "auth.username", "OS_USER_ID": "auth.user_id",
    "OS_PASSWORD": "auth.password", "OS_PROJECT_NAME": "auth.project_name", "OS_TENANT_NAME": "auth.project_name",
    "OS_PROJECT_ID": "auth.project_id", "OS_TENANT_ID": "auth.project_id",
    "OS_USER_DOMAIN_NAME": "auth.user_domain_name", "OS_USER_DOMAIN_ID": "auth.user_domain_id",
    "OS_PROJECT_DOMAIN_NAME": "auth.project_domain_name", "OS_PROJECT_DOMAIN_ID": "auth.project_domain_id",
    "OS_DOMAIN_NAME": "auth.domain_name", "OS_DOMAIN_ID": "auth.domain_id", "OS_TOKEN": "auth.token",
    "OS_APPLICATION_CREDENTIAL_ID": "auth.application_credential_id",
    "OS_APPLICATION_CREDENTIAL_NAME": "auth.application_credential_name",
    "OS_APPLICATION_CREDENTIAL_SECRET": "auth.application_credential_secret",
    "OS_AUTH_TYPE": "auth_type", "OS_REGION_NAME": "region_name", "OS_INTERFACE": "interface",
    "OS_ENDPOINT_TYPE": "interface", "OS_CACERT": "cacert", "OS_INSECURE": "insecure",
    "OS_COMPUTE_API_VERSION": "compute_api_version",
}
AUTH_TYPES = {"password": "password", "v3password": "password", "token": "token", "v3token": "token",
              "v3applicationcredential": "v3applicationcredential"}
SEARCH_DIRS = (Path.cwd, lambda: Path.home() / ".config" / "openstack", lambda: Path("/etc/openstack"))


@dataclass(frozen=True)
class CloudConfig:
    """A resolved cloud: where its Identity API is, the credentials, and the client's settings."""

    name: str  # the clouds.yaml name, or "envvars" for an openrc
    auth_type: str  # password | token | v3applicationcredential
    auth: dict = field(repr=False)
    region_name: str = ""
    interface: str = "public"
    verify: bool | str = True  # False (insecure) or a CA bundle's path
    compute_api_version: str | None = None
    source: str = ""  # where it was read, for error messages

    @property
    def auth_url(self) -> str:
        return self.auth["auth_url"]


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _find(filename: str, environ) -> Path | None:
    configured = environ.get("OS_CLIENT_CONFIG_FILE") if filename == "clouds.yaml" else None
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigError(f"OS_CLIENT_CONFIG_FILE names {path}, which does not exist")
        return path
    for folder in SEARCH_DIRS:
        candidate = folder() / filename
        if candidate.is_file():
            return candidate
    return None


def _load_yaml(path: Path) -> dict:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("clouds", {}), dict):
        raise ConfigError(f"{path} is not a clouds.yaml file (it needs a `clouds:` mapping)")
    return loaded.get("clouds") or {}


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _named_cloud(name: str, environ) -> tuple[dict, str]:
    path = _find("clouds.yaml", environ)
    if path is None:
        raise ConfigError(f"cloud {name!r} was asked for, but there is no clouds.yaml (looked in ./, "
                          "~/.config/openstack/, /etc/openstack/; OS_CLIENT_CONFIG_FILE names another)")
    clouds = _load_yaml(path)
    if name not in clouds:
        raise ConfigError(f"{path} has no cloud {name!r}; it has: {', '.join(sorted(clouds)) or 'none'}")
    entry = clouds[name] or {}
    secure = _find("secure.yaml", environ)
    if secure is not None:
        entry = _merge(entry, _load_yaml(secure).get(name) or {})
    return entry, f"cloud {name!r} of {path}"


def _from_environment(environ) -> dict:
    found: dict = {}
    for variable, key in ENVIRONMENT.items():
        value = environ.get(variable)
        if not value:
            continue
        if key.startswith("auth."):
            found.setdefault("auth", {})[key[5:]] = value
        else:
            found[key] = value
    return found


def resolve(cloud: str | None = None, options: dict | None = None, environ=None, prompt: bool = True) -> CloudConfig:
    """The cloud a command uses. `options`: the --os-* options given (same keys as clouds.yaml,
    auth keys under "auth"), the strongest source. `prompt`: ask for a missing password on a
    terminal."""
    environ = os.environ if environ is None else environ
    name = cloud or environ.get("OS_CLOUD") or ""
    entry, source = _named_cloud(name, environ) if name else ({}, "the OS_* variables")
    entry = _merge(_merge(entry, _from_environment(environ)), options or {})
    auth = {key: value for key, value in (entry.get("auth") or {}).items() if value not in (None, "")}
    if not auth.get("auth_url"):
        raise ConfigError("no cloud given: name one of clouds.yaml with --os-cloud or OS_CLOUD, or source an openrc "
                          "file (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...)")
    auth_type = str(entry.get("auth_type") or ("token" if auth.get("token") else "password"))
    if auth_type not in AUTH_TYPES:
        raise ConfigError(f"{source}: auth_type {auth_type!r} is not supported (use one of "
                          f"{', '.join(sorted(AUTH_TYPES))})")
    auth_type = AUTH_TYPES[auth_type]
    if auth_type == "password" and not auth.get("password") and prompt and sys.stdin.isatty():
        import getpass

        auth["password"] = getpass.getpass(f"Password for {auth.get('username') or auth.get('user_id')} "
                                           f"({source}): ")
    missing = _missing(auth_type, auth)
    if missing:
        raise ConfigError(f"{source} lacks {missing} (in clouds.yaml's auth section, or as an OS_* variable)")
    verify: bool | str = True
    if _truthy(entry.get("insecure", False)) or entry.get("verify") is False:
        verify = False
    elif entry.get("cacert"):
        verify = str(Path(str(entry["cacert"])).expanduser())
    interface = str(entry.get("interface") or "public").removesuffix("URL")
    return CloudConfig(name=name or "envvars", auth_type=auth_type, auth=auth,
                       region_name=str(entry.get("region_name") or ""), interface=interface, verify=verify,
                       compute_api_version=entry.get("compute_api_version"), source=source)


def _missing(auth_type: str, auth: dict) -> str:
    if auth_type == "token":
        return "" if auth.get("token") else "a token (token, OS_TOKEN)"
    if auth_type == "v3applicationcredential":
        if not auth.get("application_credential_secret"):
            return "the application credential's secret (application_credential_secret)"
        if auth.get("application_credential_id") or (auth.get("application_credential_name") and (
                auth.get("user_id") or auth.get("username"))):
            return ""
        return "the application credential's id (or its name and the user's)"
    if not (auth.get("username") or auth.get("user_id")):
        return "a user name (username, OS_USERNAME)"
    if not auth.get("password"):
        return "a password (password, OS_PASSWORD)"
    return ""
