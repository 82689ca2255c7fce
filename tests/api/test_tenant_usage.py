"""os-simple-tenant-usage: hours of VCPU, RAM and disk per project over a window."""

from __future__ import annotations

import datetime as dt

import pytest

from ncloud.daemons.core import instances
from ncloud.daemons.core.db.models import Instance
from tests.api.conftest import ADMIN, BOB, COMPUTE_HOST, place
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def ran(db, uuid, launched: str, terminated: str | None = None) -> None:
    with db.writer() as session:
        row = session.get(Instance, instances.get(session, uuid, include_deleted=True).id)
        row.launched_at = dt.datetime.fromisoformat(launched)
        if terminated:
            row.terminated_at, row.deleted = dt.datetime.fromisoformat(terminated), True


@pytest.fixture
def usage(api, db):
    """Two of alice's servers and one of bob's, with known run times in January 2026."""
    web, old, bobs = api.boot("web", flavorRef="2"), api.boot("old"), api.boot("bobs", token=BOB)
    for uuid in (web, old, bobs):
        place(db, uuid, COMPUTE_HOST)
    ran(db, web, "2026-01-01T00:00:00")
    ran(db, old, "2025-12-31T00:00:00", terminated="2026-01-01T12:00:00")
    ran(db, bobs, "2026-01-01T06:00:00")
    return web, old, bobs


WINDOW = "start=2026-01-01T00:00:00&end=2026-01-02T00:00:00"


def test_a_project_reads_its_own_usage_within_the_window(api, usage):
    web, old, _ = usage
    response = api.get(f"/os-simple-tenant-usage/p1?{WINDOW}")
    conforms(response, "2.1", "tenant_usages", "get_tenant_usage")
    body = response.json["tenant_usage"]
    hours = {server["instance_id"]: server["hours"] for server in body["server_usages"]}
    assert hours == {web: 24.0, old: 12.0}
    states = {server["instance_id"]: server["state"] for server in body["server_usages"]}
    assert states == {web: "active", old: "terminated"}
    assert body["total_hours"] == 36.0
    assert body["total_vcpus_usage"] == 36.0  # one VCPU each
    assert body["total_memory_mb_usage"] == 24 * 2048 + 12 * 512
    assert api.get(f"/os-simple-tenant-usage/p2?{WINDOW}").status_code == 403


def test_an_admin_lists_every_project(api, usage):
    listed = api.get(f"/os-simple-tenant-usage?{WINDOW}", token=ADMIN)
    conforms(listed, "2.1", "tenant_usages", "list_tenant_usage")
    totals = {usage["tenant_id"]: usage["total_hours"] for usage in listed.json["tenant_usages"]}
    assert totals == {"p1": 36.0, "p2": 18.0}
    assert "server_usages" not in listed.json["tenant_usages"][0]
    detailed = api.get(f"/os-simple-tenant-usage?{WINDOW}&detailed=1", token=ADMIN).json["tenant_usages"]
    assert all("server_usages" in usage for usage in detailed)
    assert api.get(f"/os-simple-tenant-usage?{WINDOW}").status_code == 403


def test_from_2_40_servers_are_paged(api, usage):
    first = api.get(f"/os-simple-tenant-usage/p1?{WINDOW}&limit=1", version="2.40").json
    assert len(first["tenant_usage"]["server_usages"]) == 1
    marker = first["tenant_usage"]["server_usages"][0]["instance_id"]
    assert first["tenant_usage_links"][0]["href"].endswith(f"marker={marker}")
    rest = api.get(f"/os-simple-tenant-usage/p1?{WINDOW}&limit=1&marker={marker}", version="2.40").json
    assert rest["tenant_usage"]["server_usages"][0]["instance_id"] != marker


def test_a_window_that_ends_before_it_starts_is_400(api):
    assert api.get("/os-simple-tenant-usage/p1?start=2026-02-01T00:00:00&end=2026-01-01T00:00:00").status_code == 400
    assert api.get("/os-simple-tenant-usage/p1?start=yesterday").status_code == 400
