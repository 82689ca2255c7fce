"""The wheel the hosts install (built as `ncloud deploy` builds it) holds all of ncloud: every
module of the checkout, the daemons' templates, the playbooks and the roles."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ncloud.cli.deploy import content, wheelhouse

ROOT = content.source_checkout()


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    target = tmp_path_factory.mktemp("wheel")
    wheelhouse._pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(target), str(ROOT))
    (wheel,) = target.glob("ncloud-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _expected(folder: str, package: str, patterns: tuple[str, ...]) -> set[str]:
    found = set()
    for pattern in patterns:
        for path in (ROOT / folder).rglob(pattern):
            if "__pycache__" not in path.parts and path.is_file():
                found.add(f"ncloud/{package}/{path.relative_to(ROOT / folder).as_posix()}")
    return found


def test_every_module_of_the_checkout_is_in_the_wheel(wheel_names):
    expected = _expected("cli", "cli", ("*.py",)) | _expected("daemons", "daemons", ("*.py", "*.j2", "*.ini", "*.mako"))
    assert expected - wheel_names == set()


def test_the_ansible_content_is_in_the_wheel(wheel_names):
    expected = (_expected("playbooks", "playbooks", ("*.yml", "*.j2", "ansible.cfg"))
                | _expected("roles", "roles", ("*.yml", "*.j2", "*.md")))
    assert expected - wheel_names == set()
    assert "ncloud/roles/common/tasks/service.yml" in wheel_names


def test_the_wheel_is_reproducible(tmp_path):
    """The same sources give the same bytes, so a re-deploy copies nothing and restarts nothing."""
    digests = []
    for attempt in ("a", "b"):
        wheelhouse._pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / attempt), str(ROOT))
        (wheel,) = (tmp_path / attempt).glob("ncloud-*.whl")
        digests.append(wheel.read_bytes())
    assert digests[0] == digests[1]


def test_content_is_found_beside_the_cli():
    assert content.playbook("deploy").is_file()
    assert (content.roles_dir() / "common" / "meta" / "argument_specs.yml").is_file()
    assert Path(content.playbooks_dir() / "ansible.cfg").is_file()
