"""/os-services and /os-hypervisors: what admins see of the cloud's daemons and hosts."""

from __future__ import annotations

import json

import pytest

from ncloud.daemons.core import instances
from tests.api.conftest import ADMIN, add_compute_node, add_service, place
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def test_os_services_lists_every_service_with_zone_status_and_state(api, db):
    compute_id = add_service(db, "cmp-1")
    add_service(db, "cmp-2", alive=False, disabled=True)
    add_service(db, "ctl", binary="ncloud-conductor")
    services = api.get("/os-services", token=ADMIN, version="2.11").json["services"]
    assert [(s["binary"], s["host"], s["zone"], s["status"], s["state"]) for s in services] == [
        ("ncloud-compute", "cmp-1", "nova", "enabled", "up"),
        ("ncloud-compute", "cmp-2", "nova", "disabled", "down"),
        ("ncloud-conductor", "ctl", "internal", "enabled", "up")]
    first = services[0]
    assert set(first) == {"id", "binary", "host", "zone", "status", "state", "updated_at", "disabled_reason",
                          "forced_down"}
    assert first["id"] == compute_id and first["forced_down"] is False and first["disabled_reason"] is None
    assert services[1]["disabled_reason"] == "maintenance"
    assert len(first["updated_at"]) == len("2012-10-29T13:42:02.000000")
    assert "forced_down" not in api.get("/os-services", token=ADMIN).json["services"][0]  # before 2.11


def test_os_services_filters_by_host_and_binary(api, db):
    add_service(db, "cmp-1")
    add_service(db, "cmp-2")
    add_service(db, "cmp-1", binary="ncloud-conductor")
    assert len(api.get("/os-services", token=ADMIN, params={"host": "cmp-1"}).json["services"]) == 2
    only = api.get("/os-services", token=ADMIN, params={"host": "cmp-1", "binary": "ncloud-compute"}).json
    assert [(s["host"], s["binary"]) for s in only["services"]] == [("cmp-1", "ncloud-compute")]


def test_os_services_and_os_hypervisors_are_forbidden_to_non_admins(api):
    for path in ("/os-services", "/os-hypervisors", "/os-hypervisors/detail", "/os-hypervisors/1"):
        response = api.get(path)
        assert response.status_code == 403, path
        assert list(response.json) == ["forbidden"]


def test_os_hypervisors_lists_compute_nodes_with_their_service_state(api, db):
    add_service(db, "cmp-1")
    add_service(db, "cmp-2", alive=False, disabled=True)
    first, _ = add_compute_node(db, "cmp-1")
    second, _ = add_compute_node(db, "cmp-2")
    hypervisors = api.get("/os-hypervisors", token=ADMIN).json["hypervisors"]
    assert hypervisors == [
        {"id": first, "hypervisor_hostname": "cmp-1.local", "state": "up", "status": "enabled"},
        {"id": second, "hypervisor_hostname": "cmp-2.local", "state": "down", "status": "disabled"}]


def test_os_hypervisors_detail_reports_capacity_and_usage_from_placement(api, db):
    service_id = add_service(db, "cmp-1")
    node_id, provider_id = add_compute_node(db, "cmp-1", vcpus=8, memory_mb=8192, local_gb=100,
                                            reserved_memory_mb=512)
    for name in ("a", "b"):
        place(db, api.boot(name, flavorRef="2"), "cmp-1", provider_id)  # 1 VCPU, 2048 MiB, 20 GiB each

    hypervisor = api.get("/os-hypervisors/detail", token=ADMIN).json["hypervisors"][0]

    assert hypervisor == {
        "id": node_id, "hypervisor_hostname": "cmp-1.local", "state": "up", "status": "enabled",
        "vcpus": 8, "memory_mb": 8192, "local_gb": 100,
        "vcpus_used": 2, "memory_mb_used": 512 + 4096, "local_gb_used": 40,
        "free_ram_mb": 8192 - 512 - 4096, "free_disk_gb": 60, "disk_available_least": 60,
        "running_vms": 2, "current_workload": 0, "hypervisor_type": "fake", "hypervisor_version": 1000,
        "host_ip": "198.51.100.11", "cpu_info": json.dumps({"arch": "x86_64"}),
        "service": {"host": "cmp-1", "id": service_id, "disabled_reason": None}}
    assert api.get(f"/os-hypervisors/{node_id}", token=ADMIN).json["hypervisor"] == hypervisor
    missing = api.get("/os-hypervisors/999", token=ADMIN)
    assert missing.status_code == 404 and list(missing.json) == ["itemNotFound"]


def test_before_2_53_services_change_by_host_and_binary(api, db):
    add_service(db, "cmp-1")
    disabled = api.put("/os-services/disable-log-reason", token=ADMIN, json={
        "host": "cmp-1", "binary": "ncloud-compute", "disabled_reason": "disk swap"})
    conforms(disabled, "2.1", "services", "disable_log_reason")
    assert disabled.json["service"] == {"host": "cmp-1", "binary": "ncloud-compute", "status": "disabled",
                                        "disabled_reason": "disk swap"}
    enabled = api.put("/os-services/enable", token=ADMIN, json={"host": "cmp-1", "binary": "ncloud-compute"})
    conforms(enabled, "2.1", "services", "enable_disable_service")
    assert api.put("/os-services/force-down", token=ADMIN, version="2.10",
                   json={"host": "cmp-1", "binary": "ncloud-compute", "forced_down": True}).status_code == 404
    down = api.put("/os-services/force-down", token=ADMIN, version="2.11",
                   json={"host": "cmp-1", "binary": "ncloud-compute", "forced_down": True})
    conforms(down, "2.11", "services", "update_forced_down")
    listed = api.get("/os-services", token=ADMIN, version="2.11").json["services"][0]
    assert (listed["forced_down"], listed["state"]) == (True, "down")
    assert api.put("/os-services/disable", token=ADMIN, json={"host": "nope", "binary": "x"}).status_code == 404
    assert api.put("/os-services/disable", json={"host": "cmp-1", "binary": "ncloud-compute"}).status_code == 403


def test_from_2_53_services_change_and_go_by_uuid(api, db, seeded):
    add_service(db, "cmp-1")
    add_compute_node(db, "cmp-1")
    service = api.get("/os-services", token=ADMIN, version="2.53").json["services"][0]
    updated = api.put(f"/os-services/{service['id']}", token=ADMIN, version="2.53",
                      json={"status": "disabled", "disabled_reason": "maintenance"})
    conforms(updated, "2.53", "services", "update_service")
    assert (updated.json["service"]["status"], updated.json["service"]["disabled_reason"]) == (
        "disabled", "maintenance")
    assert api.put(f"/os-services/{service['id']}", token=ADMIN, version="2.53",
                   json={"status": "enabled", "disabled_reason": "x"}).status_code == 400
    # the old verbs are gone: "enable" is now a service id that does not exist
    assert api.put("/os-services/enable", token=ADMIN, version="2.53", json={"status": "enabled"}).status_code == 404
    uuid = api.boot("web")
    place(db, uuid, "cmp-1")
    busy = api.delete(f"/os-services/{service['id']}", token=ADMIN, version="2.53")
    assert busy.status_code == 409
    with db.writer() as session:
        instances.mark_deleted(session, uuid)
    assert api.delete(f"/os-services/{service['id']}", token=ADMIN, version="2.53").status_code == 204
    assert api.get("/os-services", token=ADMIN).json["services"] == []
    assert api.get("/os-hypervisors", token=ADMIN).json["hypervisors"] == []
