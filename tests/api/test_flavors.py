"""/flavors: Nova's shapes, visibility, sorting and paging; creation and deletion by admins."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, IMAGE_ID

pytestmark = pytest.mark.usefixtures("seeded")

NEW = {"flavor": {"name": "m1.large", "ram": 8192, "vcpus": 4, "disk": 80, "id": "4"}}


def test_flavor_list_is_public_enabled_flavors_sorted_by_flavorid(api):
    body = api.get("/flavors").json
    assert [f["id"] for f in body["flavors"]] == ["1", "2"]
    assert body["flavors"][0] == {"id": "1", "name": "m1.tiny", "links": [
        {"rel": "self", "href": "http://cloud.test:8774/compute/v2.1/flavors/1"},
        {"rel": "bookmark", "href": "http://cloud.test:8774/compute/flavors/1"}]}


def test_flavor_detail_has_novas_2_1_shape(api):
    flavor = api.get("/flavors/detail").json["flavors"][1]
    assert flavor == {
        "id": "2", "name": "m1.small", "ram": 2048, "disk": 20, "vcpus": 1, "swap": "",
        "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0, "links": [
            {"rel": "self", "href": "http://cloud.test:8774/compute/v2.1/flavors/2"},
            {"rel": "bookmark", "href": "http://cloud.test:8774/compute/flavors/2"}]}
    assert api.get("/flavors/2").json["flavor"] == flavor


def test_admins_list_private_flavors_on_request(api):
    assert [f["id"] for f in api.get("/flavors", token=ADMIN).json["flavors"]] == ["1", "2"]
    every = api.get("/flavors", token=ADMIN, params={"is_public": "None"}).json["flavors"]
    assert [f["id"] for f in every] == ["1", "2", "9"]
    private = api.get("/flavors", token=ADMIN, params={"is_public": "false"}).json["flavors"]
    assert [f["id"] for f in private] == ["9"]


def test_flavor_list_sorts_filters_and_pages(api):
    by_ram = api.get("/flavors/detail", params={"sort_key": "memory_mb", "sort_dir": "desc"}).json["flavors"]
    assert [f["ram"] for f in by_ram] == [2048, 512]
    assert [f["id"] for f in api.get("/flavors", params={"minRam": "1024"}).json["flavors"]] == ["2"]
    first = api.get("/flavors", params={"limit": "1"}).json
    assert first["flavors_links"][0]["href"] == "http://cloud.test:8774/compute/v2.1/flavors?limit=1&marker=1"
    second = api.get("/flavors", params={"limit": "1", "marker": "1"}).json
    assert [f["id"] for f in second["flavors"]] == ["2"]
    assert api.get("/flavors", params={"marker": "nope"}).status_code == 400
    assert api.get("/flavors", params={"sort_key": "password"}).status_code == 400


def test_unknown_flavor_is_item_not_found(api):
    response = api.get("/flavors/404")
    assert response.json == {"itemNotFound": {"message": "Flavor 404 could not be found.", "code": 404}}


def test_admin_creates_a_flavor_and_users_can_boot_it(api):
    response = api.post("/flavors", token=ADMIN, json={"flavor": {**NEW["flavor"], "swap": 512,
                                                                  "OS-FLV-EXT-DATA:ephemeral": "10",
                                                                  "rxtx_factor": 2.0}})
    assert response.status_code == 200
    assert response.json["flavor"] == {
        "id": "4", "name": "m1.large", "ram": 8192, "disk": 80, "vcpus": 4, "swap": 512,
        "OS-FLV-EXT-DATA:ephemeral": 10, "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True,
        "rxtx_factor": 2.0, "links": [
            {"rel": "self", "href": "http://cloud.test:8774/compute/v2.1/flavors/4"},
            {"rel": "bookmark", "href": "http://cloud.test:8774/compute/flavors/4"}]}
    assert api.boot("big", flavorRef="4", imageRef=IMAGE_ID)


def test_a_flavor_created_without_id_gets_a_uuid(api):
    body = {"flavor": {"name": "auto", "ram": "256", "vcpus": "1", "disk": "0"}}
    flavor = api.post("/flavors", token=ADMIN, json=body).json["flavor"]
    assert len(flavor["id"]) == 36 and flavor["ram"] == 256


def test_flavor_create_is_forbidden_to_non_admins(api):
    response = api.post("/flavors", json=NEW)
    assert response.status_code == 403
    assert response.json == {"forbidden": {
        "message": "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.", "code": 403}}


def test_flavor_create_with_a_taken_name_or_id_is_a_conflict(api):
    assert api.post("/flavors", token=ADMIN, json=NEW).status_code == 200
    same_name = api.post("/flavors", token=ADMIN, json={"flavor": {**NEW["flavor"], "id": "5"}})
    assert same_name.json == {"conflictingRequest": {"message": "Flavor with name m1.large already exists.",
                                                     "code": 409}}
    same_id = api.post("/flavors", token=ADMIN, json={"flavor": {**NEW["flavor"], "name": "other"}})
    assert same_id.json == {"conflictingRequest": {"message": "Flavor with ID 4 already exists.", "code": 409}}


@pytest.mark.parametrize("change", [{"ram": 0}, {"vcpus": "x"}, {"disk": -1}, {"name": " padded"},
                                    {"id": " 7"}, {"rxtx_factor": 0}, {"colour": "red"}])
def test_flavor_create_with_an_invalid_body_is_bad_request(api, change):
    response = api.post("/flavors", token=ADMIN, json={"flavor": {**NEW["flavor"], **change}})
    assert response.status_code == 400
    assert list(response.json) == ["badRequest"]


def test_admin_deletes_a_flavor_others_may_not(api):
    assert api.delete("/flavors/2").status_code == 403
    response = api.delete("/flavors/2", token=ADMIN)
    assert response.status_code == 202
    assert api.get("/flavors/2").status_code == 404
    assert api.delete("/flavors/2", token=ADMIN).status_code == 404
