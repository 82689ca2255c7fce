"""The stock `openstack` CLI and openstacksdk against ncloud's Identity and Image APIs: the
compatibility that counts.

A real API server (waitress, the whole app, `[api] auth_strategy = keystone`) on a free port,
driven by python-openstackclient as a subprocess and by openstacksdk, unmodified.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openstack
import pytest

from tests.cloud import identity_api

OPENSTACK = str(Path(sys.executable).parent / "openstack")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with identity_api(tmp_path_factory.mktemp("openstack-clients")) as url:
        yield url


def openstack_cli(api: str, *args: str, user: str = "admin", password: str = "adminpw",
                  project: str = "admin") -> subprocess.CompletedProcess:
    """The stock client as `user` (password login, domain Default), with no OS_* of ours leaking in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_AUTH_URL=f"{api}/identity/v3", OS_USERNAME=user, OS_PASSWORD=password,
               OS_PROJECT_NAME=project, OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne", OS_INTERFACE="public")
    return subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120)


def test_token_issue_and_catalog_list(api):
    issued = openstack_cli(api, "token", "issue", "-f", "value", "-c", "id", "-c", "project_id")
    assert issued.returncode == 0, issued.stderr
    token, project_id = issued.stdout.split()
    catalog = openstack_cli(api, "catalog", "list", "-f", "value", "-c", "Type")
    assert catalog.returncode == 0, catalog.stderr
    assert set(catalog.stdout.split()) == {"compute", "image", "identity"}
    shown = openstack_cli(api, "catalog", "show", "compute", "-f", "json")
    endpoints = {(e["interface"], e["region"]): e["url"] for e in json.loads(shown.stdout)["endpoints"]}
    assert endpoints == {(face, "RegionOne"): f"{api}/compute/v2.1" for face in ("public", "internal", "admin")}
    assert httpx.get(f"{api}/compute/v2.1/flavors", headers={"X-Auth-Token": token}).status_code == 200


def test_a_revoked_token_is_refused(api):
    token = openstack_cli(api, "token", "issue", "-f", "value", "-c", "id").stdout.strip()
    assert httpx.get(f"{api}/compute/v2.1/servers", headers={"X-Auth-Token": token}).status_code == 200
    revoked = openstack_cli(api, "token", "revoke", token)
    assert revoked.returncode == 0, revoked.stderr
    refused = httpx.get(f"{api}/compute/v2.1/servers", headers={"X-Auth-Token": token})
    assert refused.status_code == 401 and refused.json()["unauthorized"]["message"] == "The token has been revoked."


def test_a_wrong_password_is_a_clear_401(api):
    result = openstack_cli(api, "flavor", "list", password="wrong")
    assert result.returncode != 0
    assert "The request you have made requires authentication. (HTTP 401)" in result.stderr


def test_openstacksdk_connects_and_lists(api):
    conn = openstack.connect(auth_url=f"{api}/identity/v3", username="admin", password="adminpw",
                             project_name="admin", user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne")
    try:
        assert {flavor.name for flavor in conn.compute.flavors()} == {"m1.tiny", "m1.small", "m1.medium"}
        assert list(conn.compute.servers()) == []
        assert conn.current_project_id == conn.session.get_project_id()
        data = os.urandom(100_000)
        image = conn.image.create_image(name="sdk-image", data=data, disk_format="qcow2", container_format="bare",
                                        validate_checksum=True, wait=True)
        assert conn.image.get_image(image.id).status == "active"
        assert conn.image.download_image(image.id).content == data
        conn.image.delete_image(image.id)
    finally:
        conn.close()


def test_an_admin_creates_a_project_and_a_user_who_then_logs_in(api):
    assert openstack_cli(api, "project", "create", "demo").returncode == 0
    created = openstack_cli(api, "user", "create", "--password", "alicepw", "--project", "demo", "alice",
                            "-f", "value", "-c", "id")
    assert created.returncode == 0, created.stderr
    added = openstack_cli(api, "role", "add", "--project", "demo", "--user", "alice", "member")
    assert added.returncode == 0, added.stderr
    listed = openstack_cli(api, "role", "assignment", "list", "--project", "demo", "--names", "-f", "value",
                           "-c", "Role", "-c", "User", "-c", "Project")
    assert listed.stdout.split() == ["member", "alice@Default", "demo@Default"]

    alice = {"user": "alice", "password": "alicepw", "project": "demo"}
    as_alice = openstack_cli(api, "token", "issue", "-f", "value", "-c", "user_id", **alice)
    assert as_alice.returncode == 0 and as_alice.stdout.strip() == created.stdout.strip(), as_alice.stderr
    refused = openstack_cli(api, "user", "create", "mallory", **alice)
    assert refused.returncode != 0
    assert "You are not authorized to perform the requested action: identity:create_user." in refused.stderr
    assert openstack_cli(api, "project", "create", "demo").returncode != 0  # a duplicate: 409


def test_a_domain_manager_made_with_the_stock_client_runs_their_domain(api):
    assert openstack_cli(api, "domain", "create", "acme").returncode == 0
    assert openstack_cli(api, "user", "create", "--domain", "acme", "--password", "carolpw", "carol").returncode == 0
    added = openstack_cli(api, "role", "add", "--domain", "acme", "--user", "carol", "--user-domain", "acme",
                          "manager")
    assert added.returncode == 0, added.stderr

    def as_carol(*args):
        env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
        env.update(OS_AUTH_URL=f"{api}/identity/v3", OS_USERNAME="carol", OS_PASSWORD="carolpw",
                   OS_USER_DOMAIN_NAME="acme", OS_DOMAIN_NAME="acme", OS_IDENTITY_API_VERSION="3",
                   OS_REGION_NAME="RegionOne", OS_INTERFACE="public")
        return subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120)

    for step in (("project", "create", "--domain", "acme", "web"),
                 ("user", "create", "--domain", "acme", "--password", "davepw", "dave"),
                 ("role", "add", "--project", "web", "--project-domain", "acme", "--user", "dave",
                  "--user-domain", "acme", "member")):
        done = as_carol(*step)
        assert done.returncode == 0, (step, done.stderr)
    listed = as_carol("user", "list", "--domain", "acme", "-f", "value", "-c", "Name")
    assert sorted(listed.stdout.split()) == ["carol", "dave"], listed.stderr
    refused = as_carol("role", "add", "--project", "web", "--project-domain", "acme", "--user", "dave",
                       "--user-domain", "acme", "admin")
    assert refused.returncode != 0  # the client cannot even look the admin role up (403 on it)
    held = openstack_cli(api, "role", "assignment", "list", "--user", "dave", "--user-domain", "acme", "--names",
                         "-f", "value", "-c", "Role")
    assert held.stdout.split() == ["member"], held.stderr
    refused = as_carol("user", "create", "--domain", "Default", "mallory")
    assert refused.returncode != 0 and "No Domain found for Default" in refused.stderr  # not even visible
    assert openstack_cli(api, "user", "show", "mallory").returncode != 0


def test_image_quotas_are_unified_limits_set_with_the_stock_client(api):
    assert openstack_cli(api, "project", "create", "quota-demo").returncode == 0
    registered = openstack_cli(api, "registered", "limit", "create", "--service", "glance", "--default-limit", "7",
                               "image_count_total", "-f", "json")
    assert registered.returncode == 0, registered.stderr
    made = openstack_cli(api, "limit", "create", "--service", "glance", "--project", "quota-demo",
                         "--resource-limit", "0", "image_count_total", "-f", "json")
    assert made.returncode == 0, made.stderr
    listed = openstack_cli(api, "limit", "list", "--project", "quota-demo", "-f", "json")
    assert [(item["Resource Name"], item["Resource Limit"]) for item in json.loads(listed.stdout)] == [
        ("image_count_total", 0)], listed.stderr
    assert openstack_cli(api, "role", "add", "--project", "quota-demo", "--user", "admin", "member").returncode == 0
    refused = openstack_cli(api, "image", "create", "--disk-format", "raw", "--container-format", "bare", "none",
                            project="quota-demo")
    assert refused.returncode != 0 and "image_count_total" in refused.stderr + refused.stdout
    assert openstack_cli(api, "limit", "delete", json.loads(made.stdout)["id"]).returncode == 0
    assert openstack_cli(api, "registered", "limit", "delete", json.loads(registered.stdout)["id"]).returncode == 0


def test_an_application_credential_logs_in_until_it_is_deleted(api):
    created = openstack_cli(api, "application", "credential", "create", "ci-bot", "-f", "json")
    assert created.returncode == 0, created.stderr
    credential = json.loads(created.stdout)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_AUTH_URL=f"{api}/identity/v3", OS_AUTH_TYPE="v3applicationcredential",
               OS_APPLICATION_CREDENTIAL_ID=credential["ID"], OS_APPLICATION_CREDENTIAL_SECRET=credential["Secret"])

    def as_credential(*args):
        return subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120)

    listed = as_credential("flavor", "list", "-f", "value", "-c", "Name")
    assert listed.returncode == 0 and "m1.tiny" in listed.stdout.split(), listed.stderr
    assert "identity:create_application_credential" in as_credential(
        "application", "credential", "create", "another").stderr  # a restricted credential cannot
    assert openstack_cli(api, "application", "credential", "delete", "ci-bot").returncode == 0
    refused = as_credential("flavor", "list")
    assert refused.returncode != 0 and "(HTTP 401)" in refused.stderr


def test_image_create_from_a_file_and_save_it_back_byte_identical(api, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "disk.raw").write_bytes(data)
    created = openstack_cli(api, "image", "create", "--disk-format", "raw", "--container-format", "bare",
                            "--file", str(tmp_path / "disk.raw"), "--property", "os_distro=cirros", "--private",
                            "disk", "-f", "json")
    assert created.returncode == 0, created.stderr
    image = json.loads(created.stdout)
    assert image["status"] == "active" and image["checksum"] == hashlib.md5(data).hexdigest()
    shown = json.loads(openstack_cli(api, "image", "show", "disk", "-f", "json").stdout)
    assert shown["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["properties"]["os_distro"] == "cirros"
    listed = openstack_cli(api, "image", "list", "--private", "-f", "value", "-c", "Name")
    assert listed.stdout.split() == ["disk"], listed.stderr
    public = openstack_cli(api, "image", "list", "--public", "-f", "value", "-c", "Name")
    assert "disk" not in public.stdout.split() and public.stdout.split(), public.stderr  # the demo image is public
    ordered = openstack_cli(api, "image", "list", "--sort", "name:asc", "-f", "value", "-c", "Name")
    assert ordered.stdout.split() == sorted(ordered.stdout.split()), ordered.stderr
    changed = openstack_cli(api, "image", "set", "--property", "hw_disk_bus=virtio", "--min-ram", "64", "disk")
    assert changed.returncode == 0, changed.stderr
    shown = json.loads(openstack_cli(api, "image", "show", "disk", "-f", "json").stdout)
    assert shown["properties"]["hw_disk_bus"] == "virtio" and shown["min_ram"] == 64
    saved = openstack_cli(api, "image", "save", "--file", str(tmp_path / "back.raw"), "disk")
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "back.raw").read_bytes() == data
    assert openstack_cli(api, "image", "delete", "disk").returncode == 0
    assert openstack_cli(api, "image", "show", "disk").returncode != 0


def test_an_image_shared_with_another_project_is_accepted_there(api, tmp_path):
    (tmp_path / "disk.raw").write_bytes(os.urandom(65536))
    assert openstack_cli(api, "project", "create", "share").returncode == 0
    assert openstack_cli(api, "user", "create", "--password", "sampw", "sam").returncode == 0
    assert openstack_cli(api, "role", "add", "--project", "share", "--user", "sam", "member").returncode == 0
    created = openstack_cli(api, "image", "create", "--shared", "--disk-format", "raw", "--container-format",
                            "bare", "--file", str(tmp_path / "disk.raw"), "gift", "-f", "value", "-c", "id")
    assert created.returncode == 0, created.stderr
    image_id = created.stdout.strip()
    added = openstack_cli(api, "image", "add", "project", "gift", "share")
    assert added.returncode == 0, added.stderr

    def as_sam(*args):
        return openstack_cli(api, *args, user="sam", password="sampw", project="share")

    assert image_id not in as_sam("image", "list", "-f", "value", "-c", "ID").stdout  # pending
    accepted = as_sam("image", "set", "--accept", image_id)
    assert accepted.returncode == 0, accepted.stderr
    assert as_sam("image", "list", "--shared", "-f", "value", "-c", "ID").stdout.split() == [image_id]
    assert as_sam("image", "delete", image_id).returncode != 0  # not the owner


def test_an_upload_cut_off_mid_stream_leaves_the_image_queued_without_data(api, tmp_path):
    token = openstack_cli(api, "token", "issue", "-f", "value", "-c", "id").stdout.strip()
    headers = {"X-Auth-Token": token}
    image = httpx.post(f"{api}/image/v2/images", json={"name": "cut", "disk_format": "raw",
                                                       "container_format": "bare"}, headers=headers).json()
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: {host}\r\n"
                      f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: 10000000\r\n\r\n").encode() + os.urandom(1_000_000))
    time.sleep(1)
    shown = httpx.get(f"{api}/image/v2/images/{image['id']}", headers=headers).json()
    assert shown["status"] == "queued" and shown["size"] is None
    assert httpx.get(f"{api}/image/v2/images/{image['id']}/file", headers=headers).status_code == 204
    again = httpx.put(f"{api}/image/v2/images/{image['id']}/file", content=b"x" * 1000,
                      headers={**headers, "Content-Type": "application/octet-stream"})
    assert again.status_code == 204  # nothing half-stored stands in the way
