"""GET /servers, /servers/detail and /servers/{id}: shapes, scoping, filters, pagination, faults."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ncloud.daemons.core import instances, states
from tests.api.conftest import ADMIN, ALICE, BOB, IMAGE_ID, place

pytestmark = pytest.mark.usefixtures("seeded")

DETAIL_KEYS = {
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
    "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "OS-EXT-AZ:availability_zone",
    "config_drive", "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached", "security_groups"}
ADMIN_KEYS = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name"}


def fail(db, uuid: str, message: str = "No valid host was found. Not enough RAM.", details: str = "trace") -> None:
    with db.writer() as session:
        instances.update_state(session, uuid, {"vm_state": states.ERROR, "task_state": None})
        instances.add_fault(session, uuid, message, code=500, details=details)


def test_server_show_has_novas_detail_shape_while_building(api):
    uuid = api.boot("web", metadata={"a": "b"})
    server = api.get(f"/servers/{uuid}").json["server"]
    assert set(server) == DETAIL_KEYS
    assert (server["status"], server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"]) == (
        "BUILD", "building", "scheduling")
    assert (server["tenant_id"], server["user_id"], server["metadata"]) == ("p1", "alice", {"a": "b"})
    assert server["hostId"] == "" and server["OS-EXT-AZ:availability_zone"] == ""
    assert server["image"] == {"id": IMAGE_ID, "links": [
        {"rel": "bookmark", "href": f"http://cloud.test:8774/compute/images/{IMAGE_ID}"}]}
    assert server["flavor"] == {"id": "1", "links": [
        {"rel": "bookmark", "href": "http://cloud.test:8774/compute/flavors/1"}]}
    assert server["links"] == [
        {"rel": "self", "href": f"http://cloud.test:8774/compute/v2.1/servers/{uuid}"},
        {"rel": "bookmark", "href": f"http://cloud.test:8774/compute/servers/{uuid}"}]
    assert server["created"].endswith("Z") and len(server["created"]) == 20
    assert server["security_groups"] == [{"name": "default"}]
    assert server["OS-DCF:diskConfig"] == "MANUAL" and server["progress"] == 0


def test_admins_also_see_host_hypervisor_and_instance_name(api, db):
    uuid = api.boot("web")
    place(db, uuid, "cmp-9")
    server = api.get(f"/servers/{uuid}", token=ADMIN).json["server"]
    assert set(server) == DETAIL_KEYS | ADMIN_KEYS
    row_id = server["OS-EXT-SRV-ATTR:instance_name"]
    assert row_id.startswith("instance-") and len(row_id) == len("instance-00000001")
    assert (server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-SRV-ATTR:hypervisor_hostname"]) == (
        "cmp-9", "cmp-9.local")
    assert server["hostId"] == hashlib.sha224(b"p1cmp-9").hexdigest()
    assert server["OS-EXT-AZ:availability_zone"] == "nova"
    assert server["status"] == "ACTIVE"


def test_unknown_server_is_item_not_found(api):
    response = api.get("/servers/1b4f1c51-5a9f-4f44-8a35-1d0c0e6d1c9e")
    assert response.status_code == 404
    assert response.json == {"itemNotFound": {
        "message": "Instance 1b4f1c51-5a9f-4f44-8a35-1d0c0e6d1c9e could not be found.", "code": 404}}


def test_another_projects_server_is_item_not_found_except_for_admins(api):
    uuid = api.boot("bobs", token=BOB)
    response = api.get(f"/servers/{uuid}", token=ALICE)
    assert response.status_code == 404
    assert list(response.json) == ["itemNotFound"]
    assert api.get(f"/servers/{uuid}", token=ADMIN).status_code == 200


def test_lists_show_only_the_callers_project_unless_an_admin_asks_for_all_tenants(api):
    alices = api.boot("a1")
    bobs = api.boot("b1", token=BOB)
    assert [s["id"] for s in api.get("/servers").json["servers"]] == [alices]
    assert [s["id"] for s in api.get("/servers/detail", token=BOB).json["servers"]] == [bobs]
    assert api.get("/servers", token=ADMIN).json["servers"] == []
    every = api.get("/servers/detail", token=ADMIN, params={"all_tenants": "1"}).json["servers"]
    assert {s["id"] for s in every} == {alices, bobs}
    only_bob = api.get("/servers", token=ADMIN, query_string="all_tenants&tenant_id=p2").json["servers"]
    assert [s["id"] for s in only_bob] == [bobs]
    response = api.get("/servers", params={"all_tenants": "true"})
    assert response.status_code == 403
    assert list(response.json) == ["forbidden"]


def test_server_list_has_id_name_and_links_newest_first(api):
    uuids = [api.boot(f"vm{n}") for n in range(3)]
    servers = api.get("/servers").json["servers"]
    assert [s["id"] for s in servers] == uuids[::-1]
    assert servers[0] == {"id": uuids[2], "name": "vm2", "links": [
        {"rel": "self", "href": f"http://cloud.test:8774/compute/v2.1/servers/{uuids[2]}"},
        {"rel": "bookmark", "href": f"http://cloud.test:8774/compute/servers/{uuids[2]}"}]}


@pytest.mark.parametrize("path", ["/servers", "/servers/detail"])
def test_list_pagination_follows_marker_and_limit_through_next_links(api, path):
    uuids = [api.boot(f"vm{n}") for n in range(5)]
    seen, pages = [], 0
    response = api.get(path, params={"limit": "2"})
    while True:
        pages += 1
        body = response.json
        seen.extend(s["id"] for s in body["servers"])
        links = body.get("servers_links")
        if not links:
            break
        assert links[0]["rel"] == "next"
        href = urlsplit(links[0]["href"])
        assert href.path == f"/compute/v2.1{path}"
        query = parse_qs(href.query)
        assert query["limit"] == ["2"] and query["marker"] == [seen[-1]]
        response = api.get(href.path, query_string=href.query)
    assert seen == uuids[::-1]
    assert pages == 3  # 2 + 2 + 1: the short last page has no next link


def test_a_full_last_page_still_has_a_next_link_as_in_nova(api):
    uuids = [api.boot(f"vm{n}") for n in range(2)]
    body = api.get("/servers", params={"limit": "2"}).json
    assert body["servers_links"][0]["href"].endswith(f"marker={uuids[0]}")
    assert api.get("/servers", params={"limit": "2", "marker": uuids[0]}).json == {"servers": []}


def test_list_with_unknown_marker_or_bad_limit_is_bad_request(api):
    api.boot("vm")
    response = api.get("/servers", params={"marker": "nope"})
    assert response.json == {"badRequest": {"message": "Marker nope could not be found.", "code": 400}}
    response = api.get("/servers", params={"limit": "-1"})
    assert response.status_code == 400
    assert response.json["badRequest"]["message"].startswith("Invalid input for query parameters limit.")
    assert api.get("/servers", params={"limit": "many"}).status_code == 400


def test_list_limit_zero_is_an_empty_page_and_limit_is_capped_by_max_limit(api):
    api.boot("vm")
    assert api.get("/servers", params={"limit": "0"}).json == {"servers": []}
    assert len(api.get("/servers", params={"limit": "5000"}).json["servers"]) == 1


def test_list_filters_by_name_regex_and_status(api, db):
    web1, web2, db1 = api.boot("web-1"), api.boot("web-2"), api.boot("db-1")
    fail(db, web2)
    names = {s["name"] for s in api.get("/servers", params={"name": "^web"}).json["servers"]}
    assert names == {"web-1", "web-2"}
    errored = api.get("/servers/detail", params={"status": "ERROR"}).json["servers"]
    assert [s["id"] for s in errored] == [web2]
    building = api.get("/servers", query_string="status=BUILD&name=1").json["servers"]
    assert {s["id"] for s in building} == {web1, db1}
    assert api.get("/servers", params={"status": "NOT-A-STATUS"}).json["servers"] == []
    assert api.get("/servers", params={"name": "("}).status_code == 400


def test_status_filter_tells_a_rebooting_server_from_an_active_one(api, db):
    active, rebooting = api.boot("a"), api.boot("r")
    place(db, active, "cmp-9")
    place(db, rebooting, "cmp-9")
    with db.writer() as session:
        instances.update_state(session, rebooting, {"task_state": states.REBOOTING})
    assert [s["id"] for s in api.get("/servers", params={"status": "ACTIVE"}).json["servers"]] == [active]
    assert [s["id"] for s in api.get("/servers", params={"status": "REBOOT"}).json["servers"]] == [rebooting]


def test_detail_shows_the_fault_of_an_error_server_with_details_for_admins_only(api, db):
    uuid = api.boot("broken")
    fail(db, uuid, details="Traceback: scheduler internals")
    for path in ("/servers/detail", f"/servers/{uuid}"):
        body = api.get(path).json
        server = body["servers"][0] if "servers" in body else body["server"]
        assert server["status"] == "ERROR"
        assert "progress" not in server
        assert server["fault"]["message"] == "No valid host was found. Not enough RAM."
        assert server["fault"]["code"] == 500
        assert server["fault"]["created"].endswith("Z")
        assert "details" not in server["fault"]
    admin_view = api.get(f"/servers/{uuid}", token=ADMIN).json["server"]
    assert admin_view["fault"]["details"] == "Traceback: scheduler internals"


def test_detail_shows_the_latest_fault(api, db):
    uuid = api.boot("broken")
    fail(db, uuid, message="first")
    fail(db, uuid, message="second")
    assert api.get("/servers/detail").json["servers"][0]["fault"]["message"] == "second"


def test_detail_of_a_hundred_servers_takes_four_queries(api, db):
    """The instances, the faults of those in ERROR, their fixed IPs, the zones of the hosts of those placed."""
    api.put("/os-quota-sets/p1", token=ADMIN, json={"quota_set": {"instances": 100, "cores": 100, "ram": -1}})
    response = api.post("/servers", json={"server": {"name": "many", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "min_count": 100, "max_count": 100}})
    assert response.status_code == 202
    uuids = [s["id"] for s in api.get("/servers").json["servers"]]
    for uuid in uuids[:50]:
        place(db, uuid, "cmp-9")
    for uuid in uuids[50:60]:
        fail(db, uuid)

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        body = api.get("/servers/detail").json
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(body["servers"]) == 100
    assert sum(1 for s in body["servers"] if "fault" in s) == 10
    assert len(selects) == 4, selects
