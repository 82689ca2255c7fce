"""The all-in-one the end-user command tests run against: `ncloud up` as its own process, the
fake driver with two simulated compute hosts (a resize may also stay on its host), and servers
named DOOMED failing to spawn. `user` runs `ncloud` as the demo user configured through clouds.yaml or an openrc
(both, by parametrization); `admin` as the administrator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.test_compute_clients import up

NCLOUD = str(Path(sys.executable).parent / "ncloud")
DOOMED = "doomed"  # the cloud fails every spawn of a server of this name


@pytest.fixture(scope="package")
def cloud(tmp_path_factory):
    with up(tmp_path_factory.mktemp("user-cli"), NCLOUD_DEFAULT__ALLOW_RESIZE_TO_SAME_HOST="true",
            NCLOUD_FAKE__HOSTS="2", NCLOUD_FAKE__FAIL_SPAWN_NAMES=DOOMED) as state:
        yield state


def demo_openrc(cloud: Path) -> dict[str, str]:
    """The demo user's openrc, as OS_* variables, from the clouds.yaml `ncloud up` wrote."""
    auth = yaml.safe_load((cloud / "clouds.yaml").read_text())["clouds"]["ncloud-demo"]["auth"]
    return {"OS_AUTH_URL": auth["auth_url"], "OS_USERNAME": auth["username"], "OS_PASSWORD": auth["password"],
            "OS_PROJECT_NAME": auth["project_name"], "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne"}


def runner(home: Path, **variables: str):
    """`ncloud ARGS` with only these OS_* variables, in a home (and token cache) of its own."""
    home.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), COLUMNS="200", **variables)

    def ncloud(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([NCLOUD, *args], capture_output=True, text=True, env=env, cwd=home, timeout=120)
        if check:
            assert done.returncode == 0, f"ncloud {' '.join(args)}: rc {done.returncode}\n{done.stderr}"
        return done

    ncloud.env, ncloud.home = env, home
    return ncloud


@pytest.fixture(params=["clouds.yaml", "openrc"])
def user(request, cloud, tmp_path):
    """The demo user, configured through clouds.yaml or through an openrc's variables."""
    if request.param == "clouds.yaml":
        return runner(tmp_path, OS_CLIENT_CONFIG_FILE=str(cloud / "clouds.yaml"), OS_CLOUD="ncloud-demo")
    return runner(tmp_path, **demo_openrc(cloud))


@pytest.fixture
def demo(cloud, tmp_path):
    """The demo user through clouds.yaml."""
    return runner(tmp_path, OS_CLIENT_CONFIG_FILE=str(cloud / "clouds.yaml"), OS_CLOUD="ncloud-demo")


@pytest.fixture
def admin(cloud, tmp_path):
    """The cloud's administrator through clouds.yaml (its cloud `ncloud`), in a home of its own."""
    return runner(tmp_path / "admin", OS_CLIENT_CONFIG_FILE=str(cloud / "clouds.yaml"), OS_CLOUD="ncloud")
