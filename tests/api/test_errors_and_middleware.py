"""What every response carries (request ids, microversion headers) and Nova's error bodies everywhere."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text

from ncloud.daemons.core import context
from tests.api.conftest import ADMIN, ALICE, IMAGE_ID

pytestmark = pytest.mark.usefixtures("seeded")

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def assert_request_id(response) -> str:
    request_id = response.headers["X-Openstack-Request-Id"]
    assert REQUEST_ID.fullmatch(request_id)
    assert response.headers["X-Compute-Request-Id"] == request_id
    return request_id


@pytest.mark.parametrize("method, path, token, status, fault", [
    ("GET", "/servers", ALICE, 200, None),
    ("GET", "/compute/v2.1/no-such-thing", ALICE, 404, "itemNotFound"),
    ("GET", "/compute/nowhere", None, 404, "itemNotFound"),
    ("GET", "/servers", None, 401, "unauthorized"),
    ("PUT", "/servers", ALICE, 405, "badMethod"),
    ("GET", "/os-services", ALICE, 403, "forbidden"),
])
def test_every_response_carries_a_request_id_and_errors_have_novas_body(api, method, path, token, status, fault):
    response = api.request(method, path, token=token)
    assert response.status_code == status
    assert_request_id(response)
    if fault:
        assert list(response.json) == [fault]
        assert response.json[fault]["code"] == status
        assert isinstance(response.json[fault]["message"], str)


def test_wrong_method_says_which_methods_are_allowed(api):
    response = api.request("PATCH", "/flavors")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


class ContextCapture(logging.Handler):
    """Notes the request id current when each record is emitted, as core/log's filter reads it."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen: list[tuple[str | None, str, bool]] = []

    def emit(self, record):
        ctx = context.current()
        self.seen.append((ctx.request_id if ctx else None, record.getMessage(), record.exc_info is not None))


def test_an_unexpected_error_is_a_generic_compute_fault_with_the_request_id_and_no_internals(api, db):
    with db.writer() as session:
        session.execute(text("DROP TABLE services"))
    capture = ContextCapture()
    logging.getLogger("ncloud.daemons.api").addHandler(capture)
    try:
        response = api.get("/os-services", token=ADMIN)
    finally:
        logging.getLogger("ncloud.daemons.api").removeHandler(capture)
    assert response.status_code == 500
    request_id = assert_request_id(response)
    assert list(response.json) == ["computeFault"]
    message = response.json["computeFault"]["message"]
    assert "services" not in message and "sqlite" not in message.lower()
    # The traceback is in the log, under the request's id.
    assert (request_id, "GET /compute/v2.1/os-services raised an unexpected error", True) in capture.seen


def test_requests_get_distinct_ids_and_a_clients_malformed_id_is_not_kept(api, conductor):
    first = assert_request_id(api.get("/servers"))
    response = api.post("/servers", headers={"X-Openstack-Request-Id": "req-not-a-uuid"},
                        json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID}})
    second = assert_request_id(response)
    assert first != second
    uuid = response.json["server"]["id"]
    ctx, _ = conductor.wait_for("build_instances", lambda args: uuid in args["instance_uuids"])
    assert ctx["global_request_id"] is None and ctx["request_id"] == second


def test_noauth2_tokens_give_user_project_and_roles(api):
    api.boot("mine", token="carol")  # a bare user is its own project
    assert [s["name"] for s in api.get("/servers", token="carol:carol").json["servers"]] == ["mine"]
    assert api.get("/os-services", token="admin").status_code == 200
    assert api.get("/os-services", token="carol:admin").status_code == 403
    assert api.get("/servers", token=":p1").status_code == 401


def test_a_lone_surrogate_in_a_body_is_refused_and_nothing_is_stored(api, seeded, db):
    body = '{"server": {"name": "a", "flavorRef": "1", "imageRef": "IMAGE", "metadata": {"k": "\\ud800"}}}'
    body = body.replace("IMAGE", IMAGE_ID)
    response = api.post("/servers", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json == {"badRequest": {"message": "Malformed request body", "code": 400}}
    assert api.get("/servers/detail").json["servers"] == []


def test_a_body_nested_too_deeply_is_a_bad_request(api):
    response = api.post("/servers", body="[" * 100000 + "]" * 100000, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json["badRequest"]["message"] == "Malformed request body: nested too deeply"


@pytest.mark.parametrize("hypervisor_id", ["²", "99999999999999999999999999", "-1", "1e3"])
def test_hypervisor_ids_that_cannot_be_ids_are_not_found(api, hypervisor_id):
    response = api.get(f"/os-hypervisors/{hypervisor_id}", token=ADMIN)
    assert response.status_code == 404
    assert "itemNotFound" in response.json
    marker = api.get("/os-hypervisors", token=ADMIN, params={"marker": hypervisor_id}, version="2.33")
    assert marker.status_code == 400 and "badRequest" in marker.json


def test_one_request_cannot_ask_for_more_than_1000_servers(api, seeded):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "max_count": 10000000}})
    assert response.status_code == 400
    assert "max_count" in response.json["badRequest"]["message"]


def test_noauth_ids_longer_than_the_database_keeps_are_refused(api):
    assert api.get("/servers", token="u" * 65).status_code == 401
    assert api.get("/servers", token="u:" + "p" * 65).status_code == 401
