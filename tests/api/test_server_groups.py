"""os-server-groups across microversions, and servers joining them at boot."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, BOB, IMAGE_ID
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def create(api, token="alice:p1"):
    """An anti-affinity group, as the 2.64 body makes one."""
    return api.post("/os-server-groups", version="2.64", token=token,
                    json={"server_group": {"name": "web", "policy": "anti-affinity"}})


@pytest.mark.parametrize("version, group", [
    ("2.1", {"policies": ["affinity"]}),
    ("2.13", {"policies": ["anti-affinity"]}),
    ("2.15", {"policies": ["soft-affinity"]}),
    ("2.64", {"policy": "anti-affinity", "rules": {"max_server_per_host": 2}}),
    ("2.100", {"policy": "soft-anti-affinity"}),
])
def test_create_show_list_delete_conform(api, version, group):
    created = api.post("/os-server-groups", version=version, json={"server_group": {"name": "web", **group}})
    conforms(created, version, "server_groups", "create_show_server_group")
    group_id = created.json["server_group"]["id"]
    conforms(api.get(f"/os-server-groups/{group_id}", version=version), version, "server_groups",
             "create_show_server_group")
    listed = api.get("/os-server-groups", version=version)
    conforms(listed, version, "server_groups", "list_server_groups")
    assert [g["id"] for g in listed.json["server_groups"]] == [group_id]
    conforms(api.delete(f"/os-server-groups/{group_id}", version=version), version, "server_groups",
             "delete_server_group")
    assert api.get(f"/os-server-groups/{group_id}", version=version).status_code == 404


@pytest.mark.parametrize("version, group", [
    ("2.14", {"policies": ["soft-affinity"]}),
    ("2.1", {"policies": ["affinity", "anti-affinity"]}),
    ("2.1", {"policies": []}),
    ("2.64", {"policies": ["affinity"]}),
    ("2.64", {"policy": "affinity", "rules": {"max_server_per_host": 2}}),
    ("2.64", {"policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
    ("2.64", {"policy": "clustered"}),
])
def test_bad_groups_are_400(api, version, group):
    response = api.post("/os-server-groups", version=version, json={"server_group": {"name": "g", **group}})
    assert response.status_code == 400, response.text


def test_groups_belong_to_their_project(api):
    group_id = create(api).json["server_group"]["id"]
    assert api.get(f"/os-server-groups/{group_id}", token=BOB).status_code == 404
    assert api.delete(f"/os-server-groups/{group_id}", token=BOB).status_code == 404
    assert api.get("/os-server-groups", token=BOB).json == {"server_groups": []}
    assert len(api.get("/os-server-groups?all_projects=true", token=ADMIN).json["server_groups"]) == 1
    assert api.get("/os-server-groups?all_projects=true", token=BOB).json == {"server_groups": []}


def test_servers_join_at_boot_and_leave_when_deleted(api):
    group_id = create(api).json["server_group"]["id"]
    response = api.post("/servers", version="2.71", json={
        "server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none", "min_count": 2},
        "os:scheduler_hints": {"group": group_id}})
    assert response.status_code == 202
    members = api.get(f"/os-server-groups/{group_id}").json["server_group"]["members"]
    assert len(members) == 2
    shown = api.get(f"/servers/{members[0]}", version="2.71").json["server"]
    assert shown["server_groups"] == [group_id]
    assert "server_groups" not in api.get("/servers/detail", version="2.71").json["servers"][0]
    assert api.delete(f"/servers/{members[0]}").status_code == 204
    assert api.get(f"/os-server-groups/{group_id}").json["server_group"]["members"] == [members[1]]


def test_the_group_hint_is_checked(api):
    group_id = create(api, token=BOB).json["server_group"]["id"]
    for hint, status in ((group_id, 400), ("not-a-uuid", 400)):
        response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID},
                                              "os:scheduler_hints": {"group": hint}})
        assert response.status_code == status, response.text


def test_group_and_member_quotas(api):
    api.put("/os-quota-sets/p1", token=ADMIN, json={"quota_set": {"server_groups": 1, "server_group_members": 2}})
    group_id = create(api).json["server_group"]["id"]
    too_many = create(api)
    assert too_many.status_code == 403
    assert too_many.json["forbidden"]["message"] == "Quota exceeded, too many server groups."
    boot = {"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "min_count": 3},
            "os:scheduler_hints": {"group": group_id}}
    refused = api.post("/servers", json=boot)
    assert refused.status_code == 403
    assert refused.json["forbidden"]["message"] == "Quota exceeded, too many servers in group"
    boot["server"]["min_count"] = 2
    assert api.post("/servers", json=boot).status_code == 202
