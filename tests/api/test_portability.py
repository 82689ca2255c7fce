"""The API's queries on every supported database (SQLite, MariaDB, PostgreSQL; see NCLOUD_TEST_DBS).

The rest of tests/api runs on SQLite for speed; this module repeats the queries whose SQL differs
between backends (regular expressions, JSON fields, keyset pagination on second-precision
timestamps, grouped usage sums) against each backend.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from falcon import testing

from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import instances, states
from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.session import Database
from tests.api.conftest import ADMIN, IMAGE_ID, Api, add_compute_node, add_service, place, seed


@pytest.fixture
def backend_db(db_url):
    database = Database(db_url)
    migrate.sync(database)
    seed(database)
    yield database
    database.dispose()


@pytest.fixture
def backend_api(conf, backend_db, transport, conductor, compute):
    return Api(testing.TestClient(create_app(conf, backend_db, transport)))


def test_listing_filters_paging_and_faults_work_on_every_backend(backend_api, backend_db):
    api, db = backend_api, backend_db
    uuids = [api.boot(f"web-{n}") for n in range(3)] + [api.boot("db-0", flavorRef="2")]
    with db.writer() as session:
        instances.update_state(session, uuids[1], {"vm_state": states.ERROR, "task_state": None})
        instances.add_fault(session, uuids[1], "No valid host was found.", details="why")

    assert {s["name"] for s in api.get("/servers", params={"name": "^web-[02]$"}).json["servers"]} == {"web-0",
                                                                                                       "web-2"}
    assert [s["id"] for s in api.get("/servers", params={"flavor": "2"}).json["servers"]] == [uuids[3]]
    errored = api.get("/servers/detail", params={"status": "ERROR"}).json["servers"]
    assert [(s["id"], s["fault"]["message"]) for s in errored] == [(uuids[1], "No valid host was found.")]

    seen, params = [], {"limit": "3"}
    while True:
        body = api.get("/servers/detail", params=params).json
        seen.extend(s["id"] for s in body["servers"])
        if "servers_links" not in body:
            break
        params = {"limit": "3", "marker": seen[-1]}
    assert seen == uuids[::-1]


def test_hypervisor_usage_services_flavors_and_local_delete_work_on_every_backend(backend_api, backend_db):
    api, db = backend_api, backend_db
    add_service(db, "cmp-1")
    node_id, provider_id = add_compute_node(db, "cmp-1")
    uuid = api.boot("placed", flavorRef="2")
    place(db, uuid, "cmp-1", provider_id)
    hypervisor = api.get("/os-hypervisors/detail", token=ADMIN).json["hypervisors"][0]
    assert (hypervisor["vcpus_used"], hypervisor["memory_mb_used"], hypervisor["running_vms"]) == (1, 2560, 1)
    assert [s["state"] for s in api.get("/os-services", token=ADMIN).json["services"]] == ["up"]

    created = api.post("/flavors", token=ADMIN, json={"flavor": {"name": "x", "ram": 64, "vcpus": 1, "disk": 0}})
    assert created.status_code == 200
    assert api.post("/flavors", token=ADMIN,
                    json={"flavor": {"name": "x", "ram": 64, "vcpus": 1, "disk": 0}}).status_code == 409
    assert api.delete(f"/flavors/{created.json['flavor']['id']}", token=ADMIN).status_code == 202

    unplaced = api.boot("unplaced")
    assert api.delete(f"/servers/{unplaced}").status_code == 204
    assert api.get(f"/servers/{unplaced}").status_code == 404


def test_a_name_regex_the_database_cannot_run_is_a_bad_request_not_a_500(backend_api, backend_db):
    """Python's re accepts `(?P<x>a)`; MariaDB's and PostgreSQL's regular expressions do not."""
    response = backend_api.get("/servers", params={"name": "(?P<x>a)"})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json["badRequest"]["message"] == "Invalid regular expression for name: (?P<x>a)"


def test_concurrent_boots_never_exceed_the_quota_on_every_backend(backend_api):
    """The project's lock row (core/quotas.py) serializes the check on MariaDB and PostgreSQL too."""
    api = backend_api
    assert api.put("/os-quota-sets/p1", token=ADMIN, json={"quota_set": {"instances": 10}}).status_code == 200

    def boot(_):
        return api.post("/servers", json={"server": {"name": "q", "flavorRef": "1", "imageRef": IMAGE_ID}}).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(boot, range(50)))
    assert statuses.count(202) == 10 and statuses.count(403) == 40
    assert len(api.get("/servers").json["servers"]) == 10


def test_the_newest_server_body_reads_its_request_spec_parts_on_every_backend(backend_api):
    """2.98 and 2.100 read JSON paths inside the request spec, which each database writes differently."""
    api = backend_api
    response = api.post("/servers", version="2.100", json={
        "server": {"name": "new", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none"},
        "os:scheduler_hints": {"build_near_host_ip": "192.0.2.1"}})
    assert response.status_code == 202, response.text
    shown = api.get(f"/servers/{response.json['server']['id']}", version="2.100").json["server"]
    assert shown["image"]["properties"] == {"hw_arch": "x86_64"}
    assert shown["scheduler_hints"] == {"build_near_host_ip": "192.0.2.1"}
    assert api.get("/servers/detail", version="2.100").json["servers"][0]["scheduler_hints"] == {
        "build_near_host_ip": "192.0.2.1"}
