"""os-availability-zone: the zones users may ask for, and (for admins) which services run where."""

from __future__ import annotations

from tests.api.conftest import ADMIN, add_service
from tests.api.tempest_schemas import conforms


def test_zones_list_and_detail(api, db):
    add_service(db, "cmp-1")
    add_service(db, "cmp-2", alive=False, disabled=True)
    add_service(db, "ctl", binary="ncloud-conductor")
    listed = api.get("/os-availability-zone")
    conforms(listed, "2.1", "availability_zone", "list_availability_zone_list")
    assert listed.json == {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True},
                                                     "hosts": None}]}
    detail = api.get("/os-availability-zone/detail", token=ADMIN)
    conforms(detail, "2.1", "availability_zone", "list_availability_zone_list_detail")
    zones = {zone["zoneName"]: zone for zone in detail.json["availabilityZoneInfo"]}
    assert set(zones) == {"nova", "internal"}
    hosts = zones["nova"]["hosts"]
    assert (hosts["cmp-1"]["ncloud-compute"]["available"], hosts["cmp-1"]["ncloud-compute"]["active"]) == (True, True)
    assert (hosts["cmp-2"]["ncloud-compute"]["available"], hosts["cmp-2"]["ncloud-compute"]["active"]) == (
        False, False)
    assert list(zones["internal"]["hosts"]["ctl"]) == ["ncloud-conductor"]
    assert api.get("/os-availability-zone/detail").status_code == 403


def test_a_zone_whose_computes_are_all_disabled_is_unavailable(api, db):
    add_service(db, "cmp-1", disabled=True)
    assert api.get("/os-availability-zone").json["availabilityZoneInfo"][0]["zoneState"] == {"available": False}
