"""GET /servers across microversions: sorting, the filters each caller may use, and strictness."""

from __future__ import annotations

import datetime as dt

import pytest

from ncloud.daemons.core import instances
from ncloud.daemons.core.db.models import Instance
from tests.api.conftest import ADMIN, BOB, IMAGE_ID, place

pytestmark = pytest.mark.usefixtures("seeded")


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [server["name"] for server in response.json["servers"]]


def boot(api, name, version="2.52", **server):
    response = api.post("/servers", version=version, json={"server": {
        "name": name, "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none", **server}})
    assert response.status_code == 202, response.text
    return response.json["server"]["id"]


def test_sorting_by_keys_and_directions_pages_through_every_server_once(api):
    for name in ("c", "a", "d", "b", "a"):
        api.boot(name)
    assert names(api.get("/servers?sort_key=display_name&sort_dir=asc")) == ["a", "a", "b", "c", "d"]
    assert names(api.get("/servers?sort_key=display_name&sort_dir=desc")) == ["d", "c", "b", "a", "a"]
    seen, marker = [], None
    while True:
        query = "sort_key=display_name&sort_dir=asc&limit=2" + (f"&marker={marker}" if marker else "")
        page = api.get(f"/servers?{query}").json
        seen += [server["id"] for server in page["servers"]]
        if "servers_links" not in page:
            break
        marker = page["servers"][-1]["id"]
    assert len(seen) == len(set(seen)) == 5
    assert api.get("/servers?sort_key=display_name&sort_dir=up").status_code == 400
    assert api.get("/servers?sort_key=nonsense").status_code == 400
    assert api.get("/servers?sort_dir=asc&sort_dir=desc").status_code == 400


def test_host_and_node_are_admin_sort_keys(api):
    api.boot("a")
    response = api.get("/servers?sort_key=host")
    assert response.status_code == 403
    assert response.json["forbidden"]["message"] == "Only administrators can sort servers by host"
    assert api.get("/servers?sort_key=host", token=ADMIN).status_code == 200


def test_keys_nova_ignored_are_ignored_until_2_75_then_refused(api):
    api.boot("a")
    assert names(api.get("/servers?sort_key=vcpus", version="2.74")) == ["a"]
    assert api.get("/servers?sort_key=vcpus", version="2.75").status_code == 400
    assert names(api.get("/servers?whatever=1", version="2.74")) == ["a"]
    assert api.get("/servers?whatever=1", version="2.75").status_code == 400
    for internal in ("_secret=1", "metadata=x", "system_metadata=x"):
        refused = api.get(f"/servers?{internal}", version="2.1")
        assert refused.status_code == 400, internal
        assert refused.json["badRequest"]["message"].startswith("Invalid filter field")


def test_an_unknown_status_is_an_empty_list_before_2_38_and_a_400_from_it(api):
    api.boot("a")
    assert names(api.get("/servers?status=NOPE", version="2.37")) == []
    refused = api.get("/servers?status=NOPE", version="2.38")
    assert refused.status_code == 400 and refused.json["badRequest"]["message"] == "Invalid status value"


def test_tag_filters_from_2_26(api):
    boot(api, "blue-edge", tags=["blue", "edge"])
    boot(api, "blue", tags=["blue"])
    boot(api, "none")
    assert sorted(names(api.get("/servers?tags=blue", version="2.26"))) == ["blue", "blue-edge"]
    assert names(api.get("/servers?tags=blue,edge", version="2.26")) == ["blue-edge"]
    assert sorted(names(api.get("/servers?tags-any=edge,blue", version="2.26"))) == ["blue", "blue-edge"]
    assert sorted(names(api.get("/servers?not-tags=blue,edge", version="2.26"))) == ["blue", "none"]
    assert names(api.get("/servers?not-tags-any=blue", version="2.26")) == ["none"]
    assert len(names(api.get("/servers?tags=blue", version="2.25"))) == 3  # not a filter yet: ignored


def test_changes_since_and_before_include_deleted_servers(api, db):
    old, new = api.boot("old"), api.boot("new")
    with db.writer() as session:
        session.get(Instance, instances.get(session, old).id).updated_at = dt.datetime(2020, 1, 1)
        row = session.get(Instance, instances.get(session, new).id)
        row.deleted, row.vm_state = True, "deleted"
    assert names(api.get("/servers")) == ["old"]
    assert names(api.get("/servers?changes-since=2021-01-01T00:00:00Z")) == ["new"]
    assert names(api.get("/servers?changes-before=2021-01-01T00:00:00Z", version="2.66")) == ["old"]
    assert len(names(api.get("/servers?changes-before=2021-01-01T00:00:00Z", version="2.65"))) == 1  # ignored
    reversed_range = api.get("/servers?changes-since=2022-01-01T00:00:00Z&changes-before=2021-01-01T00:00:00Z",
                             version="2.66")
    assert reversed_range.status_code == 400
    assert api.get("/servers?changes-since=yesterday").status_code == 400


def test_locked_filter_from_2_73(api, db):
    locked = api.boot("locked")
    api.boot("free")
    with db.writer() as session:
        session.get(Instance, instances.get(session, locked).id).locked = True
    assert names(api.get("/servers?locked=true", version="2.73")) == ["locked"]
    assert names(api.get("/servers?locked=false", version="2.73")) == ["free"]
    assert len(names(api.get("/servers?locked=true", version="2.72"))) == 2


def test_admin_only_filters_are_dropped_for_members_and_opened_at_2_83(api, db, ed25519_key):
    api.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": ed25519_key}})
    keyed, plain = boot(api, "keyed", key_name="k"), api.boot("plain")
    place(db, keyed, "cmp-1")
    place(db, plain, "cmp-2")
    assert len(names(api.get("/servers?host=cmp-1"))) == 2  # a member's host filter: dropped
    assert names(api.get("/servers?host=cmp-1&all_tenants=1", token=ADMIN)) == ["keyed"]
    assert len(names(api.get("/servers?key_name=k", version="2.82"))) == 2
    assert names(api.get("/servers?key_name=k", version="2.83")) == ["keyed"]
    assert names(api.get("/servers?vm_state=active&power_state=1", version="2.83")) == ["plain", "keyed"]
    assert api.get("/servers?power_state=on", version="2.83").status_code == 400


def test_all_tenants_is_an_admin_filter_and_project_id_narrows_it(api):
    api.boot("alices")
    api.boot("bobs", token=BOB)
    assert api.get("/servers?all_tenants=1").status_code == 403
    assert sorted(names(api.get("/servers?all_tenants=1", token=ADMIN))) == ["alices", "bobs"]
    assert names(api.get("/servers?all_tenants=1&project_id=p2", token=ADMIN)) == ["bobs"]
