"""os-aggregates, and availability zones made of them: listed, bootable into, shown on servers."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, COMPUTE_HOST, IMAGE_ID, add_compute_node, add_service, place
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def action(api, aggregate_id, body, version=None):
    return api.post(f"/os-aggregates/{aggregate_id}/action", token=ADMIN, version=version, json=body)


@pytest.mark.parametrize("version", ["2.1", "2.41"])
def test_aggregate_verbs_conform(api, db, version):
    add_service(db, "cmp-1")
    created = api.post("/os-aggregates", token=ADMIN, version=version,
                       json={"aggregate": {"name": "fast", "availability_zone": "az1"}})
    conforms(created, version, "aggregates", "create_aggregate")
    aggregate_id = created.json["aggregate"]["id"]
    conforms(action(api, aggregate_id, {"add_host": {"host": "cmp-1"}}, version), version, "aggregates",
             "aggregate_add_remove_host")
    conforms(action(api, aggregate_id, {"set_metadata": {"metadata": {"ssd": "true"}}}, version), version,
             "aggregates", "aggregate_set_metadata")
    shown = api.get(f"/os-aggregates/{aggregate_id}", token=ADMIN, version=version)
    conforms(shown, version, "aggregates", "get_aggregate")
    assert shown.json["aggregate"]["hosts"] == ["cmp-1"]
    assert shown.json["aggregate"]["metadata"] == {"availability_zone": "az1", "ssd": "true"}
    conforms(api.get("/os-aggregates", token=ADMIN, version=version), version, "aggregates", "list_aggregates")
    conforms(api.put(f"/os-aggregates/{aggregate_id}", token=ADMIN, version=version,
                     json={"aggregate": {"name": "faster"}}), version, "aggregates", "update_aggregate")
    assert api.delete(f"/os-aggregates/{aggregate_id}", token=ADMIN, version=version).status_code == 400  # has hosts
    action(api, aggregate_id, {"remove_host": {"host": "cmp-1"}}, version)
    assert api.delete(f"/os-aggregates/{aggregate_id}", token=ADMIN, version=version).status_code == 200
    assert ("uuid" in created.json["aggregate"]) == (version == "2.41")


def test_aggregate_rules(api, db):
    add_service(db, "cmp-1")
    one = api.post("/os-aggregates", token=ADMIN, json={"aggregate": {"name": "a", "availability_zone": "az1"}})
    two = api.post("/os-aggregates", token=ADMIN, json={"aggregate": {"name": "b", "availability_zone": "az2"}})
    assert api.post("/os-aggregates", token=ADMIN, json={"aggregate": {"name": "a"}}).status_code == 409
    assert api.post("/os-aggregates", json={"aggregate": {"name": "c"}}).status_code == 403
    first, second = one.json["aggregate"]["id"], two.json["aggregate"]["id"]
    assert action(api, first, {"add_host": {"host": "nope"}}).status_code == 404
    assert action(api, first, {"add_host": {"host": "cmp-1"}}).status_code == 200
    assert action(api, first, {"add_host": {"host": "cmp-1"}}).status_code == 409
    clash = action(api, second, {"add_host": {"host": "cmp-1"}})
    assert clash.status_code == 400 and "already in availability zone(s) ['az1']" in clash.json["badRequest"]["message"]
    assert action(api, first, {"remove_host": {"host": "cmp-9"}}).status_code == 404
    assert api.get("/os-aggregates/999", token=ADMIN).status_code == 404


def test_zones_come_from_aggregates_for_listing_booting_and_showing(api, db):
    add_service(db, COMPUTE_HOST)
    add_compute_node(db, COMPUTE_HOST)
    created = api.post("/os-aggregates", token=ADMIN, json={"aggregate": {"name": "r1", "availability_zone": "az1"}})
    action(api, created.json["aggregate"]["id"], {"add_host": {"host": COMPUTE_HOST}})
    zones = api.get("/os-availability-zone").json["availabilityZoneInfo"]
    assert [zone["zoneName"] for zone in zones] == ["az1"]
    boot = {"server": {"name": "z", "flavorRef": "1", "imageRef": IMAGE_ID, "availability_zone": "az9"}}
    refused = api.post("/servers", json=boot)
    assert refused.status_code == 400
    assert refused.json["badRequest"]["message"] == "The requested availability zone is not available"
    boot["server"]["availability_zone"] = "az1"
    assert api.post("/servers", json=boot).status_code == 202
    unzoned = api.boot("anywhere")
    place(db, unzoned, COMPUTE_HOST)
    assert api.get(f"/servers/{unzoned}").json["server"]["OS-EXT-AZ:availability_zone"] == "az1"
    assert api.get(f"/servers/{unzoned}", version="2.96").json["server"]["pinned_availability_zone"] is None
