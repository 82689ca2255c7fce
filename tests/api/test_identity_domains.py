"""Identity v3 domains: their life cycle, domain-scoped tokens, and Keystone's domain manager
persona (role `manager` on a domain) administering that domain and nothing beyond it."""

from __future__ import annotations

import pytest
from falcon import testing
from sqlalchemy import select

from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import rpc
from ncloud.daemons.core.db.models import Domain, DomainRoleAssignment, Project, Role, RoleAssignment, User
from ncloud.daemons.core.identity import passwords
from tests.cloud import identity_state

V3 = "/identity/v3"


@pytest.fixture
def cloud(tmp_path):
    """Domain `acme` with carol as its manager, project `acme-web` in it, and dave (member of
    `acme-web`); the admin lives in `default`, as does eve, an admin user of the `acme` domain's
    users would like to reach."""
    conf, db = identity_state(tmp_path)
    with db.writer() as session:
        session.add(Domain(id="acmeid", name="acme", enabled=True))
        session.flush()
        session.add(Project(id="webid", name="acme-web", domain_id="acmeid"))
        for user_id, name in (("carolid", "carol"), ("daveid", "dave"), ("eveid", "eve")):
            session.add(User(id=user_id, name=name, domain_id="acmeid", password_hash=passwords.hash_secret(name)))
        session.flush()
        roles = dict(session.execute(select(Role.name, Role.id)).all())
        session.add(DomainRoleAssignment(user_id="carolid", domain_id="acmeid", role_id=roles["manager"]))
        session.add(RoleAssignment(user_id="daveid", project_id="webid", role_id=roles["member"]))
        session.add(RoleAssignment(user_id="eveid", project_id="webid", role_id=roles["admin"]))
    transport = rpc.Transport("memory://")
    client = testing.TestClient(create_app(conf, db, transport))
    client.roles = roles
    yield client
    transport.close()
    db.dispose()


def token(cloud, user: str, password: str, domain: str = "Default", scope: dict | None = None) -> tuple[str, dict]:
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": domain}, "password": password}}}}
    if scope:
        auth["scope"] = scope
    result = cloud.simulate_post(f"{V3}/auth/tokens", json={"auth": auth})
    assert result.status_code == 201, result.json
    return result.headers["X-Subject-Token"], result.json["token"]


def admin(cloud) -> dict:
    return {"X-Auth-Token": token(cloud, "admin", "adminpw", scope={"project": {"name": "admin",
                                                                                "domain": {"id": "default"}}})[0]}


def carol(cloud) -> dict:
    return {"X-Auth-Token": token(cloud, "carol", "carol", "acme", {"domain": {"name": "acme"}})[0]}


def test_a_domain_is_created_found_by_name_renamed_and_deleted_only_once_disabled(cloud):
    headers = admin(cloud)
    created = cloud.simulate_post(f"{V3}/domains", json={"domain": {"name": "globex", "description": "g"}},
                                  headers=headers)
    assert created.status_code == 201
    domain_id = created.json["domain"]["id"]
    found = cloud.simulate_get(f"{V3}/domains", params={"name": "globex"}, headers=headers).json["domains"]
    assert [domain["id"] for domain in found] == [domain_id]
    assert cloud.simulate_post(f"{V3}/domains", json={"domain": {"name": "globex"}},
                               headers=headers).status_code == 409
    project = cloud.simulate_post(f"{V3}/projects", json={"project": {"name": "p", "domain_id": domain_id}},
                                  headers=headers).json["project"]
    renamed = cloud.simulate_patch(f"{V3}/domains/{domain_id}", json={"domain": {"name": "globex2"}},
                                   headers=headers)
    assert renamed.status_code == 200 and renamed.json["domain"]["name"] == "globex2"

    refused = cloud.simulate_delete(f"{V3}/domains/{domain_id}", headers=headers)
    assert refused.status_code == 403 and "disable it first" in refused.json["error"]["message"]
    assert cloud.simulate_patch(f"{V3}/domains/{domain_id}", json={"domain": {"enabled": False}},
                                headers=headers).status_code == 200
    assert cloud.simulate_delete(f"{V3}/domains/{domain_id}", headers=headers).status_code == 204
    assert cloud.simulate_get(f"{V3}/domains/{domain_id}", headers=headers).status_code == 404
    assert cloud.simulate_get(f"{V3}/projects/{project['id']}", headers=headers).status_code == 404  # gone with it


def test_the_default_domain_cannot_be_disabled_or_deleted_and_only_an_admin_makes_domains(cloud):
    headers = admin(cloud)
    assert cloud.simulate_patch(f"{V3}/domains/default", json={"domain": {"enabled": False}},
                                headers=headers).status_code == 403
    assert cloud.simulate_delete(f"{V3}/domains/default", headers=headers).status_code == 403
    assert cloud.simulate_post(f"{V3}/domains", json={"domain": {"name": "x"}}, headers=carol(cloud)).status_code == 403
    assert cloud.simulate_post(f"{V3}/domains", json={"domain": {"name": ""}}, headers=headers).status_code == 400


def test_a_domain_scoped_token_names_its_domain_and_ends_with_the_role(cloud):
    text, body = token(cloud, "carol", "carol", "acme", {"domain": {"id": "acmeid"}})
    assert body["domain"] == {"id": "acmeid", "name": "acme"} and "project" not in body
    assert [role["name"] for role in body["roles"]] == ["manager"]
    assert {entry["type"] for entry in body["catalog"]} == {"compute", "image", "identity"}
    headers = {"X-Auth-Token": text, "X-Subject-Token": text}
    assert cloud.simulate_get(f"{V3}/auth/tokens", headers=headers).json["token"]["domain"]["id"] == "acmeid"
    # dave has no role on the domain: no domain-scoped token for him
    dave = {"user": {"name": "dave", "domain": {"name": "acme"}, "password": "dave"}}
    result = cloud.simulate_post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": dave}, "scope": {"domain": {"name": "acme"}}}})
    assert result.status_code == 401
    grant = f"{V3}/domains/acmeid/users/carolid/roles/{cloud.roles['manager']}"
    assert cloud.simulate_head(grant, headers=admin(cloud)).status_code == 204
    assert cloud.simulate_delete(grant, headers=admin(cloud)).status_code == 204
    assert cloud.simulate_get(f"{V3}/auth/tokens", headers=headers).status_code == 401  # the role is gone


def test_a_domain_manager_runs_their_domain(cloud):
    headers = carol(cloud)
    project = cloud.simulate_post(f"{V3}/projects", json={"project": {"name": "acme-db"}}, headers=headers)
    assert project.status_code == 201 and project.json["project"]["domain_id"] == "acmeid"
    user = cloud.simulate_post(f"{V3}/users", json={"user": {"name": "frank", "password": "frankpw"}},
                               headers=headers)
    assert user.status_code == 201 and user.json["user"]["domain_id"] == "acmeid"
    project_id, user_id = project.json["project"]["id"], user.json["user"]["id"]
    grant = f"{V3}/projects/{project_id}/users/{user_id}/roles/{cloud.roles['member']}"
    assert cloud.simulate_put(grant, headers=headers).status_code == 204
    _, frank = token(cloud, "frank", "frankpw", "acme", {"project": {"id": project_id}})
    assert [role["name"] for role in frank["roles"]] == ["member"]

    listed = cloud.simulate_get(f"{V3}/users", headers=headers).json["users"]
    assert {u["name"] for u in listed} == {"carol", "dave", "eve", "frank"}  # their domain's, no one else's
    assert {p["name"] for p in cloud.simulate_get(f"{V3}/projects", headers=headers).json["projects"]} == {
        "acme-web", "acme-db"}
    assert [d["name"] for d in cloud.simulate_get(f"{V3}/domains", params={"name": "acme"},
                                                  headers=headers).json["domains"]] == ["acme"]
    assert {r["name"] for r in cloud.simulate_get(f"{V3}/roles", headers=headers).json["roles"]} == {
        "manager", "member", "reader"}
    assignments = cloud.simulate_get(f"{V3}/role_assignments", params={"include_names": "1"},
                                     headers=headers).json["role_assignments"]
    scopes = {(a["user"]["name"], a["role"]["name"], next(iter(a["scope"])), next(iter(a["scope"].values()))["name"])
              for a in assignments}
    assert ("carol", "manager", "domain", "acme") in scopes and ("frank", "member", "project", "acme-db") in scopes
    assert all(a["user"]["domain"]["name"] == "acme" for a in assignments)
    assert cloud.simulate_patch(f"{V3}/users/{user_id}", json={"user": {"enabled": False}},
                                headers=headers).status_code == 200
    assert cloud.simulate_delete(f"{V3}/users/{user_id}", headers=headers).status_code == 204
    assert cloud.simulate_delete(f"{V3}/projects/{project_id}", headers=headers).status_code == 204


def test_a_domain_manager_reaches_nothing_outside_their_domain_nor_above_their_roles(cloud):
    headers = carol(cloud)
    admin_id = cloud.simulate_get(f"{V3}/users", params={"name": "admin"}, headers=admin(cloud)).json["users"][0]["id"]
    admin_project = cloud.simulate_get(f"{V3}/projects", params={"name": "admin"},
                                       headers=admin(cloud)).json["projects"][0]["id"]
    refused = [
        cloud.simulate_post(f"{V3}/users", json={"user": {"name": "x", "domain_id": "default"}}, headers=headers),
        cloud.simulate_post(f"{V3}/projects", json={"project": {"name": "x", "domain_id": "default"}},
                            headers=headers),
        cloud.simulate_get(f"{V3}/users", params={"domain_id": "default"}, headers=headers),
        cloud.simulate_get(f"{V3}/users/{admin_id}", headers=headers),
        cloud.simulate_patch(f"{V3}/users/{admin_id}", json={"user": {"password": "mine"}}, headers=headers),
        cloud.simulate_get(f"{V3}/projects/{admin_project}", headers=headers),
        cloud.simulate_delete(f"{V3}/projects/{admin_project}", headers=headers),
        cloud.simulate_get(f"{V3}/domains/default", headers=headers),
        # above their roles: admin is not a role a domain manager gives, even inside the domain
        cloud.simulate_put(f"{V3}/projects/webid/users/daveid/roles/{cloud.roles['admin']}", headers=headers),
        cloud.simulate_put(f"{V3}/domains/acmeid/users/daveid/roles/{cloud.roles['admin']}", headers=headers),
        cloud.simulate_get(f"{V3}/roles/{cloud.roles['admin']}", headers=headers),
        # eve lives in the domain but is a cloud administrator: not theirs to change
        cloud.simulate_patch(f"{V3}/users/eveid", json={"user": {"password": "mine"}}, headers=headers),
        cloud.simulate_delete(f"{V3}/users/eveid", headers=headers),
        # cross-domain grant: a user of acme on a project of default
        cloud.simulate_put(f"{V3}/projects/{admin_project}/users/daveid/roles/{cloud.roles['member']}",
                           headers=headers),
    ]
    assert [result.status_code for result in refused] == [403] * len(refused), [r.json for r in refused]
    eve, _ = token(cloud, "eve", "eve", "acme", {"project": {"id": "webid"}})  # still her password


def test_a_project_manager_does_not_administer_identity(cloud):
    with_manager = f"{V3}/projects/webid/users/daveid/roles/{cloud.roles['manager']}"
    assert cloud.simulate_put(with_manager, headers=admin(cloud)).status_code == 204
    dave = {"X-Auth-Token": token(cloud, "dave", "dave", "acme", {"project": {"id": "webid"}})[0]}
    assert cloud.simulate_get(f"{V3}/users", headers=dave).status_code == 403
    assert cloud.simulate_post(f"{V3}/users", json={"user": {"name": "x"}}, headers=dave).status_code == 403
    assert cloud.simulate_put(f"{V3}/projects/webid/users/carolid/roles/{cloud.roles['member']}",
                              headers=dave).status_code == 403
    assert cloud.simulate_get(f"{V3}/domains/acmeid", headers=dave).status_code == 200  # their project's domain
