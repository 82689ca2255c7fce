"""Which cloud `ncloud` talks to, and as whom: clouds.yaml, secure.yaml, OS_* and --os-*, in the
`openstack` client's order of precedence."""

from __future__ import annotations

import pytest
import yaml

from ncloud.cli.cloud.config import resolve
from ncloud.cli.cloud.errors import ConfigError


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    """A clouds.yaml in the current folder (the first place searched) and a home without one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {
        "work": {"auth": {"auth_url": "https://work.example/identity/v3", "username": "ann", "password": "from-file",
                          "project_name": "web", "user_domain_name": "Default", "project_domain_name": "Default"},
                 "region_name": "North", "interface": "internal"},
        "other": {"auth": {"auth_url": "https://other.example:5000", "username": "bob", "project_name": "p"}}}}))
    return path


def test_a_named_cloud_comes_from_clouds_yaml(clouds):
    cloud = resolve("work", environ={})
    assert (cloud.name, cloud.auth_url, cloud.region_name, cloud.interface) == (
        "work", "https://work.example/identity/v3", "North", "internal")
    assert cloud.auth["password"] == "from-file" and cloud.auth_type == "password"
    assert cloud.source == f"cloud 'work' of {clouds}"


def test_os_cloud_names_it_too(clouds):
    assert resolve(None, environ={"OS_CLOUD": "work"}).name == "work"


def test_variables_override_the_file_and_options_override_both(clouds):
    environ = {"OS_CLOUD": "work", "OS_PASSWORD": "from-env", "OS_REGION_NAME": "South"}
    assert resolve(None, environ=environ).auth["password"] == "from-env"
    assert resolve(None, environ=environ).region_name == "South"
    given = resolve(None, {"auth": {"password": "from-option"}, "region_name": "East"}, environ=environ)
    assert (given.auth["password"], given.region_name) == ("from-option", "East")


def test_secure_yaml_adds_the_secrets(clouds):
    (clouds.parent / "secure.yaml").write_text(yaml.safe_dump({"clouds": {"other": {"auth": {"password": "s3"}}}}))
    cloud = resolve("other", environ={})
    assert (cloud.auth["username"], cloud.auth["password"]) == ("bob", "s3")


def test_os_client_config_file_points_elsewhere(clouds, tmp_path):
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(yaml.safe_dump({"clouds": {"x": {"auth": {"auth_url": "http://x", "token": "t"}}}}))
    cloud = resolve("x", environ={"OS_CLIENT_CONFIG_FILE": str(elsewhere)})
    assert (cloud.auth_type, cloud.auth["token"]) == ("token", "t")
    with pytest.raises(ConfigError, match="OS_CLIENT_CONFIG_FILE names .*missing.yaml, which does not exist"):
        resolve("x", environ={"OS_CLIENT_CONFIG_FILE": str(tmp_path / "missing.yaml")})


def test_an_openrc_alone_describes_a_cloud(clouds):
    cloud = resolve(None, environ={"OS_AUTH_URL": "http://c/identity/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                                   "OS_TENANT_NAME": "legacy", "OS_INTERFACE": "adminURL", "OS_INSECURE": "true"})
    assert (cloud.name, cloud.auth["project_name"], cloud.interface, cloud.verify) == ("envvars", "legacy", "admin",
                                                                                      False)
    assert cloud.source == "the OS_* variables"


def test_what_is_missing_is_said(clouds):
    with pytest.raises(ConfigError, match=r"has no cloud 'nope'; it has: other, work"):
        resolve("nope", environ={})
    with pytest.raises(ConfigError, match=r"^no cloud given: name one of clouds.yaml with --os-cloud or OS_CLOUD"):
        resolve(None, environ={})
    with pytest.raises(ConfigError, match=r"cloud 'other' of .* lacks a password \(password, OS_PASSWORD\)"):
        resolve("other", environ={})
    with pytest.raises(ConfigError, match="auth_type 'saml2' is not supported"):
        resolve("work", {"auth_type": "saml2"}, environ={})


def test_an_application_credential_needs_its_secret(clouds):
    environ = {"OS_AUTH_URL": "http://c", "OS_AUTH_TYPE": "v3applicationcredential",
               "OS_APPLICATION_CREDENTIAL_ID": "abc"}
    with pytest.raises(ConfigError, match="lacks the application credential's secret"):
        resolve(None, environ=environ)
    cloud = resolve(None, environ={**environ, "OS_APPLICATION_CREDENTIAL_SECRET": "s"})
    assert cloud.auth_type == "v3applicationcredential"
