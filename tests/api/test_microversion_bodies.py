"""Every body at the microversions where Nova changed it, checked against tempest's schemas.

Each test renders the same resource at several versions: the version before a change and the
version of the change, so a field that appears too early (tempest's schemas forbid unknown keys)
or too late (they require the new ones) fails here.
"""

from __future__ import annotations

import pytest

from ncloud.daemons.api.microversion import MAX_VERSION
from tests.api.conftest import ADMIN, COMPUTE_HOST, IMAGE_ID, add_compute_node, add_service, place
from tests.api.tempest_schemas import conforms

SERVER_VERSIONS = ["2.1", "2.2", "2.3", "2.9", "2.16", "2.19", "2.26", "2.47", "2.63", "2.71", "2.73", "2.90",
                   "2.96", "2.98", str(MAX_VERSION)]


@pytest.fixture
def placed(api, db, seeded):
    """A server placed on a live compute host, and one still waiting to be scheduled."""
    add_service(db, COMPUTE_HOST)
    add_compute_node(db, COMPUTE_HOST)
    booted = api.post("/servers", version="2.52", json={"server": {
        "name": "web", "flavorRef": "2", "imageRef": IMAGE_ID, "networks": "none", "tags": ["blue", "edge"],
        "description": "front end"}})
    conforms(booted, "2.52", "servers", "create_server_with_admin_pass")
    uuid = booted.json["server"]["id"]
    place(db, uuid, COMPUTE_HOST)
    return uuid, api.boot("waiting")


@pytest.mark.parametrize("version", SERVER_VERSIONS)
@pytest.mark.parametrize("token", [ADMIN, None])
def test_server_show_and_detail_conform_at_each_version(api, placed, version, token):
    uuid, _ = placed
    token = token or "alice:p1"
    shown = api.get(f"/servers/{uuid}", version=version, token=token)
    conforms(shown, version, "servers", "get_server")
    listed = api.get("/servers/detail", version=version, token=token, params={"all_tenants": "1"}
                     if token == ADMIN else None)
    conforms(listed, version, "servers", "list_servers_detail")
    assert len(listed.json["servers"]) == 2
    conforms(api.get("/servers", version=version, token=token), version, "servers", "list_servers")


def test_fields_arrive_at_their_versions(api, placed):
    uuid, _ = placed

    def show(version, token="alice:p1"):
        return api.get(f"/servers/{uuid}", version=version, token=token).json["server"]

    assert "description" not in show("2.18") and show("2.19")["description"] == "front end"
    assert "tags" not in show("2.25") and show("2.26")["tags"] == ["blue", "edge"]
    assert show("2.46")["flavor"] == {"id": "2", "links": [
        {"rel": "bookmark", "href": "http://cloud.test:8774/compute/flavors/2"}]}
    assert show("2.47")["flavor"] == {"vcpus": 1, "ram": 2048, "disk": 20, "ephemeral": 0, "swap": 0,
                                      "original_name": "m1.small", "extra_specs": {"a": "b"}}
    assert "OS-EXT-SRV-ATTR:hostname" not in show("2.89") and show("2.90")["OS-EXT-SRV-ATTR:hostname"] == "web"
    assert show("2.3", ADMIN)["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
    assert show("2.16", ADMIN)["host_status"] == "UP" and "host_status" not in show("2.16")
    assert show("2.98")["image"]["properties"] == {"hw_arch": "x86_64"}
    assert show("2.100")["scheduler_hints"] == {}
    assert show("2.96")["pinned_availability_zone"] is None


def test_host_status_says_down_and_maintenance(api, db, placed):
    uuid, _ = placed
    add_service(db, "cmp-2", alive=False)
    add_compute_node(db, "cmp-2")
    add_service(db, "cmp-3", disabled=True)
    add_compute_node(db, "cmp-3")
    second, third = api.boot("b"), api.boot("c")
    place(db, second, "cmp-2")
    place(db, third, "cmp-3")
    status = {s["id"]: s["host_status"] for s in api.get("/servers/detail?all_tenants=1", version="2.16",
                                                          token=ADMIN).json["servers"]}
    assert (status[uuid], status[second], status[third]) == ("UP", "DOWN", "MAINTENANCE")
    assert status[placed[1]] == ""  # not placed yet


@pytest.mark.parametrize("version", ["2.1", "2.55", "2.61", "2.75", str(MAX_VERSION)])
def test_flavor_bodies_conform(api, seeded, version):
    conforms(api.get("/flavors", version=version), version, "flavors", "list_flavors")
    conforms(api.get("/flavors/detail", version=version), version, "flavors", "list_flavors_details")
    shown = api.get("/flavors/2", version=version)
    conforms(shown, version, "flavors", "create_update_get_flavor_details")
    body = shown.json["flavor"]
    minor = int(version.split(".")[1])
    assert ("description" in body) == (minor >= 55)
    assert (body.get("extra_specs") == {"a": "b"}) == (minor >= 61)
    assert api.get("/flavors/1", version=version).json["flavor"]["swap"] == ("" if minor < 75 else 0)


def test_flavor_description_is_set_from_2_55_by_admins_only(api, seeded):
    created = api.post("/flavors", token=ADMIN, version="2.55", json={"flavor": {
        "name": "big", "ram": 4096, "vcpus": 2, "disk": 40, "description": "for builds"}})
    assert created.status_code == 200 and created.json["flavor"]["description"] == "for builds"
    assert api.post("/flavors", token=ADMIN, version="2.54", json={"flavor": {
        "name": "x", "ram": 1, "vcpus": 1, "disk": 1, "description": "d"}}).status_code == 400
    updated = api.put("/flavors/2", token=ADMIN, version="2.55", json={"flavor": {"description": "small one"}})
    assert updated.status_code == 200 and updated.json["flavor"]["description"] == "small one"
    assert api.put("/flavors/2", token=ADMIN, version="2.54", json={"flavor": {"description": "x"}}).status_code == 404
    assert api.put("/flavors/2", version="2.55", json={"flavor": {"description": "x"}}).status_code == 403
    assert api.put("/flavors/2", token=ADMIN, version="2.55", json={"flavor": {"name": "x"}}).status_code == 400


@pytest.mark.parametrize("version", ["2.1", "2.28", "2.33", "2.53", "2.87"])
def test_hypervisor_bodies_conform(api, db, version):
    add_service(db, COMPUTE_HOST)
    add_compute_node(db, COMPUTE_HOST)
    listed = api.get("/os-hypervisors", version=version, token=ADMIN)
    conforms(listed, version, "hypervisors", "list_search_hypervisors")
    detail = api.get("/os-hypervisors/detail", version=version, token=ADMIN)
    conforms(detail, version, "hypervisors", "list_hypervisors_detail")
    node_id = detail.json["hypervisors"][0]["id"]
    conforms(api.get(f"/os-hypervisors/{node_id}", version=version, token=ADMIN), version, "hypervisors",
             "get_hypervisor")


def test_hypervisors_from_2_53_have_uuids_servers_and_a_name_pattern(api, db, seeded):
    add_service(db, COMPUTE_HOST)
    add_compute_node(db, COMPUTE_HOST)
    add_service(db, "cmp-2")
    add_compute_node(db, "cmp-2")
    uuid = api.boot("web")
    place(db, uuid, COMPUTE_HOST)
    listed = api.get("/os-hypervisors?with_servers=true", version="2.53", token=ADMIN).json["hypervisors"]
    assert listed[0]["servers"] == [{"uuid": uuid, "name": "web"}] and "servers" not in listed[1]
    assert api.get("/os-hypervisors?with_servers=true", version="2.75", token=ADMIN).json[
        "hypervisors"][1]["servers"] == []
    found = api.get("/os-hypervisors?hypervisor_hostname_pattern=cmp-2", version="2.53", token=ADMIN).json
    assert [h["hypervisor_hostname"] for h in found["hypervisors"]] == ["cmp-2.local"]
    assert api.get("/os-hypervisors?hypervisor_hostname_pattern=zz", version="2.53", token=ADMIN).status_code == 404
    assert api.get("/os-hypervisors?hypervisor_hostname_pattern=c&limit=1", version="2.53",
                   token=ADMIN).status_code == 400
    assert api.get(f"/os-hypervisors/{listed[0]['id']}", version="2.52", token=ADMIN).status_code == 404
    page = api.get("/os-hypervisors?limit=1", version="2.53", token=ADMIN).json
    assert page["hypervisors_links"][0]["href"].endswith(f"marker={listed[0]['id']}")
    assert api.get("/os-hypervisors?limit=1", version="2.32", token=ADMIN).json["hypervisors"].__len__() == 2


def test_from_2_88_hypervisors_show_the_hosts_uptime_instead_of_figures(api, db):
    add_service(db, COMPUTE_HOST)
    add_compute_node(db, COMPUTE_HOST)
    add_service(db, "cmp-down", alive=False)
    add_compute_node(db, "cmp-down")
    nodes = api.get("/os-hypervisors/detail", version="2.88", token=ADMIN).json["hypervisors"]
    assert nodes[0]["uptime"] == " 10:00:00 up 3 days,  2:00,  load average: 0.10, 0.20, 0.30"
    assert nodes[1]["uptime"] is None  # its compute is down: not asked
    for gone in ("vcpus", "memory_mb", "local_gb", "running_vms", "cpu_info", "current_workload", "free_ram_mb"):
        assert gone not in nodes[0]
    assert "vcpus" in api.get("/os-hypervisors/detail", version="2.87", token=ADMIN).json["hypervisors"][0]


@pytest.mark.parametrize("version", ["2.1", "2.11", "2.53"])
def test_service_bodies_conform(api, db, version):
    add_service(db, COMPUTE_HOST)
    listed = api.get("/os-services", version=version, token=ADMIN)
    conforms(listed, version, "services", "list_services")
    assert isinstance(listed.json["services"][0]["id"], str) == (version == "2.53")



@pytest.mark.parametrize("version", ["2.1", "2.9", "2.19", "2.26", "2.47", "2.71", "2.73", "2.74", "2.75", "2.90",
                                     "2.96", str(MAX_VERSION)])
def test_server_update_conforms_and_shows_the_full_server_from_2_75(api, placed, version):
    uuid, _ = placed
    body = {"name": f"renamed-{version}"}
    if int(version.split(".")[1]) >= 19:
        body["description"] = "changed"
    updated = api.put(f"/servers/{uuid}", version=version, json={"server": body})
    conforms(updated, version, "servers", "update_server")
    shown = updated.json["server"]
    assert shown["name"] == f"renamed-{version}"
    assert ("OS-EXT-STS:vm_state" in shown) == (int(version.split(".")[1]) >= 75)


def test_server_update_takes_each_field_from_its_version(api, placed):
    uuid, _ = placed
    assert api.put(f"/servers/{uuid}", version="2.18", json={"server": {"description": "d"}}).status_code == 400
    assert api.put(f"/servers/{uuid}", version="2.89", json={"server": {"hostname": "h"}}).status_code == 400
    fqdn = "web." + "sub." * 16 + "example"  # longer than a 63-character hostname: an FQDN from 2.94
    assert api.put(f"/servers/{uuid}", version="2.90", json={"server": {"hostname": fqdn}}).status_code == 400
    assert api.put(f"/servers/{uuid}", version="2.94", json={"server": {"hostname": fqdn}}).status_code == 200
    assert api.get(f"/servers/{uuid}", version="2.94").json["server"]["OS-EXT-SRV-ATTR:hostname"] == fqdn
    assert api.put(f"/servers/{uuid}", json={"server": {"name": ""}}).status_code == 400
    assert api.put(f"/servers/{uuid}", token="bob:p2", json={"server": {"name": "x"}}).status_code == 404
