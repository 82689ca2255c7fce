"""POST /servers/{id}/action: state rules, locks, the cast to the host, the console log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ncloud.daemons.core import instances, states
from ncloud.daemons.core.db.models import InstanceAction
from tests.api.conftest import ADMIN, BOB, COMPUTE_HOST, place

pytestmark = pytest.mark.usefixtures("seeded")


def act(api, uuid, body, token="alice:p1", version=None):
    return api.post(f"/servers/{uuid}/action", json=body, token=token, version=version)


def server(api, uuid, token="alice:p1"):
    return api.get(f"/servers/{uuid}", token=token, version="2.73").json["server"]


@pytest.fixture
def active(api, db):
    uuid = api.boot("web")
    place(db, uuid, COMPUTE_HOST)
    return uuid


@pytest.mark.parametrize("body, action, task_state", [
    ({"os-stop": None}, "stop", "powering-off"),
    ({"reboot": {"type": "SOFT"}}, "reboot", "rebooting"),
    ({"reboot": {"type": "hard"}}, "reboot_hard", "rebooting_hard"),
    ({"pause": None}, "pause", "pausing"),
    ({"suspend": None}, "suspend", "suspending"),
])
def test_a_power_action_sets_its_task_state_records_the_action_and_casts_to_the_host(
        api, db, compute, active, body, action, task_state):
    response = act(api, active, body)
    assert response.status_code == 202, response.text
    assert server(api, active)["OS-EXT-STS:task_state"] == task_state
    ctx, args = compute.wait_for("power_action", lambda a: a["instance"]["uuid"] == active and a["action"] == action)
    assert args["instance"]["task_state"] == task_state
    with db.reader() as session:
        recorded = session.scalars(select(InstanceAction).where(InstanceAction.instance_uuid == active)
                                   .order_by(InstanceAction.id)).all()
    assert [(row.action, row.request_id) for row in recorded][-1] == (
        "reboot" if action.startswith("reboot") else action, response.headers["X-Openstack-Request-Id"])


def test_an_action_in_the_wrong_state_is_409_in_novas_words(api, db, active):
    started = act(api, active, {"os-start": None})
    assert started.status_code == 409
    assert started.json["conflictingRequest"]["message"] == (
        f"Cannot 'os-start' instance {active} while it is in vm_state active")
    assert act(api, active, {"os-stop": None}).status_code == 202
    again = act(api, active, {"os-stop": None})
    assert again.status_code == 409
    assert again.json["conflictingRequest"]["message"].endswith("while it is in task_state powering-off")
    # a hard reboot overrides a stuck task, a soft one does not
    with db.writer() as session:
        instances.update_state(session, active, {"task_state": states.REBOOTING})
    assert act(api, active, {"reboot": {"type": "SOFT"}}).status_code == 409
    assert act(api, active, {"reboot": {"type": "HARD"}}).status_code == 202


def test_a_server_not_yet_on_a_host_cannot_be_stopped(api):
    uuid = api.boot("waiting")
    assert act(api, uuid, {"os-stop": None}).status_code == 409


@pytest.mark.parametrize("body", [
    {"os-stop": {}}, {"reboot": {"type": "gentle"}}, {"reboot": {}}, {"fly": None}, {"os-stop": None, "pause": None},
    [], {"os-getConsoleOutput": {"length": "x"}},
])
def test_bad_action_bodies_are_400(api, active, body):
    response = act(api, active, body)
    assert response.status_code == 400, response.text


def test_another_projects_server_is_404_and_an_admin_may_act_on_any(api, active):
    assert act(api, active, {"os-stop": None}, token=BOB).status_code == 404
    assert act(api, active, {"os-stop": None}, token=ADMIN).status_code == 202


def test_a_locked_server_refuses_its_owner_but_not_an_admin(api, active):
    assert act(api, active, {"lock": {"locked_reason": "audit"}}, version="2.73").status_code == 202
    shown = server(api, active)
    assert (shown["locked"], shown["locked_reason"]) == (True, "audit")
    refused = act(api, active, {"os-stop": None})
    assert refused.status_code == 409 and refused.json["conflictingRequest"]["message"] == (
        f"Instance {active} is locked")
    assert api.delete(f"/servers/{active}").status_code == 409
    assert act(api, active, {"lock": {"locked_reason": "x"}}, version="2.72").status_code == 400  # no body before
    assert act(api, active, {"unlock": None}).status_code == 202
    assert server(api, active)["locked"] is False
    # an admin's lock is the admin's to lift
    assert act(api, active, {"lock": None}, token=ADMIN).status_code == 202
    assert act(api, active, {"unlock": None}).status_code == 403
    assert act(api, active, {"unlock": None}, token=ADMIN).status_code == 202


def test_the_console_log_is_the_hosts_last_lines(api, active):
    response = act(api, active, {"os-getConsoleOutput": {"length": 2}})
    assert response.status_code == 200
    assert response.json == {"output": "line 4\nline 5\n"}
    assert act(api, active, {"os-getConsoleOutput": {"length": -1}}).json["output"].count("\n") == 5
    assert act(api, active, {"os-getConsoleOutput": {}}).json["output"].count("\n") == 5


def test_change_password_asks_the_host_while_the_server_is_updating_its_password(api, compute, active):
    assert act(api, active, {"changePassword": {"adminPass": "s3cret"}}).status_code == 202
    _, args = compute.wait_for("set_admin_password", lambda a: a["instance"]["uuid"] == active)
    assert args["password"] == "s3cret" and args["instance"]["task_state"] == "updating_password"
    assert act(api, active, {"changePassword": {}}).status_code == 400


def test_trigger_crash_dump_is_2_17s(api, compute, active):
    assert act(api, active, {"trigger_crash_dump": None}, version="2.16").status_code == 404
    assert act(api, active, {"trigger_crash_dump": None}, version="2.17").status_code == 202
    compute.wait_for("trigger_crash_dump", lambda a: a["instance"]["uuid"] == active)


def test_reset_state_is_an_admins_way_out(api, db, active):
    with db.writer() as session:
        instances.update_state(session, active, {"task_state": states.POWERING_OFF})
    assert act(api, active, {"os-resetState": {"state": "error"}}).status_code == 403
    assert act(api, active, {"os-resetState": {"state": "stuck"}}, token=ADMIN).status_code == 400
    assert act(api, active, {"os-resetState": {"state": "error"}}, token=ADMIN).status_code == 202
    shown = server(api, active)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ERROR", None)
    assert act(api, active, {"os-resetState": {"state": "active"}}, token=ADMIN).status_code == 202
    assert server(api, active)["status"] == "ACTIVE"
