"""/servers/{id}/metadata, /tags (2.26) and /ips: Nova's verbs, states, locks and limits."""

from __future__ import annotations

import ipaddress

import pytest

from tests.api.conftest import ADMIN, BOB, COMPUTE_HOST, IMAGE_ID, place
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def active(api, db):
    uuid = api.boot("web", metadata={"role": "web"})
    place(db, uuid, COMPUTE_HOST)
    return uuid


def test_metadata_verbs(api, active):
    base = f"/servers/{active}/metadata"
    listed = api.get(base)
    conforms(listed, "2.1", "servers", "list_server_metadata")
    assert listed.json == {"metadata": {"role": "web"}}
    merged = api.post(base, json={"metadata": {"tier": "1"}})
    conforms(merged, "2.1", "servers", "update_server_metadata")
    assert merged.json == {"metadata": {"role": "web", "tier": "1"}}
    replaced = api.put(base, json={"metadata": {"only": "this"}})
    conforms(replaced, "2.1", "servers", "set_server_metadata")
    assert replaced.json == {"metadata": {"only": "this"}}
    item = api.put(f"{base}/color", json={"meta": {"color": "blue"}})
    conforms(item, "2.1", "servers", "set_show_server_metadata_item")
    conforms(api.get(f"{base}/color"), "2.1", "servers", "set_show_server_metadata_item")
    assert api.get(f"{base}/color").json == {"meta": {"color": "blue"}}
    conforms(api.delete(f"{base}/color"), "2.1", "servers", "delete_server_metadata_item")
    assert api.get(f"{base}/color").status_code == 404
    assert api.delete(f"{base}/color").status_code == 404
    assert api.get(f"/servers/{active}").json["server"]["metadata"] == {"only": "this"}


@pytest.mark.parametrize("path, body", [
    ("", {"metadata": {"k": 1}}),
    ("", {"meta": {"k": "v"}}),
    ("/k", {"meta": {"other": "v"}}),
    ("/k", {"meta": {"k": "v", "j": "w"}}),
    ("/k", {"meta": {}}),
])
def test_bad_metadata_bodies_are_400(api, active, path, body):
    method = api.put if path else api.post
    assert method(f"/servers/{active}/metadata{path}", json=body).status_code == 400


def test_metadata_changes_need_a_settled_unlocked_server_within_the_quota(api, active):
    building = api.boot("new")
    refused = api.post(f"/servers/{building}/metadata", json={"metadata": {"a": "b"}})
    assert refused.status_code == 409
    assert refused.json["conflictingRequest"]["message"] == (
        f"Cannot 'update_metadata' instance {building} while it is in vm_state building")
    api.post(f"/servers/{active}/action", json={"lock": None})
    assert api.post(f"/servers/{active}/metadata", json={"metadata": {"a": "b"}}).status_code == 409
    assert api.post(f"/servers/{active}/metadata", token=ADMIN, json={"metadata": {"a": "b"}}).status_code == 200
    api.post(f"/servers/{active}/action", json={"unlock": None})
    api.put("/os-quota-sets/p1", token=ADMIN, json={"quota_set": {"metadata_items": 2}})
    over = api.post(f"/servers/{active}/metadata", json={"metadata": {"c": "d"}})
    assert over.status_code == 403 and "metadata items" in over.json["forbidden"]["message"]
    assert api.get(f"/servers/{active}/metadata", token=BOB).status_code == 404


def test_tags_verbs_from_2_26(api, active):
    base = f"/servers/{active}/tags"
    assert api.get(base, version="2.25").status_code == 404
    conforms(api.get(base, version="2.26"), "2.26", "servers", "list_tags")
    added = api.put(f"{base}/blue", version="2.26")
    conforms(added, "2.26", "servers", "update_tag")
    assert added.status_code == 201 and added.headers["Location"].endswith(f"{base}/blue")
    assert api.put(f"{base}/blue", version="2.26").status_code == 204
    assert api.get(f"{base}/blue", version="2.26").status_code == 204
    assert api.get(f"{base}/red", version="2.26").status_code == 404
    replaced = api.put(base, version="2.26", json={"tags": ["b", "a", "a"]})
    conforms(replaced, "2.26", "servers", "update_all_tags")
    assert replaced.json == {"tags": ["a", "b"]}
    assert api.get(f"/servers/{active}", version="2.26").json["server"]["tags"] == ["a", "b"]
    conforms(api.delete(f"{base}/a", version="2.26"), "2.26", "servers", "delete_tag")
    assert api.delete(f"{base}/a", version="2.26").status_code == 404
    conforms(api.delete(base, version="2.26"), "2.26", "servers", "delete_all_tags")
    assert api.get(base, version="2.26").json == {"tags": []}


def test_tags_are_validated_and_limited_to_fifty(api, active):
    base = f"/servers/{active}/tags"
    assert api.put(base, version="2.26", json={"tags": ["a,b"]}).status_code == 400
    assert api.put(base, version="2.26", json={"tags": ["x" * 61]}).status_code == 400
    assert api.put(base, version="2.26", json={"tags": [f"t{n}" for n in range(51)]}).status_code == 400
    assert api.put(base, version="2.26", json={"tags": [f"t{n}" for n in range(50)]}).status_code == 200
    over = api.put(f"{base}/one-more", version="2.26")
    assert over.status_code == 400
    assert over.json["badRequest"]["message"] == "The number of tags exceeded the per-server limit 50"
    assert api.put(f"/servers/{active}/tags/x", version="2.26", token=BOB).status_code == 404


def test_ips_show_the_fixed_ip_the_server_got_at_create_by_network(api, active):
    listed = api.get(f"/servers/{active}/ips")
    conforms(listed, "2.1", "servers", "list_addresses")
    [address] = listed.json["addresses"]["private"]
    assert ipaddress.ip_address(address["addr"]) in ipaddress.ip_network("198.18.0.0/16")
    assert address["version"] == 4 and address["OS-EXT-IPS:type"] == "fixed"
    assert address["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:")
    one = api.get(f"/servers/{active}/ips/private")
    conforms(one, "2.1", "servers", "list_addresses_by_network")
    assert one.json == {"private": [address]}
    assert api.get(f"/servers/{active}/ips/public").status_code == 404
    assert api.get(f"/servers/{active}").json["server"]["addresses"] == {"private": [address]}


def test_a_server_created_with_networks_none_has_no_address(api):
    created = api.post("/servers", version="2.37", json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none"}})
    assert created.status_code == 202, created.text
    uuid = created.json["server"]["id"]
    assert api.get(f"/servers/{uuid}/ips").json == {"addresses": {}}
    assert api.get(f"/servers/{uuid}/ips/private").status_code == 404
