"""DELETE /servers/{id}: locally when no compute can act, else through the server's host."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ncloud.daemons.core import placement, states
from ncloud.daemons.core.db.models import Allocation, InstanceAction
from tests.api.conftest import ADMIN, BOB, COMPUTE_HOST, add_compute_node, add_service, instance_row, place

pytestmark = pytest.mark.usefixtures("seeded")


def actions(db, uuid: str) -> list[InstanceAction]:
    with db.reader() as session:
        return list(session.scalars(select(InstanceAction).where(InstanceAction.instance_uuid == uuid)
                                    .order_by(InstanceAction.id)))


def allocation_count(db, uuid: str) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(Allocation).where(Allocation.consumer_id == uuid))


def test_delete_of_a_server_with_no_host_deletes_locally_and_releases_allocations(api, db):
    uuid = api.boot("unplaced")
    _, provider_id = add_compute_node(db, "cmp-9")
    placement.claim(db, uuid, provider_id, {"VCPU": 1, "MEMORY_MB": 512})  # a claim the scheduler left behind
    assert allocation_count(db, uuid) == 2

    response = api.delete(f"/servers/{uuid}")

    assert response.status_code == 204
    assert response.text == ""
    row = instance_row(db, uuid)
    assert (row.deleted, row.vm_state, row.task_state) == (True, states.DELETED, None)
    assert row.deleted_at is not None and row.terminated_at is not None
    assert allocation_count(db, uuid) == 0
    delete = actions(db, uuid)[-1]
    assert delete.action == "delete" and delete.finish_time is not None
    assert delete.request_id == response.headers["X-Openstack-Request-Id"]
    assert api.get(f"/servers/{uuid}").status_code == 404
    assert api.delete(f"/servers/{uuid}").status_code == 404


def test_delete_of_a_server_whose_compute_is_down_deletes_locally(api, db):
    uuid = api.boot("stranded")
    add_service(db, "cmp-9", alive=False)
    _, provider_id = add_compute_node(db, "cmp-9")
    place(db, uuid, "cmp-9", provider_id)
    assert allocation_count(db, uuid) == 3

    assert api.delete(f"/servers/{uuid}").status_code == 204

    assert instance_row(db, uuid).deleted is True
    assert allocation_count(db, uuid) == 0


def test_delete_of_a_server_on_a_live_compute_marks_it_deleting_and_casts_terminate_to_its_host(api, db, compute):
    uuid = api.boot("running")
    add_service(db, COMPUTE_HOST)
    _, provider_id = add_compute_node(db, COMPUTE_HOST)
    place(db, uuid, COMPUTE_HOST, provider_id)

    response = api.delete(f"/servers/{uuid}")

    assert response.status_code == 204
    row = instance_row(db, uuid)
    assert (row.deleted, row.task_state, row.vm_state) == (False, states.DELETING, states.ACTIVE)
    assert allocation_count(db, uuid) == 3  # released by the compute host once the guest is gone
    delete = actions(db, uuid)[-1]
    assert delete.action == "delete" and delete.finish_time is None
    ctx, args = compute.wait_for("terminate_instance", lambda args: args["instance"]["uuid"] == uuid)
    assert args["instance"]["host"] == COMPUTE_HOST
    assert args["instance"]["task_state"] == states.DELETING
    assert ctx["request_id"] == response.headers["X-Openstack-Request-Id"]
    # Nova keeps showing the status the server had while it is being deleted.
    server = api.get(f"/servers/{uuid}").json["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", "deleting")

    again = api.delete(f"/servers/{uuid}")
    assert again.status_code == 204
    assert len([a for a in actions(db, uuid) if a.action == "delete"]) == 1


def test_delete_of_another_projects_server_is_item_not_found(api, db):
    uuid = api.boot("bobs", token=BOB)
    response = api.delete(f"/servers/{uuid}")
    assert response.status_code == 404
    assert list(response.json) == ["itemNotFound"]
    assert instance_row(db, uuid).deleted is False
    assert api.delete(f"/servers/{uuid}", token=ADMIN).status_code == 204
