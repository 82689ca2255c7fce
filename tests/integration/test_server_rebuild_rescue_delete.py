"""Rebuild, rescue, soft delete with restore and forceDelete, diagnostics and topology, end to end on
the all-in-one (the helpers are test_server_moves'): each through the compute host and its fake
hypervisor, with the bodies checked against tempest's schemas.
"""

import pytest
from sqlalchemy import select

from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID
from ncloud.daemons.core.db.models import Allocation, Image, Instance
from tests.api.tempest_schemas import conforms
from tests.cloud import wait_until
from tests.integration.test_server_moves import (
    SMALL,
    TINY_USE,
    action,
    allocations,
    boot,
    client,
    guests,
    make_cloud,
    show,
    wait_for,
)

OTHER_IMAGE = "0e6a6d1e-7d7c-4b8f-9f55-2d1c6b0f3a11"


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    with cloud.db.writer() as session:  # a second public image to rebuild from
        demo = session.get(Image, DEMO_IMAGE_ID)
        session.add(Image(id=OTHER_IMAGE, name="other", status="active", owner=None, visibility="public",
                          disk_format=demo.disk_format, container_format=demo.container_format, size=demo.size,
                          min_ram=0, min_disk=0, properties={}))
    yield cloud
    cloud.stop()


def console(api, uuid):
    return api.post(f"/servers/{uuid}/action", json={"os-getConsoleOutput": {}}).json()["output"]


# -- rebuild ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2.1", "2.26", "2.54", "2.57", "2.63", "2.71", "2.73", "2.75", "2.96", "2.100"])
def test_rebuild_recreates_the_server_from_another_image_keeping_its_identity(cloud, version):
    with client(cloud, version=version) as api:
        uuid = boot(api, metadata={"old": "1"})
        host = show(api, uuid)["OS-EXT-SRV-ATTR:host"]
        response = action(api, uuid, {"rebuild": {"imageRef": OTHER_IMAGE, "name": "renamed",
                                                  "metadata": {"new": "2"}, "adminPass": "s3cret"}})
        assert conforms(response, version, "servers", "rebuild_server_with_admin_pass")
        body = response.json()["server"]
        assert (body["id"], body["name"], body["adminPass"], body["metadata"]) == (uuid, "renamed", "s3cret",
                                                                                    {"new": "2"})
        assert body["status"] == "REBUILD"
        server = wait_for(api, uuid, "ACTIVE")
        assert (server["image"]["id"], server["OS-EXT-SRV-ATTR:host"]) == (OTHER_IMAGE, host)
        assert allocations(cloud, uuid) == {host: TINY_USE}
        actions = api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert actions[0]["action"] == "rebuild" and actions[0]["message"] is None


def test_a_stopped_server_is_rebuilt_stopped_and_a_failed_one_comes_back(cloud):
    with client(cloud, version="2.57") as api:
        uuid = boot(api)
        action(api, uuid, {"os-stop": None})
        wait_for(api, uuid, "SHUTOFF")
        action(api, uuid, {"rebuild": {"imageRef": OTHER_IMAGE, "user_data": None, "key_name": None}})
        wait_for(api, uuid, "SHUTOFF")
        action(api, uuid, {"os-resetState": {"state": "error"}})
        response = action(api, uuid, {"rebuild": {"imageRef": DEMO_IMAGE_ID}})
        assert "adminPass" in response.json()["server"]  # generated when not given
        assert wait_for(api, uuid, "ACTIVE")["image"]["id"] == DEMO_IMAGE_ID


def test_rebuild_refusals(cloud):
    with client(cloud, token="demo:demo") as member, client(cloud) as admin:
        uuid = boot(member)
        for body, status, text in [
            ({"rebuild": {}}, 400, "'imageRef' is a required property"),
            ({"rebuild": {"imageRef": "1d4cbd3c-1a32-4c0e-9ab0-000000000000"}}, 400, "Can not find requested image"),
            ({"rebuild": {"imageRef": OTHER_IMAGE, "personality": []}}, 400, "personality"),
            ({"rebuild": {"imageRef": OTHER_IMAGE, "key_name": "nokey"}}, 400, "key_name"),  # only from 2.54
        ]:
            response = member.post(f"/servers/{uuid}/action", json=body)
            assert response.status_code == status, (body, response.text)
            assert text in response.text, (body, response.text)
        response = member.post(f"/servers/{uuid}/action", json={"rebuild": {"imageRef": OTHER_IMAGE, "key_name": "k"}},
                               headers={"OpenStack-API-Version": "compute 2.54"})
        assert response.status_code == 400 and "Invalid key_name provided." in response.text
        action(admin, uuid, {"lock": None})
        response = member.post(f"/servers/{uuid}/action", json={"rebuild": {"imageRef": OTHER_IMAGE}})
        assert response.status_code == 409 and "is locked" in response.text
        with client(cloud, token="eve:p3") as other:
            assert other.post(f"/servers/{uuid}/action",
                              json={"rebuild": {"imageRef": OTHER_IMAGE}}).status_code == 404


# -- rescue ----------------------------------------------------------------------------------------
def test_rescue_boots_the_rescue_image_and_unrescue_the_server_again(cloud):
    with client(cloud, token="demo:demo") as api:
        uuid = boot(api)
        response = action(api, uuid, {"rescue": {"rescue_image_ref": OTHER_IMAGE}}, expect=200)
        assert conforms(response, "2.1", "servers", "rescue_server_with_admin_pass")
        wait_for(api, uuid, "RESCUE")
        assert f"booted the rescue image {OTHER_IMAGE}" in console(api, uuid)
        response = api.post(f"/servers/{uuid}/action", json={"rescue": None})
        assert response.status_code == 409 and "vm_state rescued" in response.text
        action(api, uuid, {"unrescue": None})
        wait_for(api, uuid, "ACTIVE")
        assert "booted from its own disk again" in console(api, uuid)
        response = api.post(f"/servers/{uuid}/action", json={"unrescue": None})
        assert response.status_code == 409 and "vm_state active" in response.text


# -- soft delete, restore, forceDelete ----------------------------------------------------------------
@pytest.fixture
def soft_cloud(tmp_path):
    cloud = make_cloud(tmp_path, default={"reclaim_instance_interval": 3600})
    yield cloud
    cloud.stop()


def test_a_deleted_server_is_soft_deleted_and_can_be_restored(soft_cloud):
    with client(soft_cloud, token="demo:demo") as api:
        uuid = boot(api)
        assert api.delete(f"/servers/{uuid}").status_code == 204
        server = wait_for(api, uuid, "SOFT_DELETED")
        assert server["OS-EXT-STS:power_state"] == 4
        with soft_cloud.db.reader() as session:
            host = session.scalar(select(Instance.host).where(Instance.uuid == uuid))
        assert allocations(soft_cloud, uuid) == {host: TINY_USE}  # still counted: it may come back
        action(api, uuid, {"restore": None})
        server = wait_for(api, uuid, "ACTIVE")
        assert server["OS-EXT-STS:power_state"] == 1
        response = api.post(f"/servers/{uuid}/action", json={"restore": None})
        assert response.status_code == 409 and "vm_state active" in response.text


def test_force_delete_removes_a_soft_deleted_server_at_once(soft_cloud):
    with client(soft_cloud, token="demo:demo") as api:
        uuid = boot(api)
        assert api.delete(f"/servers/{uuid}").status_code == 204
        wait_for(api, uuid, "SOFT_DELETED")
        action(api, uuid, {"forceDelete": None})
        wait_until(lambda: api.get(f"/servers/{uuid}").status_code == 404, 30, what="the delete")
        assert allocations(soft_cloud, uuid) == {}


def test_soft_deleted_servers_are_reclaimed_after_the_interval(tmp_path):
    cloud = make_cloud(tmp_path, default={"reclaim_instance_interval": 1})
    try:
        with client(cloud, token="demo:demo") as api:
            uuid = boot(api)
            assert api.delete(f"/servers/{uuid}").status_code == 204
            wait_until(lambda: api.get(f"/servers/{uuid}").status_code == 404, 30, what="the reclaim")
            with cloud.db.reader() as session:
                assert session.scalar(select(Allocation.id).where(Allocation.consumer_id == uuid)) is None
            assert not any(uuid in guests(cloud, name) for name in ("aio", "aio-2", "aio-3"))
    finally:
        cloud.stop()


# -- diagnostics and topology ------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2.1", "2.48"])
def test_diagnostics_come_from_the_hypervisor_for_admins_only(cloud, version):
    with client(cloud, version=version) as admin, client(cloud, token="demo:demo", version=version) as member:
        uuid = boot(member)
        response = admin.get(f"/servers/{uuid}/diagnostics")
        assert conforms(response, version, "servers", "show_server_diagnostics")
        body = response.json()
        if version == "2.48":
            assert (body["state"], body["num_cpus"], body["memory_details"]["maximum"]) == ("running", 1, 512)
        else:
            assert body["memory"] == 512 * 1024 and "cpu0_time" in body
        assert member.get(f"/servers/{uuid}/diagnostics").status_code == 403
        action(admin, uuid, {"os-stop": None})
        wait_for(admin, uuid, "SHUTOFF")
        assert admin.get(f"/servers/{uuid}/diagnostics").status_code == 409


def test_topology_from_2_78(cloud):
    with client(cloud, token="demo:demo", version="2.78") as api:
        uuid = boot(api)
        response = api.get(f"/servers/{uuid}/topology")
        assert response.status_code == 200 and response.json() == {"nodes": [], "pagesize_kb": None}
        older = api.get(f"/servers/{uuid}/topology", headers={"OpenStack-API-Version": "compute 2.77"})
        assert older.status_code == 404
    with client(cloud, token="eve:p3", version="2.78") as other:
        assert other.get(f"/servers/{uuid}/topology").status_code == 404


def test_resize_works_after_a_rebuild(cloud):
    """Moves and rebuilds compose: the migration takes the flavor of the rebuilt server."""
    with client(cloud) as api:
        uuid = boot(api)
        action(api, uuid, {"rebuild": {"imageRef": OTHER_IMAGE}})
        wait_for(api, uuid, "ACTIVE")
        action(api, uuid, {"resize": {"flavorRef": SMALL}})
        wait_for(api, uuid, "VERIFY_RESIZE")
        action(api, uuid, {"confirmResize": None}, expect=204)
        assert wait_for(api, uuid, "ACTIVE")["image"]["id"] == OTHER_IMAGE
