"""os-keypairs across microversions: import, generate (before 2.92), list, show, delete, per user."""

from __future__ import annotations

import subprocess

import pytest

from tests.api.conftest import ADMIN, ALICE, BOB
from tests.api.tempest_schemas import conforms


@pytest.fixture(scope="module")
def ed25519(tmp_path_factory) -> tuple[str, str]:
    """A key pair made by ssh-keygen, and the MD5 fingerprint ssh-keygen gives it."""
    path = tmp_path_factory.mktemp("keys") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    printed = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", f"{path}.pub"], check=True,
                             capture_output=True, text=True).stdout
    return (path.with_suffix(".pub").read_text().strip(), printed.split()[1].removeprefix("MD5:"))


def create(api, name, public_key=None, version=None, token=ALICE, **extra):
    keypair = {"name": name, **extra}
    if public_key is not None:
        keypair["public_key"] = public_key
    return api.post("/os-keypairs", json={"keypair": keypair}, version=version, token=token)


def test_import_at_2_1_answers_200_without_type_and_the_fingerprint_ssh_keygen_gives(api, ed25519):
    public_key, fingerprint = ed25519
    response = create(api, "laptop", public_key)
    assert response.status_code == 200
    conforms(response, "2.1", "keypairs", "create_keypair")
    assert response.json["keypair"] == {"name": "laptop", "public_key": public_key, "fingerprint": fingerprint,
                                        "user_id": "alice"}
    listed = api.get("/os-keypairs")
    conforms(listed, "2.1", "keypairs", "list_keypairs")
    shown = api.get("/os-keypairs/laptop")
    conforms(shown, "2.1", "keypairs", "get_keypair")
    deleted = api.delete("/os-keypairs/laptop")
    conforms(deleted, "2.1", "keypairs", "delete_keypair")
    assert api.get("/os-keypairs/laptop").status_code == 404


def test_from_2_2_create_is_201_delete_204_and_bodies_carry_the_type(api, ed25519):
    response = create(api, "laptop", ed25519[0], version="2.2")
    conforms(response, "2.2", "keypairs", "create_keypair")
    assert response.json["keypair"]["type"] == "ssh"
    conforms(api.get("/os-keypairs", version="2.2"), "2.2", "keypairs", "list_keypairs")
    conforms(api.get("/os-keypairs/laptop", version="2.2"), "2.2", "keypairs", "get_keypair")
    conforms(api.delete("/os-keypairs/laptop", version="2.2"), "2.2", "keypairs", "delete_keypair")


@pytest.mark.parametrize("key_type", ["ssh", "x509"])
def test_before_2_92_a_missing_public_key_generates_one_and_returns_the_private_key_once(api, key_type):
    response = create(api, f"gen-{key_type}", version="2.91", type=key_type)
    conforms(response, "2.2", "keypairs", "create_keypair")
    body = response.json["keypair"]
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert body["public_key"].startswith("ssh-rsa " if key_type == "ssh" else "-----BEGIN CERTIFICATE-----")
    assert "private_key" not in api.get(f"/os-keypairs/gen-{key_type}", version="2.91").json["keypair"]


def test_from_2_92_generation_is_refused_and_names_may_hold_at_and_dot(api, ed25519):
    refused = create(api, "gen", version="2.92")
    assert refused.status_code == 400
    assert "public_key" in refused.json["badRequest"]["message"]
    assert create(api, "me@laptop.home", ed25519[0], version="2.91").status_code == 400
    assert create(api, "me@laptop.home", ed25519[0], version="2.92").status_code == 201


@pytest.mark.parametrize("bad", [
    {"keypair": {"name": "", "public_key": "x"}},
    {"keypair": {"name": "a/b"}},
    {"keypair": {"name": "k", "type": "rsa"}},
    {"keypair": {"name": "k", "unknown": 1}},
    {"keypair": {"public_key": "x"}},
    {"name": "k"},
])
def test_bad_bodies_are_400(api, bad):
    response = api.post("/os-keypairs", json=bad, version="2.2")
    assert response.status_code == 400, response.text
    assert "badRequest" in response.json


def test_a_key_that_is_not_a_key_is_400_in_novas_words(api):
    response = create(api, "junk", "ssh-rsa bm90IGEga2V5 me@host", version="2.2")
    assert response.status_code == 400
    assert response.json["badRequest"]["message"] == "Keypair data is invalid: failed to generate fingerprint"


def test_names_are_unique_per_user_not_per_cloud(api, ed25519):
    assert create(api, "k", ed25519[0], version="2.2").status_code == 201
    duplicate = create(api, "k", ed25519[0], version="2.2")
    assert duplicate.status_code == 409
    assert duplicate.json["conflictingRequest"]["message"] == "Key pair 'k' already exists."
    assert create(api, "k", ed25519[0], version="2.2", token=BOB).status_code == 201
    assert [k["keypair"]["name"] for k in api.get("/os-keypairs", token=BOB).json["keypairs"]] == ["k"]


def test_from_2_10_an_admin_manages_another_users_keys_and_a_member_cannot(api, ed25519):
    made = create(api, "for-alice", ed25519[0], version="2.10", token=ADMIN, user_id="alice")
    assert made.status_code == 201 and made.json["keypair"]["user_id"] == "alice"
    assert api.get("/os-keypairs/for-alice", version="2.10").status_code == 200  # alice sees it as hers
    assert api.get("/os-keypairs?user_id=alice", version="2.10", token=ADMIN).json["keypairs"][0]["keypair"][
        "name"] == "for-alice"
    assert api.get("/os-keypairs?user_id=alice", version="2.10", token=BOB).status_code == 403
    assert create(api, "x", ed25519[0], version="2.10", token=BOB, user_id="alice").status_code == 403
    assert api.delete("/os-keypairs/for-alice?user_id=alice", version="2.10", token=BOB).status_code == 403
    assert api.delete("/os-keypairs/for-alice?user_id=alice", version="2.10", token=ADMIN).status_code == 204
    # before 2.10 the parameter means nothing: the admin's own (empty) list
    assert api.get("/os-keypairs?user_id=alice", version="2.9", token=ADMIN).json == {"keypairs": []}


def test_from_2_35_the_list_pages_by_name(api, ed25519):
    for name in ("c", "a", "b", "d"):
        create(api, name, ed25519[0], version="2.35")
    first = api.get("/os-keypairs?limit=2", version="2.35").json
    assert [k["keypair"]["name"] for k in first["keypairs"]] == ["a", "b"]
    assert first["keypairs_links"][0]["href"] == "http://cloud.test:8774/compute/v2.1/os-keypairs?limit=2&marker=b"
    second = api.get("/os-keypairs?limit=2&marker=b", version="2.35").json
    assert [k["keypair"]["name"] for k in second["keypairs"]] == ["c", "d"]
    assert api.get("/os-keypairs?marker=zz", version="2.35").status_code == 400
    assert api.get("/os-keypairs?limit=-1", version="2.35").status_code == 400
    # before 2.35 everything, unpaged
    assert len(api.get("/os-keypairs?limit=2", version="2.34").json["keypairs"]) == 4
