"""/servers/{id}/os-instance-actions: every request that changed a server, findable by its request id."""

from __future__ import annotations

import pytest

from ncloud.daemons.core import instances
from tests.api.conftest import ADMIN, BOB, COMPUTE_HOST, IMAGE_ID, place
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def booted(api, db):
    """A server, the request id of its boot, and one finished event of that boot."""
    response = api.post("/servers", json={"server": {"name": "web", "flavorRef": "1", "imageRef": IMAGE_ID}})
    uuid, request_id = response.json["server"]["id"], response.headers["X-Openstack-Request-Id"]
    place(db, uuid, COMPUTE_HOST)
    with db.writer() as session:
        instances.record_event(session, uuid, request_id, "compute_build_and_run_instance", COMPUTE_HOST,
                               result="Success", details=None, finish=True, traceback="admins only")
    return uuid, request_id


@pytest.mark.parametrize("version", ["2.1", "2.21", "2.51", "2.58", "2.62", "2.84", "2.100"])
def test_list_and_show_conform(api, booted, version):
    uuid, request_id = booted
    listed = api.get(f"/servers/{uuid}/os-instance-actions", version=version)
    conforms(listed, version, "servers", "list_instance_actions")
    assert [a["request_id"] for a in listed.json["instanceActions"]] == [request_id]
    for token in ("alice:p1", ADMIN):
        shown = api.get(f"/servers/{uuid}/os-instance-actions/{request_id}", version=version, token=token)
        conforms(shown, version, "servers", "show_instance_action")
        action = shown.json["instanceAction"]
        assert action["action"] == "create" and action["user_id"] == "alice"
        sees_events = token == ADMIN or int(version.split(".")[1]) >= 51
        assert ("events" in action) == sees_events
        if sees_events:
            event = action["events"][0]
            assert (event["event"], event["result"]) == ("compute_build_and_run_instance", "Success")
            assert ("traceback" in event) == (token == ADMIN)


def test_unknown_request_ids_other_projects_and_deleted_servers(api, db, booted):
    uuid, request_id = booted
    missing = api.get(f"/servers/{uuid}/os-instance-actions/req-nope")
    assert missing.status_code == 404
    assert missing.json["itemNotFound"]["message"] == f"Action for request_id req-nope on instance {uuid} not found"
    assert api.get(f"/servers/{uuid}/os-instance-actions", token=BOB).status_code == 404
    assert api.delete(f"/servers/{uuid}").status_code == 204
    with db.writer() as session:
        instances.mark_deleted(session, uuid)
    assert api.get(f"/servers/{uuid}/os-instance-actions", version="2.20").status_code == 404
    actions = api.get(f"/servers/{uuid}/os-instance-actions", version="2.21").json["instanceActions"]
    assert [a["action"] for a in actions] == ["delete", "create"]


def test_from_2_58_actions_page_by_request_id(api, booted):
    uuid, create_id = booted
    stops = [api.post(f"/servers/{uuid}/action", json={"lock": None}).headers["X-Openstack-Request-Id"],
             api.post(f"/servers/{uuid}/action", json={"unlock": None}).headers["X-Openstack-Request-Id"]]
    first = api.get(f"/servers/{uuid}/os-instance-actions?limit=2", version="2.58").json
    assert [a["request_id"] for a in first["instanceActions"]] == stops[::-1]
    assert first["links"][0]["href"].endswith(f"limit=2&marker={stops[0]}")
    rest = api.get(f"/servers/{uuid}/os-instance-actions?limit=2&marker={stops[0]}", version="2.58").json
    assert [a["request_id"] for a in rest["instanceActions"]] == [create_id]
    assert api.get(f"/servers/{uuid}/os-instance-actions?marker=req-x", version="2.58").status_code == 400
    assert api.get(f"/servers/{uuid}/os-instance-actions?bogus=1", version="2.58").status_code == 400
    assert api.get(f"/servers/{uuid}/os-instance-actions?limit=1", version="2.57").json["instanceActions"].__len__() \
        == 3
