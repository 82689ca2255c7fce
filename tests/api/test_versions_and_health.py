"""Version discovery and /healthcheck: public endpoints that clients and load balancers read first."""

from __future__ import annotations

from falcon import testing

from ncloud.daemons.api.app import create_app
from ncloud.daemons.api.microversion import MAX_VERSION
from ncloud.daemons.core import rpc
from ncloud.daemons.core.db.session import Database
from tests.api.conftest import Api


def test_version_list_and_version_documents_need_no_token(api):
    versions = api.get("/compute/", token=None)
    assert versions.status_code == 200
    assert versions.json == {"versions": [
        {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
         "links": [{"rel": "self", "href": "http://cloud.test:8774/compute/v2/"}]},
        {"id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION), "min_version": "2.1",
         "updated": "2013-07-23T11:33:21Z",
         "links": [{"rel": "self", "href": "http://cloud.test:8774/compute/v2.1/"}]}]}
    for path in ("/compute/v2.1/", "/compute/v2.1"):
        version = api.get(path, token=None)
        assert version.status_code == 200
        body = version.json["version"]
        assert (body["id"], body["version"], body["min_version"], body["status"]) == (
            "v2.1", str(MAX_VERSION), "2.1", "CURRENT")
        assert body["media-types"] == [{"base": "application/json",
                                        "type": "application/vnd.openstack.compute+json;version=2.1"}]
    for path in ("/compute/v2/", "/compute/v2"):
        legacy = api.get(path, token=None)
        assert legacy.status_code == 200
        assert legacy.json["version"]["id"] == "v2.0"
        assert legacy.json["version"]["links"][0] == {"rel": "self", "href": "http://cloud.test:8774/compute/v2/"}


def test_links_follow_the_request_url_when_no_public_endpoint_is_set(conf, db, transport, conductor):
    conf = conf.with_overrides({"api": {"public_endpoint": ""}})
    api = Api(testing.TestClient(create_app(conf, db, transport)))
    href = api.get("/compute/v2.1/", token=None).json["version"]["links"][0]["href"]
    assert href == "http://falconframework.org/compute/v2.1/"


def test_healthcheck_is_ok_when_database_and_message_bus_answer(api):
    response = api.get("/healthcheck", token=None)
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "message_bus": "ok"}


def test_healthcheck_names_the_database_when_it_is_unreachable(conf, tmp_path, transport):
    broken = Database(f"sqlite:///{tmp_path}/missing-dir/ncloud.db")
    api = Api(testing.TestClient(create_app(conf, broken, transport)))
    response = api.get("/healthcheck", token=None)
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unavailable", "message_bus": "ok"}
    assert response.headers["Retry-After"]


def test_healthcheck_names_the_message_bus_when_it_is_unreachable(conf, db):
    transport = rpc.Transport("amqp://guest:guest@127.0.0.1:1//")
    api = Api(testing.TestClient(create_app(conf, db, transport)))
    response = api.get("/healthcheck", token=None)
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "ok", "message_bus": "unavailable"}


def test_an_unreachable_database_answers_503_with_retry_after(conf, tmp_path, transport):
    broken = Database(f"sqlite:///{tmp_path}/missing-dir/ncloud.db")
    api = Api(testing.TestClient(create_app(conf, broken, transport)))
    response = api.get("/servers")
    assert response.status_code == 503
    assert list(response.json) == ["serviceUnavailable"]
    assert response.headers["Retry-After"]
    assert response.headers["X-Openstack-Request-Id"]
