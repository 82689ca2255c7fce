"""Images of servers end to end on the all-in-one: createImage and createBackup upload the server's
disk through the Image API (over HTTP, as a compute host on another machine would), shelve keeps it
as `<name>-shelved` and offloads the server, unshelve brings it back and removes that image.
"""

import pytest
from sqlalchemy import select

from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID
from ncloud.daemons.core.db.models import Image
from tests.api.tempest_schemas import conforms
from tests.cloud import wait_until
from tests.integration.test_server_moves import (
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

MEMBER = "demo:demo"


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    yield cloud
    cloud.stop()


def image(api, image_id):
    """The image as the Image API shows it to the caller (None when gone)."""
    root = str(api.base_url).rsplit("/compute/", 1)[0]
    response = api.get(f"{root}/image/v2/images/{image_id}")
    return response.json() if response.status_code == 200 else None


def image_data(api, image_id) -> bytes:
    root = str(api.base_url).rsplit("/compute/", 1)[0]
    return api.get(f"{root}/image/v2/images/{image_id}/file").content


@pytest.mark.parametrize("version", ["2.1", "2.45"])
def test_create_image_uploads_the_servers_disk_as_a_private_snapshot(cloud, version):
    with client(cloud, token=MEMBER, version=version) as api:
        uuid = boot(api)
        response = action(api, uuid, {"createImage": {"name": "snap", "metadata": {"purpose": "test"}}})
        assert conforms(response, version, "images", "create_image")
        if version == "2.45":
            image_id = response.json()["image_id"]
        else:
            assert response.content == b""
            image_id = response.headers["Location"].rsplit("/", 1)[1]
            assert response.headers["Location"].endswith(f"/image/images/{image_id}")
        wait_until(lambda: (image(api, image_id) or {}).get("status") == "active", 30, what="the upload")
        snapshot = image(api, image_id)
        assert (snapshot["name"], snapshot["visibility"], snapshot["instance_uuid"], snapshot["image_type"],
                snapshot["purpose"], snapshot["base_image_ref"]) == ("snap", "private", uuid, "snapshot", "test",
                                                                     DEMO_IMAGE_ID)
        assert image_data(api, image_id).startswith(f"fake disk of {uuid}".encode())
        assert wait_for(api, uuid, "ACTIVE")["OS-EXT-STS:task_state"] is None
        actions = api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert actions[0]["action"] == "createImage"


def test_a_snapshot_boots_a_new_server(cloud):
    with client(cloud, token=MEMBER, version="2.45") as api:
        uuid = boot(api)
        image_id = action(api, uuid, {"createImage": {"name": "snap"}}).json()["image_id"]
        wait_until(lambda: (image(api, image_id) or {}).get("status") == "active", 30, what="the upload")
        copy = boot(api, "copy", imageRef=image_id)
        assert show(api, copy)["image"]["id"] == image_id


def test_a_failed_snapshot_leaves_the_server_active_and_no_image(tmp_path):
    cloud = make_cloud(tmp_path, fail_snapshot_hosts=["aio", "aio-2", "aio-3"])
    try:
        with client(cloud, token=MEMBER, version="2.45") as api:
            uuid = boot(api)
            image_id = action(api, uuid, {"createImage": {"name": "snap"}}).json()["image_id"]
            wait_until(lambda: image(api, image_id) is None, 30, what="the half-made image to go")
            server = wait_for(api, uuid, "ACTIVE")
            (last, _) = api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"][:2]
            assert (last["action"], last["message"]) == ("createImage", "Error")
            event = api.get(f"/servers/{uuid}/os-instance-actions/{last['request_id']}",
                            headers={"OpenStack-API-Version": "compute 2.84"}).json()["instanceAction"]["events"][0]
            assert "simulated snapshot failure" in event["details"]
            assert server["status"] == "ACTIVE"
    finally:
        cloud.stop()


def test_create_backup_keeps_the_newest_of_each_type(cloud):
    with client(cloud, token=MEMBER, version="2.45") as api:
        uuid = boot(api)
        made = []
        for n in range(3):
            response = action(api, uuid, {"createBackup": {"name": f"daily-{n}", "backup_type": "daily",
                                                           "rotation": 2}})
            made.append(response.json()["image_id"])
            wait_for(api, uuid, "ACTIVE")
        weekly = action(api, uuid, {"createBackup": {"name": "weekly", "backup_type": "weekly", "rotation": "1"}})
        assert conforms(weekly, "2.45", "servers", "create_backup")
        wait_for(api, uuid, "ACTIVE")
        assert image(api, made[0]) is None  # rotated out
        assert [image(api, i)["status"] for i in made[1:]] == ["active", "active"]
        assert image(api, weekly.json()["image_id"])["backup_type"] == "weekly"
        for body, text in [({"createBackup": {"name": "x", "backup_type": "daily"}}, "'rotation' is a required"),
                           ({"createBackup": {"name": "x", "backup_type": "daily", "rotation": -1}}, "rotation")]:
            response = api.post(f"/servers/{uuid}/action", json=body)
            assert response.status_code == 400 and text in response.text, response.text


def test_image_refusals(cloud):
    with client(cloud, token=MEMBER) as api, client(cloud) as admin:
        uuid = boot(api)
        response = api.post(f"/servers/{uuid}/action", json={"createImage": {}})
        assert response.status_code == 400 and "'name' is a required property" in response.text
        action(admin, uuid, {"lock": None})
        response = api.post(f"/servers/{uuid}/action", json={"createImage": {"name": "s"}})
        assert response.status_code == 409 and "is locked" in response.text
        action(admin, uuid, {"unlock": None})
        with client(cloud, token="eve:p3") as other:
            assert other.post(f"/servers/{uuid}/action", json={"createImage": {"name": "s"}}).status_code == 404
        response = api.post(f"/servers/{uuid}/action", json={"shelveOffload": None})
        assert response.status_code == 403  # an admin's action
        response = api.post(f"/servers/{uuid}/action", json={"unshelve": None})
        assert response.status_code == 409 and "vm_state active" in response.text


# -- shelving ------------------------------------------------------------------------------------------
def test_shelve_offloads_the_server_and_unshelve_brings_it_back_elsewhere_without_its_image(cloud):
    with client(cloud, token=MEMBER) as api:
        uuid = boot(api, "keeper")
        host = show_host(cloud, api, uuid)
        action(api, uuid, {"shelve": None})
        server = wait_for(api, uuid, "SHELVED_OFFLOADED")
        assert allocations(cloud, uuid) == {}  # offloaded: its host is free
        assert uuid not in guests(cloud, host)
        with cloud.db.reader() as session:
            shelved = session.scalars(select(Image).where(Image.name == "keeper-shelved")).one()
        assert shelved.status == "active" and shelved.properties["instance_uuid"] == uuid
        assert server["OS-EXT-STS:power_state"] == 4
        action(api, uuid, {"unshelve": None})
        server = wait_for(api, uuid, "ACTIVE")
        new_host = show_host(cloud, api, uuid)
        assert allocations(cloud, uuid) == {new_host: TINY_USE} and uuid in guests(cloud, new_host)
        wait_until(lambda: image(api, shelved.id) is None, 30, what="the shelved image to go")
        actions = [a["action"] for a in api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]]
        assert actions[:2] == ["unshelve", "shelve"]


def show_host(cloud, api, uuid):
    with client(cloud) as admin:
        return show(admin, uuid)["OS-EXT-SRV-ATTR:host"]


def test_a_shelved_server_kept_on_its_host_unshelves_in_place(tmp_path):
    cloud = make_cloud(tmp_path, default={"shelved_offload_time": -1})
    try:
        with client(cloud, token=MEMBER, version="2.77") as api, client(cloud, version="2.77") as admin:
            uuid = boot(api)
            host = show_host(cloud, api, uuid)
            action(api, uuid, {"shelve": None})
            wait_for(api, uuid, "SHELVED")
            assert allocations(cloud, uuid) == {host: TINY_USE}  # still holds its place
            response = api.post(f"/servers/{uuid}/action", json={"unshelve": {"availability_zone": "nova"}})
            assert response.status_code == 409  # a zone only for an offloaded server
            action(api, uuid, {"unshelve": None})
            assert wait_for(api, uuid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
            assert show_host(cloud, api, uuid) == host
            action(api, uuid, {"shelve": None})
            wait_for(api, uuid, "SHELVED")
            action(admin, uuid, {"shelveOffload": None})
            wait_for(api, uuid, "SHELVED_OFFLOADED")
            assert allocations(cloud, uuid) == {}
    finally:
        cloud.stop()


def test_shelved_servers_are_offloaded_after_the_configured_time(tmp_path):
    cloud = make_cloud(tmp_path, default={"shelved_offload_time": 1})
    try:
        with client(cloud, token=MEMBER) as api:
            uuid = boot(api)
            action(api, uuid, {"shelve": None})
            wait_for(api, uuid, "SHELVED")
            wait_for(api, uuid, "SHELVED_OFFLOADED", timeout=30)
            assert allocations(cloud, uuid) == {}
    finally:
        cloud.stop()


def test_unshelve_to_a_host_and_a_zone_from_2_91(cloud):
    with client(cloud, version="2.91") as admin:
        uuid = boot(admin)
        action(admin, uuid, {"shelve": None})
        wait_for(admin, uuid, "SHELVED_OFFLOADED")
        response = admin.post(f"/servers/{uuid}/action", json={"unshelve": {"host": "nowhere"}})
        assert response.status_code == 400 and "Compute host nowhere could not be found." in response.text
        response = admin.post(f"/servers/{uuid}/action", json={"unshelve": {"availability_zone": "atlantis"}})
        assert response.status_code == 400 and "availability zone" in response.text
        assert admin.post(f"/servers/{uuid}/action", json={"unshelve": {}}).status_code == 400
        action(admin, uuid, {"unshelve": {"host": "aio-3", "availability_zone": None}})
        assert wait_for(admin, uuid, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == "aio-3"
    with client(cloud, token=MEMBER, version="2.91") as member:
        uuid = boot(member)
        action(member, uuid, {"shelve": None})
        wait_for(member, uuid, "SHELVED_OFFLOADED")
        response = member.post(f"/servers/{uuid}/action", json={"unshelve": {"host": "aio"}})
        assert response.status_code == 403


def test_unshelve_with_no_room_leaves_the_server_offloaded_with_the_reason(tmp_path):
    cloud = make_cloud(tmp_path, hosts=1, memory_mb=1024)  # 512 MiB usable: one tiny server
    try:
        with client(cloud, token=MEMBER) as api:
            uuid = boot(api)
            action(api, uuid, {"shelve": None})
            wait_for(api, uuid, "SHELVED_OFFLOADED")
            boot(api, "squatter")
            action(api, uuid, {"unshelve": None})
            wait_until(lambda: api.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"][0]
                       ["message"] == "Error", 30, what="the unshelve to fail")
            server = wait_for(api, uuid, "SHELVED_OFFLOADED")
            assert allocations(cloud, uuid) == {}
            with client(cloud) as admin:
                fault = admin.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"][0]
            assert fault["action"] == "unshelve" and server["status"] == "SHELVED_OFFLOADED"
    finally:
        cloud.stop()


def test_deleting_a_shelved_server_deletes_its_image(cloud):
    with client(cloud, token=MEMBER) as api:
        uuid = boot(api, "gone")
        action(api, uuid, {"shelve": None})
        wait_for(api, uuid, "SHELVED_OFFLOADED")
        with cloud.db.reader() as session:
            image_id = session.scalar(select(Image.id).where(Image.name == "gone-shelved"))
        assert api.delete(f"/servers/{uuid}").status_code == 204
        wait_until(lambda: api.get(f"/servers/{uuid}").status_code == 404, 30, what="the delete")
        assert image(api, image_id) is None


def test_a_shelved_offloaded_server_still_conforms(cloud):
    """The server's body keeps conforming through shelving (SHELVED_OFFLOADED has no host)."""
    with client(cloud, version="2.100") as api:
        uuid = boot(api)
        action(api, uuid, {"shelve": None})
        wait_for(api, uuid, "SHELVED_OFFLOADED")
        assert conforms(api.get(f"/servers/{uuid}"), "2.100", "servers", "get_server")
