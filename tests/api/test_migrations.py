"""GET /os-migrations and /servers/{id}/migrations: who may read them, filters, paging and the body
of each microversion (tempest's schemas). The records are written as the API and conductor write
them (core/migrations.py); the moves themselves are tested end to end in
tests/integration/test_server_moves.py. Also: the usage audit log, and what a move, snapshot,
shelve or rebuild leaves when the message bus refuses its cast (nothing waiting).
"""

import uuid as uuidlib

import pytest
from falcon import testing
from sqlalchemy import func, select

from ncloud.daemons.api.app import create_app
from ncloud.daemons.api.boot import flavor_snapshot
from ncloud.daemons.core import migrations, states
from ncloud.daemons.core.db.models import Flavor, Image, Instance, InstanceAction, Migration, RequestSpec
from tests.api.conftest import ADMIN, ALICE, BOB, IMAGE_ID, Api, add_service, instance_row, place
from tests.api.tempest_schemas import conforms
from tests.api.test_servers_create import UnreachableBus


@pytest.fixture
def moves(api, seeded):
    """Three servers of alice's: a confirmed resize (cmp-1 -> cmp-2), a live migration running
    (cmp-2 -> cmp-3) and a cold migration in error on cmp-3. Returns their migrations, oldest first."""
    made = []
    for name, kind, status, source, dest in [
            ("a", migrations.RESIZE, "confirmed", "cmp-1", "cmp-2"),
            ("b", migrations.LIVE, "running", "cmp-2", "cmp-3"),
            ("c", migrations.COLD, "error", "cmp-3", None)]:
        uuid = api.boot(name)
        place(seeded, uuid, source)
        with seeded.writer() as session:
            migration = migrations.create(session, instance_row(seeded, uuid), kind, status)
            migration.dest_compute = dest
            made.append((uuid, migration.uuid, migration.id))
    return made


@pytest.mark.parametrize("version", ["2.1", "2.23", "2.59", "2.80"])
def test_admins_list_every_move_newest_first_in_the_body_of_their_version(api, moves, version):
    response = api.get("/os-migrations", token=ADMIN, version=version)
    assert conforms(response, version, "migrations", "list_migrations")
    listed = response.json["migrations"]
    assert [m["id"] for m in listed] == [m[2] for m in reversed(moves)]
    running, minor = listed[1], int(version.split(".")[1])
    if minor >= 23:
        assert running["migration_type"] == "live-migration"
        assert running["links"][0]["href"].endswith(f"/servers/{moves[1][0]}/migrations/{moves[1][2]}")
        assert "links" not in listed[0]  # only a live migration under way has them
    else:
        assert "migration_type" not in running
    assert ("uuid" in running) is (minor >= 59)
    assert ("project_id" in running) is (minor >= 80)


def test_filters(api, moves):
    def ids(**params):
        response = api.get("/os-migrations", token=ADMIN, version="2.80", params=params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json["migrations"]]
    a, b, c = (m[2] for m in moves)
    assert ids(host="cmp-3") == [c, b]  # as source or destination
    assert ids(source_compute="cmp-2") == [b]
    assert ids(status="confirmed") == [a]
    assert ids(migration_type="migration") == [c]
    assert ids(instance_uuid=moves[0][0]) == [a]
    assert ids(project_id="p1", user_id="alice") == [c, b, a]
    assert ids(project_id="p2") == []


def test_paging_by_uuid_from_2_59(api, moves):
    first = api.get("/os-migrations", token=ADMIN, version="2.59", params={"limit": 2})
    assert [m["id"] for m in first.json["migrations"]] == [moves[2][2], moves[1][2]]
    (link,) = first.json["migrations_links"]
    assert f"marker={moves[1][1]}" in link["href"]
    rest = api.get("/os-migrations", token=ADMIN, version="2.59", params={"limit": 2, "marker": moves[1][1]})
    assert [m["id"] for m in rest.json["migrations"]] == [moves[0][2]] and "migrations_links" not in rest.json
    unknown = api.get("/os-migrations", token=ADMIN, version="2.59", params={"marker": "nope"})
    assert unknown.status_code == 400 and "Marker nope could not be found." in unknown.text
    assert api.get("/os-migrations", token=ADMIN, version="2.58", params={"limit": 1}).status_code == 200
    assert api.get("/os-migrations", token=ADMIN, version="2.59", params={"bogus": 1}).status_code == 400


def test_members_may_not_read_migrations(api, moves):
    assert api.get("/os-migrations", token=ALICE).status_code == 403
    uuid, _, number = moves[1]
    assert api.get(f"/servers/{uuid}/migrations", token=ALICE, version="2.23").status_code == 403
    assert api.get(f"/servers/{uuid}/migrations/{number}", token=BOB, version="2.23").status_code == 404


@pytest.mark.parametrize("version", ["2.23", "2.59", "2.80"])
def test_a_servers_live_migration_in_the_body_of_each_version(api, moves, version):
    uuid, _, number = moves[1]
    listed = api.get(f"/servers/{uuid}/migrations", token=ADMIN, version=version)
    assert conforms(listed, version, "servers", "list_live_migrations")
    # tempest has no schema of its own for one: the same body as its entry in the list
    shown = api.get(f"/servers/{uuid}/migrations/{number}", token=ADMIN, version=version)
    assert shown.json == {"migration": listed.json["migrations"][0]}


def test_a_servers_live_migrations_under_way(api, moves):
    uuid, migration_uuid, number = moves[1]
    listed = api.get(f"/servers/{uuid}/migrations", token=ADMIN, version="2.80")
    (entry,) = listed.json["migrations"]
    assert (entry["id"], entry["uuid"], entry["server_uuid"], entry["status"]) == (number, migration_uuid, uuid,
                                                                                   "running")
    shown = api.get(f"/servers/{uuid}/migrations/{number}", token=ADMIN, version="2.59")
    assert shown.json["migration"]["uuid"] == migration_uuid
    assert api.get(f"/servers/{uuid}/migrations", token=ADMIN, version="2.22").status_code == 404
    done_uuid, _, done = moves[0]
    assert api.get(f"/servers/{done_uuid}/migrations", token=ADMIN, version="2.23").json["migrations"] == []
    assert api.get(f"/servers/{done_uuid}/migrations/{done}", token=ADMIN, version="2.23").status_code == 404
    response = api.delete(f"/servers/{done_uuid}/migrations/{done}", token=ADMIN, version="2.24")
    assert response.status_code == 404
    response = api.post(f"/servers/{uuid}/migrations/{number}/action", token=ADMIN, version="2.22",
                        json={"force_complete": {}})
    assert response.status_code == 400  # the body is null
    error_uuid, _, failed = moves[2]
    response = api.delete(f"/servers/{error_uuid}/migrations/{failed}", token=ADMIN, version="2.24")
    assert response.status_code == 404  # a cold migration is not a live one


def test_the_usage_audit_log_reports_that_no_host_runs_the_audit(api, seeded):
    for host in ("cmp-2", "cmp-1"):
        add_service(seeded, host)
    response = api.get("/os-instance_usage_audit_log", token=ADMIN)
    assert conforms(response, "2.1", "instance_usage_audit_logs", "list_instance_usage_audit_log")
    log = response.json["instance_usage_audit_logs"]
    assert (log["hosts_not_run"], log["num_hosts_done"], log["overall_status"]) == (
        ["cmp-1", "cmp-2"], 0, "0 of 2 hosts done. 0 errors.")
    shown = api.get("/os-instance_usage_audit_log/2026-03-15 10:00:00", token=ADMIN)
    assert conforms(shown, "2.1", "instance_usage_audit_logs", "get_instance_usage_audit_log")
    audit = shown.json["instance_usage_audit_log"]
    assert (audit["period_beginning"], audit["period_ending"]) == ("2026-02-01 00:00:00", "2026-03-01 00:00:00")
    assert api.get("/os-instance_usage_audit_log/yesterday", token=ADMIN).status_code == 400
    assert api.get("/os-instance_usage_audit_log", token=ALICE).status_code == 403


def test_with_the_message_bus_down_a_move_or_snapshot_leaves_nothing_waiting(conf, seeded):
    """The 503 of a refused cast: the task state back, the migration in error, the image gone."""
    working = Api(testing.TestClient(create_app(conf, seeded, UnreachableBus("memory://"))))
    uuid = _booted(seeded)  # the boot's own cast would fail too
    add_service(seeded, "cmp-1")
    for body in ({"resize": {"flavorRef": "2"}}, {"createImage": {"name": "snap"}}, {"shelve": None},
                 {"rebuild": {"imageRef": IMAGE_ID}}):
        response = working.post(f"/servers/{uuid}/action", token=ADMIN, json=body)
        assert response.status_code == 503, (body, response.text)
        row = instance_row(seeded, uuid)
        assert (row.vm_state, row.task_state) == (states.ACTIVE, None), body
    with seeded.reader() as session:
        assert session.scalar(select(Migration.status)) == "error"
        assert session.scalar(select(func.count()).select_from(Image)) == 1  # the seeded one: no snapshot left
        assert {a.message for a in session.scalars(select(InstanceAction))} == {"Error"}


def _booted(db) -> str:
    """A server of alice's on cmp-1, as a boot leaves it."""
    uuid = str(uuidlib.uuid4())
    with db.writer() as session:
        flavor = session.scalars(select(Flavor).where(Flavor.flavorid == "1")).one()
        session.add(Instance(uuid=uuid, project_id="p1", user_id="alice", display_name="vm", image_ref=IMAGE_ID,
                             instance_type_id=flavor.id, flavor=flavor_snapshot(flavor), vcpus=1, memory_mb=512,
                             root_gb=1, vm_state=states.ACTIVE, power_state=states.RUNNING, host="cmp-1",
                             node="cmp-1.local"))
        session.add(RequestSpec(instance_uuid=uuid, spec={"flavor": flavor_snapshot(flavor)}))
    return uuid
