"""Identity v3: version discovery, tokens (issue, validate, rescope, revoke), catalog, and the
Compute API behind Identity tokens (`[api] auth_strategy = keystone`)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from falcon import testing
from sqlalchemy import select

from ncloud.daemons.api import policy
from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import config, rpc
from ncloud.daemons.core.db.models import Project, Role, RoleAssignment, User
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.identity import passwords
from ncloud.daemons.core.identity.auth import UNAUTHORIZED
from ncloud.daemons.core.identity.tokens import Token, TokenProvider
from tests.cloud import identity_state

V3 = "/identity/v3"
IMAGE = "4070a910-c735-5264-b2b8-917683df8f98"  # any id: the policy refuses before it is looked up


@pytest.fixture
def cloud(tmp_path):
    conf, db = identity_state(tmp_path, NCLOUD_IDENTITY__PUBLIC_URL="http://cloud.example:8774")
    with db.writer() as session:  # alice: member of p1, no default project
        session.add(Project(id="p1id", name="p1", domain_id="default"))
        session.add(User(id="aliceid", name="alice", domain_id="default",
                         password_hash=passwords.hash_secret("alicepw")))
        session.flush()
        member = session.scalar(select(Role.id).where(Role.name == "member"))
        session.add(RoleAssignment(user_id="aliceid", project_id="p1id", role_id=member))
    transport = rpc.Transport("memory://")
    yield testing.TestClient(create_app(conf, db, transport))
    transport.close()
    db.dispose()


def password_auth(user: str, password: str, project: str | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def issue(client, body) -> tuple[str, dict]:
    result = client.simulate_post(f"{V3}/auth/tokens", json=body)
    assert result.status_code == 201, result.json
    return result.headers["X-Subject-Token"], result.json["token"]


def test_version_documents_are_keystones(cloud):
    versions = cloud.simulate_get("/identity")
    assert versions.status_code == 300
    (version,) = versions.json["versions"]["values"]
    assert version["id"].startswith("v3.") and version["status"] == "stable"
    assert version["links"][0]["href"] == "http://falconframework.org/identity/v3/"  # the URL the client used
    assert cloud.simulate_get(V3).json["version"] == version


def test_a_password_token_scoped_to_a_project_carries_roles_and_the_catalog(cloud):
    text, token = issue(cloud, password_auth("admin", "adminpw", "admin"))
    assert token["methods"] == ["password"]
    assert (token["user"]["name"], token["user"]["domain"]) == ("admin", {"id": "default", "name": "Default"})
    assert token["project"]["name"] == "admin" and token["roles"] == [{"id": token["roles"][0]["id"], "name": "admin"}]
    expires = dt.datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    catalog = {entry["type"]: entry for entry in token["catalog"]}
    assert set(catalog) == {"compute", "image", "identity"}
    compute = {endpoint["interface"]: endpoint for endpoint in catalog["compute"]["endpoints"]}
    assert set(compute) == {"public", "internal", "admin"}
    assert compute["public"]["url"] == "http://cloud.example:8774/compute/v2.1"
    assert compute["public"]["region"] == compute["public"]["region_id"] == "RegionOne"
    assert len(text) < 300 and "=" not in text


def test_wrong_password_and_unknown_user_get_the_same_401(cloud):
    wrong = cloud.simulate_post(f"{V3}/auth/tokens", json=password_auth("admin", "nope", "admin"))
    nobody = cloud.simulate_post(f"{V3}/auth/tokens", json=password_auth("nobody", "nope", "admin"))
    no_role = cloud.simulate_post(f"{V3}/auth/tokens", json=password_auth("alice", "alicepw", "admin"))
    expected = {"error": {"code": 401, "message": UNAUTHORIZED, "title": "Unauthorized"}}
    for result in (wrong, nobody, no_role):
        assert (result.status_code, result.json) == (401, expected)
        assert "X-Subject-Token" not in result.headers


@pytest.mark.parametrize("body", [
    {}, {"auth": "x"}, {"auth": {}}, {"auth": {"identity": {"methods": "password"}}},
    {"auth": {"identity": {"methods": ["password"]}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {}}}}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": 7, "password": "x"}}}}},
    {"auth": {**password_auth("admin", "adminpw")["auth"], "scope": {"domain": {"id": "default"}, "project": {}}}},
    {"auth": {**password_auth("admin", "adminpw")["auth"], "scope": {"domain": {"enabled": True}}}},
])
def test_malformed_auth_bodies_are_400_in_keystones_shape(cloud, body):
    result = cloud.simulate_post(f"{V3}/auth/tokens", json=body)
    assert result.status_code == 400, result.json
    assert result.json["error"]["code"] == 400 and result.json["error"]["title"] == "Bad Request"


def test_not_json_is_400(cloud):
    result = cloud.simulate_post(f"{V3}/auth/tokens", body="{nope", headers={"Content-Type": "application/json"})
    assert result.status_code == 400 and "error" in result.json


def test_unscoped_then_rescoped_with_the_token_method(cloud):
    unscoped, body = issue(cloud, password_auth("alice", "alicepw"))
    assert "project" not in body and "catalog" not in body and "roles" not in body
    scoped, rescoped = issue(cloud, {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                                              "scope": {"project": {"id": "p1id"}}}})
    assert rescoped["project"]["id"] == "p1id" and [r["name"] for r in rescoped["roles"]] == ["member"]
    assert rescoped["expires_at"] <= body["expires_at"]
    assert rescoped["audit_ids"][1] == body["audit_ids"][0]  # the audit chain


def test_validate_and_revoke_a_token(cloud):
    admin, _ = issue(cloud, password_auth("admin", "adminpw", "admin"))
    alice, _ = issue(cloud, password_auth("alice", "alicepw", "p1"))
    shown = cloud.simulate_get(f"{V3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": alice})
    assert shown.status_code == 200 and shown.json["token"]["user"]["name"] == "alice"
    assert shown.headers["X-Subject-Token"] == alice
    head = cloud.simulate_head(f"{V3}/auth/tokens", headers={"X-Auth-Token": alice, "X-Subject-Token": alice})
    assert head.status_code == 200
    not_hers = cloud.simulate_get(f"{V3}/auth/tokens", headers={"X-Auth-Token": alice, "X-Subject-Token": admin})
    assert not_hers.status_code == 404

    assert cloud.simulate_get("/compute/v2.1/flavors", headers={"X-Auth-Token": alice}).status_code == 200
    revoked = cloud.simulate_delete(f"{V3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": alice})
    assert revoked.status_code == 204
    gone = cloud.simulate_get(f"{V3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": alice})
    assert (gone.status_code, gone.json["error"]["message"]) == (404, "Could not find token.")
    refused = cloud.simulate_get("/compute/v2.1/flavors", headers={"X-Auth-Token": alice})
    assert refused.status_code == 401 and refused.json["unauthorized"]["code"] == 401  # Nova's shape there


def test_the_compute_api_wants_a_valid_scoped_token(cloud):
    scoped, _ = issue(cloud, password_auth("alice", "alicepw", "p1"))
    unscoped, _ = issue(cloud, password_auth("alice", "alicepw"))
    tampered = scoped[:-8] + ("AAAAAAAA" if not scoped.endswith("AAAAAAAA") else "BBBBBBBB")
    for token in ("", unscoped, tampered, "alice:p1"):
        result = cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": token})
        assert result.status_code == 401, token
    servers = cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": scoped})
    assert servers.status_code == 200 and servers.json == {"servers": []}
    services = cloud.simulate_get("/compute/v2.1/os-services", headers={"X-Auth-Token": scoped})
    assert services.status_code == 403  # a member is not an admin


def test_catalog_and_projects_of_the_caller(cloud):
    alice, _ = issue(cloud, password_auth("alice", "alicepw", "p1"))
    catalog = cloud.simulate_get(f"{V3}/auth/catalog", headers={"X-Auth-Token": alice})
    assert {entry["type"] for entry in catalog.json["catalog"]} == {"compute", "image", "identity"}
    projects = cloud.simulate_get(f"{V3}/auth/projects", headers={"X-Auth-Token": alice})
    assert [(p["id"], p["name"]) for p in projects.json["projects"]] == [("p1id", "p1")]
    assert cloud.simulate_get(f"{V3}/auth/catalog").status_code == 401


# -- administration: domains, projects, users, roles, assignments ---------------------------------

def admin_headers(cloud) -> dict:
    return {"X-Auth-Token": issue(cloud, password_auth("admin", "adminpw", "admin"))[0]}


def test_project_user_and_role_assignment_life_cycle(cloud):
    admin = admin_headers(cloud)
    project = cloud.simulate_post(f"{V3}/projects", json={"project": {"name": "demo", "description": "d"}},
                                  headers=admin)
    assert project.status_code == 201 and project.json["project"]["domain_id"] == "default"
    project_id = project.json["project"]["id"]
    user = cloud.simulate_post(f"{V3}/users", json={"user": {"name": "bob", "password": "bobpw"}}, headers=admin)
    assert user.status_code == 201 and "password" not in user.json["user"]
    user_id = user.json["user"]["id"]
    member = cloud.simulate_get(f"{V3}/roles", params={"name": "member"}, headers=admin).json["roles"][0]["id"]
    grant = f"{V3}/projects/{project_id}/users/{user_id}/roles/{member}"
    assert cloud.simulate_head(grant, headers=admin).status_code == 404
    assert cloud.simulate_put(grant, headers=admin).status_code == 204
    assert cloud.simulate_put(grant, headers=admin).status_code == 204  # granting twice is harmless
    assert cloud.simulate_head(grant, headers=admin).status_code == 204

    bob, body = issue(cloud, password_auth("bob", "bobpw", "demo"))
    assert [role["name"] for role in body["roles"]] == ["member"]
    assert cloud.simulate_get(f"{V3}/users/{user_id}", headers={"X-Auth-Token": bob}).status_code == 200
    assert cloud.simulate_get(f"{V3}/projects/{project_id}", headers={"X-Auth-Token": bob}).status_code == 200

    assert cloud.simulate_delete(grant, headers=admin).status_code == 204
    # bob's token named a project on which he now has no role: refused at once
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": bob}).status_code == 401
    assert cloud.simulate_delete(f"{V3}/users/{user_id}", headers=admin).status_code == 204
    assert cloud.simulate_get(f"{V3}/users/{user_id}", headers=admin).status_code == 404
    assert cloud.simulate_delete(f"{V3}/projects/{project_id}", headers=admin).status_code == 204


def test_members_cannot_administer_identity_or_look_at_others(cloud):
    alice = {"X-Auth-Token": issue(cloud, password_auth("alice", "alicepw", "p1"))[0]}
    admin_id = cloud.simulate_get(f"{V3}/users", params={"name": "admin"}, headers=admin_headers(cloud)).json
    admin_id = admin_id["users"][0]["id"]
    for method, path, body in (
            ("POST", f"{V3}/users", {"user": {"name": "x"}}), ("GET", f"{V3}/users", None),
            ("POST", f"{V3}/projects", {"project": {"name": "x"}}), ("GET", f"{V3}/projects", None),
            ("GET", f"{V3}/users/{admin_id}", None), ("GET", f"{V3}/roles", None),
            ("PATCH", f"{V3}/users/aliceid", {"user": {"enabled": True}}), ("GET", f"{V3}/domains", None)):
        result = cloud.simulate_request(method, path, json=body, headers=alice)
        assert result.status_code == 403, (method, path)
        assert result.json["error"]["message"].startswith("You are not authorized to perform the requested action")
    assert cloud.simulate_get(f"{V3}/users/aliceid", headers=alice).status_code == 200
    assert cloud.simulate_get(f"{V3}/domains/default", headers=alice).status_code == 200


@pytest.mark.parametrize("path, body", [
    ("projects", {"project": {}}), ("projects", {"project": {"name": ""}}), ("projects", {"project": {"name": 7}}),
    ("projects", {"project": {"name": "x" * 65}}), ("projects", {"project": {"name": "x", "domain_id": "nope"}}),
    ("projects", {"projects": {"name": "x"}}), ("users", {"user": {"name": "x", "enabled": "yes"}}),
    ("roles", {"role": {"name": "x", "domain_id": "d"}}), ("users", []),
])
def test_bad_admin_bodies_are_400(cloud, path, body):
    result = cloud.simulate_post(f"{V3}/{path}", json=body, headers=admin_headers(cloud))
    assert result.status_code == 400, result.json
    assert result.json["error"]["title"] == "Bad Request"


def test_duplicates_are_409_and_unknown_ids_404(cloud):
    admin = admin_headers(cloud)
    assert cloud.simulate_post(f"{V3}/projects", json={"project": {"name": "p1"}}, headers=admin).status_code == 409
    assert cloud.simulate_post(f"{V3}/users", json={"user": {"name": "alice"}}, headers=admin).status_code == 409
    assert cloud.simulate_post(f"{V3}/roles", json={"role": {"name": "member"}}, headers=admin).status_code == 409
    assert cloud.simulate_get(f"{V3}/projects/nope", headers=admin).status_code == 404
    assert cloud.simulate_put(f"{V3}/projects/p1id/users/nope/roles/nope", headers=admin).json["error"]["message"] \
        == "Could not find user: nope."


def test_disabling_a_user_or_changing_a_password_ends_their_tokens(cloud):
    admin = admin_headers(cloud)
    alice, _ = issue(cloud, password_auth("alice", "alicepw", "p1"))
    changed = cloud.simulate_post(f"{V3}/users/aliceid/password", headers={"X-Auth-Token": alice},
                                  json={"user": {"password": "newpw", "original_password": "wrong"}})
    assert changed.status_code == 401
    changed = cloud.simulate_post(f"{V3}/users/aliceid/password", headers={"X-Auth-Token": alice},
                                  json={"user": {"password": "newpw", "original_password": "alicepw"}})
    assert changed.status_code == 204
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": alice}).status_code == 401
    assert cloud.simulate_post(f"{V3}/auth/tokens", json=password_auth("alice", "alicepw", "p1")).status_code == 401
    alice, _ = issue(cloud, password_auth("alice", "newpw", "p1"))
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": alice}).status_code == 200
    disabled = cloud.simulate_patch(f"{V3}/users/aliceid", json={"user": {"enabled": False}}, headers=admin)
    assert disabled.status_code == 200 and disabled.json["user"]["enabled"] is False
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": alice}).status_code == 401
    assert cloud.simulate_post(f"{V3}/auth/tokens", json=password_auth("alice", "newpw", "p1")).status_code == 401


# -- application credentials ----------------------------------------------------------------------

def app_cred_auth(**ref) -> dict:
    return {"auth": {"identity": {"methods": ["application_credential"], "application_credential": ref}}}


def test_an_application_credential_delegates_chosen_roles_and_its_secret_is_shown_once(cloud):
    admin = admin_headers(cloud)
    member = cloud.simulate_get(f"{V3}/roles", params={"name": "member"}, headers=admin).json["roles"][0]["id"]
    assert cloud.simulate_put(f"{V3}/projects/p1id/users/aliceid/roles/{member}", headers=admin).status_code == 204
    reader = cloud.simulate_get(f"{V3}/roles", params={"name": "reader"}, headers=admin).json["roles"][0]["id"]
    assert cloud.simulate_put(f"{V3}/projects/p1id/users/aliceid/roles/{reader}", headers=admin).status_code == 204
    alice = {"X-Auth-Token": issue(cloud, password_auth("alice", "alicepw", "p1"))[0]}
    path = f"{V3}/users/aliceid/application_credentials"

    too_much = cloud.simulate_post(path, json={"application_credential": {"name": "x", "roles": [{"name": "admin"}]}},
                                   headers=alice)
    assert too_much.status_code == 404
    created = cloud.simulate_post(path, headers=alice, json={"application_credential": {
        "name": "ci", "roles": [{"name": "reader"}], "expires_at": "2999-01-01T00:00:00Z"}})
    assert created.status_code == 201, created.json
    credential = created.json["application_credential"]
    assert credential["project_id"] == "p1id" and [r["name"] for r in credential["roles"]] == ["reader"]
    assert len(credential["secret"]) > 60
    shown = cloud.simulate_get(f"{path}/{credential['id']}", headers=alice).json["application_credential"]
    assert "secret" not in shown and shown["name"] == "ci"

    text, token = issue(cloud, app_cred_auth(id=credential["id"], secret=credential["secret"]))
    assert [r["name"] for r in token["roles"]] == ["reader"] and token["project"]["id"] == "p1id"
    _, by_name = issue(cloud, app_cred_auth(name="ci", user={"name": "alice", "domain": {"name": "Default"}},
                                            secret=credential["secret"]))
    assert by_name["user"]["id"] == "aliceid"
    wrong = cloud.simulate_post(f"{V3}/auth/tokens", json=app_cred_auth(id=credential["id"], secret="nope"))
    assert wrong.status_code == 401
    scoped = cloud.simulate_post(f"{V3}/auth/tokens", json={"auth": {
        **app_cred_auth(id=credential["id"], secret=credential["secret"])["auth"],
        "scope": {"project": {"id": "p1id"}}}})
    assert scoped.status_code == 401

    assert cloud.simulate_get(path, headers=admin).status_code == 403  # another user's credentials
    assert cloud.simulate_delete(f"{path}/{credential['id']}", headers=alice).status_code == 204
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": text}).status_code == 401


def test_an_expired_application_credential_or_a_past_expiry_is_refused(cloud):
    alice = {"X-Auth-Token": issue(cloud, password_auth("alice", "alicepw", "p1"))[0]}
    path = f"{V3}/users/aliceid/application_credentials"
    past = cloud.simulate_post(path, headers=alice, json={"application_credential": {
        "name": "old", "expires_at": "2001-01-01T00:00:00Z"}})
    assert past.status_code == 400
    bad = cloud.simulate_post(path, headers=alice, json={"application_credential": {"name": "x", "expires_at": "soon"}})
    assert bad.status_code == 400
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    created = cloud.simulate_post(path, headers=alice,
                                  json={"application_credential": {"name": "s", "expires_at": soon.isoformat()}})
    credential = created.json["application_credential"]
    text, token = issue(cloud, app_cred_auth(id=credential["id"], secret=credential["secret"]))
    expires = dt.datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert expires <= soon  # a token never outlives its credential
    time.sleep(2.5)
    assert cloud.simulate_post(f"{V3}/auth/tokens",
                               json=app_cred_auth(id=credential["id"], secret=credential["secret"])).status_code == 401
    assert cloud.simulate_get("/compute/v2.1/servers", headers={"X-Auth-Token": text}).status_code == 401


# -- policy on the Compute API with Identity tokens -----------------------------------------------

def test_a_reader_lists_but_cannot_create_and_a_policy_file_changes_that(cloud, tmp_path):
    admin = admin_headers(cloud)
    reader = cloud.simulate_get(f"{V3}/roles", params={"name": "reader"}, headers=admin).json["roles"][0]["id"]
    user = cloud.simulate_post(f"{V3}/users", json={"user": {"name": "rita", "password": "ritapw"}}, headers=admin)
    rita_id = user.json["user"]["id"]
    assert cloud.simulate_put(f"{V3}/projects/p1id/users/{rita_id}/roles/{reader}", headers=admin).status_code == 204
    rita = {"X-Auth-Token": issue(cloud, password_auth("rita", "ritapw", "p1"))[0]}
    assert cloud.simulate_get("/compute/v2.1/servers", headers=rita).status_code == 200
    created = cloud.simulate_post("/compute/v2.1/servers", headers=rita,
                                  json={"server": {"name": "x", "flavorRef": "1", "imageRef": IMAGE}})
    assert created.status_code == 403
    assert created.json["forbidden"]["message"] == "Policy doesn't allow os_compute_api:servers:create to be performed."


def test_the_api_refuses_to_start_on_a_broken_policy_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"os_compute_api:servers:create": "role:member and"\n')
    conf = config.load(None, environ={"NCLOUD_DEFAULT__STATE_PATH": str(tmp_path),
                                      "NCLOUD_API__POLICY_FILE": str(path)})
    with pytest.raises(policy.PolicyError, match=f"{path}: rule 'os_compute_api:servers:create'"):
        create_app(conf, Database(conf.database_url), rpc.Transport("memory://"))


def test_the_catalog_reads_services_endpoints_and_regions(cloud):
    admin = admin_headers(cloud)
    services = cloud.simulate_get(f"{V3}/services", headers=admin).json["services"]
    assert {(s["type"], s["name"]) for s in services} == {("compute", "nova"), ("image", "glance"),
                                                          ("identity", "keystone")}
    glance = cloud.simulate_get(f"{V3}/services", params={"name": "glance"}, headers=admin).json["services"]
    assert cloud.simulate_get(f"{V3}/services/{glance[0]['id']}", headers=admin).json["service"]["type"] == "image"
    endpoints = cloud.simulate_get(f"{V3}/endpoints", params={"interface": "public"}, headers=admin).json["endpoints"]
    assert sorted(e["url"].rsplit(":8774", 1)[1] for e in endpoints) == ["/compute/v2.1", "/identity", "/image"]
    alice = {"X-Auth-Token": issue(cloud, password_auth("alice", "alicepw", "p1"))[0]}
    assert [r["id"] for r in cloud.simulate_get(f"{V3}/regions", headers=alice).json["regions"]] == ["RegionOne"]
    assert cloud.simulate_get(f"{V3}/regions/RegionOne", headers=alice).status_code == 200
    assert cloud.simulate_get(f"{V3}/regions/Elsewhere", headers=alice).status_code == 404
    assert cloud.simulate_get(f"{V3}/services", headers=alice).status_code == 403
    assert cloud.simulate_get(f"{V3}/services/nothing", headers=admin).status_code == 404


def test_an_expired_token_is_refused_by_every_api(cloud, tmp_path):
    provider = TokenProvider(tmp_path / "token-keys")  # the cloud's own keys: only the expiry differs

    def token_until(moment: dt.datetime) -> str:
        return provider.issue(Token(user_id="aliceid", methods=("password",), project_id="p1id", expires_at=moment))

    now = dt.datetime.now(dt.UTC)
    assert cloud.simulate_get("/compute/v2.1/servers", headers={
        "X-Auth-Token": token_until(now + dt.timedelta(minutes=1))}).status_code == 200
    expired = token_until(now - dt.timedelta(seconds=1))
    for path in ("/compute/v2.1/servers", "/image/v2/images", f"{V3}/auth/projects"):
        result = cloud.simulate_get(path, headers={"X-Auth-Token": expired})
        assert result.status_code == 401, (path, result.json)
    admin = admin_headers(cloud)
    assert cloud.simulate_get(f"{V3}/auth/tokens", headers={**admin, "X-Subject-Token": expired}).status_code == 404


def test_a_role_is_created_renamed_and_deleted_but_the_policys_own_roles_stay(cloud):
    admin = admin_headers(cloud)
    created = cloud.simulate_post(f"{V3}/roles", json={"role": {"name": "auditor"}}, headers=admin)
    assert created.status_code == 201
    role_id = created.json["role"]["id"]
    renamed = cloud.simulate_patch(f"{V3}/roles/{role_id}", json={"role": {"name": "inspector", "description": "d"}},
                                   headers=admin)
    assert renamed.status_code == 200 and (renamed.json["role"]["name"], renamed.json["role"]["description"]) == (
        "inspector", "d")
    assert cloud.simulate_patch(f"{V3}/roles/{role_id}", json={"role": {"name": "member"}},
                                headers=admin).status_code == 409
    assert cloud.simulate_patch(f"{V3}/roles/{role_id}", json={"role": {"name": 5}},
                                headers=admin).status_code == 400
    assert cloud.simulate_delete(f"{V3}/roles/{role_id}", headers=admin).status_code == 204
    member = cloud.simulate_get(f"{V3}/roles", params={"name": "member"}, headers=admin).json["roles"][0]["id"]
    assert cloud.simulate_patch(f"{V3}/roles/{member}", json={"role": {"name": "crew"}},
                                headers=admin).status_code == 403
    assert cloud.simulate_delete(f"{V3}/roles/{member}", headers=admin).status_code == 403
    alice = {"X-Auth-Token": issue(cloud, password_auth("alice", "alicepw", "p1"))[0]}
    assert cloud.simulate_patch(f"{V3}/roles/{member}", json={"role": {"description": "x"}},
                                headers=alice).status_code == 403
