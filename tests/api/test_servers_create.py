"""POST /servers: what a boot request records, what it casts, and every way it is refused."""

from __future__ import annotations

import base64

import pytest
from falcon import testing
from sqlalchemy import select

from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import exception, rpc, states
from ncloud.daemons.core.db.models import InstanceAction, InstanceFault, RequestSpec
from tests.api.conftest import ADMIN, BOB, IMAGE_ID, Api, add_image, instance_row

pytestmark = pytest.mark.usefixtures("seeded")


def fault(response) -> tuple[str, str, int]:
    (name, body), = response.json.items()
    return name, body["message"], body["code"]


def test_boot_records_instance_request_spec_and_action_then_casts_build_instances(api, db, conductor):
    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host"
    assert api.post("/os-keypairs", json={"keypair": {"name": "mykey", "public_key": public_key}}).status_code == 200
    response = api.post("/servers", version="2.37", json={"server": {
        "name": "web 1", "flavorRef": "2", "imageRef": IMAGE_ID, "metadata": {"role": "web"},
        "key_name": "mykey", "user_data": base64.b64encode(b"#!/bin/sh\n").decode(), "config_drive": True,
        "availability_zone": "nova", "description": "front end", "networks": "none"}})

    assert response.status_code == 202
    server = response.json["server"]
    assert set(server) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert server["links"][0] == {"rel": "self", "href": f"http://cloud.test:8774/compute/v2.1/servers/{server['id']}"}
    assert server["security_groups"] == [{"name": "default"}]
    assert len(server["adminPass"]) == 12
    uuid = server["id"]

    row = instance_row(db, uuid)
    assert (row.display_name, row.hostname, row.project_id, row.user_id) == ("web 1", "web-1", "p1", "alice")
    assert (row.vm_state, row.task_state, row.power_state) == (states.BUILDING, states.SCHEDULING, 0)
    assert row.task_started_at is not None
    assert (row.vcpus, row.memory_mb, row.root_gb, row.ephemeral_gb) == (1, 2048, 20, 0)
    assert row.flavor == {"id": row.instance_type_id, "flavorid": "2", "name": "m1.small", "vcpus": 1,
                          "memory_mb": 2048, "root_gb": 20, "ephemeral_gb": 0, "swap": 0, "extra_specs": {"a": "b"}}
    assert (row.availability_zone, row.key_name, row.config_drive, row.metadata_) == ("nova", "mykey", True,
                                                                                       {"role": "web"})
    assert row.reservation_id.startswith("r-") and len(row.reservation_id) == 10
    assert row.launch_index == 0 and row.image_ref == IMAGE_ID and row.description == "front end"
    assert row.key_data == public_key

    with db.reader() as session:
        spec = session.scalars(select(RequestSpec.spec).where(RequestSpec.instance_uuid == uuid)).one()
        action = session.scalars(select(InstanceAction).where(InstanceAction.instance_uuid == uuid)).one()
    assert spec == {
        "flavor": row.flavor,
        "image": {"id": IMAGE_ID, "min_ram": 0, "min_disk": 0, "properties": {"hw_arch": "x86_64"}},
        "availability_zone": "nova", "force_host": None, "force_node": None, "project_id": "p1",
        "user_id": "alice", "num_instances": 1, "retry": {"num_attempts": 0, "hosts": []}, "scheduler_hints": {}}
    assert (action.action, action.user_id, action.project_id) == ("create", "alice", "p1")
    assert action.request_id == response.headers["X-Openstack-Request-Id"]

    ctx, args = conductor.wait_for("build_instances", lambda args: uuid in args["instance_uuids"])
    assert args["instance_uuids"] == [uuid]
    assert args["spec"] == spec  # what the conductor needs travels with the cast
    assert [(i["uuid"], i["vm_state"], i["task_state"], i["host"]) for i in args["instances"]] == [
        (uuid, "building", "scheduling", None)]
    assert (ctx["user_id"], ctx["project_id"], ctx["request_id"]) == ("alice", "p1", action.request_id)


def test_boot_keeps_a_client_global_request_id_in_the_context_it_casts(api, conductor):
    global_id = "req-1f0e8f7a-2f6b-4f0e-9d5c-3c0b7f9b2a11"
    response = api.post("/servers", headers={"X-Openstack-Request-Id": global_id},
                        json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID}})
    uuid = response.json["server"]["id"]
    ctx, _ = conductor.wait_for("build_instances", lambda args: uuid in args["instance_uuids"])
    assert ctx["global_request_id"] == global_id
    assert ctx["request_id"] == response.headers["X-Openstack-Request-Id"] != global_id


def test_boot_of_several_servers_names_them_like_nova_and_casts_one_build(api, db, conductor):
    response = api.post("/servers", json={"server": {"name": "batch", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "min_count": "2", "max_count": 3}})
    assert response.status_code == 202
    first = response.json["server"]["id"]
    _, args = conductor.wait_for("build_instances", lambda args: first in args["instance_uuids"])
    rows = [instance_row(db, uuid) for uuid in args["instance_uuids"]]
    assert [(r.display_name, r.hostname, r.launch_index) for r in rows] == [
        ("batch-1", "batch-1", 0), ("batch-2", "batch-2", 1), ("batch-3", "batch-3", 2)]
    assert len({r.reservation_id for r in rows}) == 1
    with db.reader() as session:
        assert session.scalars(select(RequestSpec.spec)).first()["num_instances"] == 3


def test_boot_can_answer_with_the_reservation_id_only(api):
    response = api.post("/servers", json={"server": {"name": "r", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "return_reservation_id": "true"}})
    assert response.status_code == 202
    assert set(response.json) == {"reservation_id"}


def test_boot_accepts_a_flavor_link_as_flavor_ref(api):
    response = api.post("/servers", json={"server": {"name": "l", "imageRef": IMAGE_ID,
                                                     "flavorRef": "http://cloud.test:8774/compute/flavors/1"}})
    assert response.status_code == 202


@pytest.mark.parametrize("body, message", [
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "foo": 1}},
     "Invalid input for field/attribute server. Value: {'name': 'a', 'flavorRef': '1', 'imageRef': "
     f"'{IMAGE_ID}', 'foo': 1}}. Additional properties are not allowed ('foo' was unexpected)"),
    ({"server": {"name": "a", "imageRef": IMAGE_ID}}, "'flavorRef' is a required property"),
    ({"server": {"name": "a", "flavorRef": ["1"], "imageRef": IMAGE_ID}},
     "Invalid input for field/attribute flavorRef. Value: ['1']. ['1'] is not of type 'string', 'integer'"),
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "min_count": "two"}},
     "Invalid input for field/attribute min_count. Value: two. 'two' does not match '^[0-9]*$'"),
    ({"server": {"name": "", "flavorRef": "1", "imageRef": IMAGE_ID}},
     "Invalid input for field/attribute name. Value: . "),
    ({"server": {"name": "   ", "flavorRef": "1", "imageRef": IMAGE_ID}},
     "An invalid 'name' value was provided. The name must be: printable characters. "
     "Can not start or end with whitespace."),
    ({"server": {"name": "x" * 256, "flavorRef": "1", "imageRef": IMAGE_ID}},
     "Invalid input for field/attribute name. Value: xxx"),
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": "not-a-uuid"}},
     "Invalid input for field/attribute imageRef. Value: not-a-uuid."),
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "metadata": {"k": 1}}},
     "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'"),
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "user_data": "not base64!"}},
     "Invalid input for field/attribute user_data. Value: not base64!. 'not base64!' is not a 'base64'"),
    ({"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "some"}},
     "Invalid input for field/attribute networks. Value: some. 'some' is not of type 'array'"),
    ({"nothing": {}}, "'server' is a required property"),
    ({}, "'server' is a required property"),
])
def test_boot_with_an_invalid_body_is_rejected_with_nova_validation_message(api, db, body, message):
    response = api.post("/servers", json=body)
    assert response.status_code == 400
    name, text, code = fault(response)
    assert (name, code) == ("badRequest", 400)
    assert text.startswith(message) if message.startswith("Invalid input") else message in text
    with db.reader() as session:
        assert session.scalars(select(RequestSpec)).first() is None


def test_boot_with_malformed_json_is_rejected_as_bad_request(api):
    response = api.post("/servers", body='{"server": {"name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert fault(response) == ("badRequest", "Malformed request body", 400)


def test_boot_with_a_body_that_is_not_json_is_rejected_as_bad_media_type(api):
    response = api.post("/servers", body="name=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert fault(response)[0] == "badMediaType"


def test_boot_with_unknown_flavor_is_rejected_with_nova_error_body(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "42", "imageRef": IMAGE_ID}})
    assert response.status_code == 400
    assert response.json == {"badRequest": {"message": "Flavor 42 could not be found.", "code": 400}}


def test_boot_with_a_private_flavor_is_refused_to_users_and_allowed_to_admins(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "9", "imageRef": IMAGE_ID}})
    assert fault(response) == ("badRequest", "Flavor 9 could not be found.", 400)
    assert api.post("/servers", token=ADMIN, json={"server": {"name": "a", "flavorRef": "9",
                                                              "imageRef": IMAGE_ID}}).status_code == 202


def test_boot_with_unknown_image_is_rejected(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1",
                                                     "imageRef": "0c2d5b1e-0000-4000-8000-000000000000"}})
    assert fault(response) == ("badRequest", "Can not find requested image", 400)


def test_boot_without_image_is_rejected_as_nova_does_without_a_volume(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": ""}})
    assert fault(response) == ("badRequest", "Invalid imageRef provided.", 400)


def test_boot_with_an_image_that_is_not_active_is_rejected(api, db):
    image = add_image(db, status="queued")
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": image}})
    assert fault(response) == ("badRequest", f"Image {image} is not active.", 400)


def test_boot_with_another_projects_private_image_is_rejected_as_not_found(api, db):
    image = add_image(db, visibility="private", owner="p2")
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": image}})
    assert fault(response) == ("badRequest", "Can not find requested image", 400)
    assert api.boot("mine", token=BOB, imageRef=image)


def test_boot_with_a_flavor_below_the_images_min_ram_is_rejected(api, db):
    image = add_image(db, min_ram=1024)
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": image}})
    assert fault(response) == ("badRequest", "Flavor's memory is too small for requested image.", 400)
    assert api.post("/servers", json={"server": {"name": "a", "flavorRef": "2",
                                                 "imageRef": image}}).status_code == 202


def test_boot_with_a_flavor_below_the_images_min_disk_is_rejected(api, db):
    image = add_image(db, min_disk=5)
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": image}})
    name, message, _ = fault(response)
    assert name == "badRequest"
    assert message.startswith("Flavor's disk is smaller than the minimum size specified in image metadata.")


def test_boot_with_an_image_larger_than_the_flavors_disk_is_rejected(api, db):
    image = add_image(db, size=2 * 1024 ** 3)
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": image}})
    assert fault(response)[1].startswith("Flavor's disk is too small for requested image.")


def test_boot_with_min_count_above_max_count_is_rejected(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "min_count": 3, "max_count": 2}})
    assert fault(response) == ("badRequest", "min_count must be <= max_count", 400)


def test_boot_in_an_unknown_availability_zone_is_rejected(api):
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "availability_zone": "elsewhere"}})
    assert fault(response) == ("badRequest", "The requested availability zone is not available", 400)


def test_forcing_a_host_through_the_availability_zone_is_for_admins_only(api, db):
    body = {"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID, "availability_zone": "nova:cmp-7"}}
    response = api.post("/servers", json=body)
    assert response.status_code == 403
    assert fault(response) == ("forbidden", "Policy doesn't allow os_compute_api:servers:create:forced_host "
                                            "to be performed.", 403)
    uuid = api.post("/servers", token=ADMIN, json=body).json["server"]["id"]
    with db.reader() as session:
        spec = session.scalars(select(RequestSpec.spec).where(RequestSpec.instance_uuid == uuid)).one()
    assert (spec["availability_zone"], spec["force_host"], spec["force_node"]) == ("nova", "cmp-7", None)


def test_boot_without_a_token_is_unauthorized(api):
    response = api.post("/servers", token=None, json={"server": {"name": "a", "flavorRef": "1"}})
    assert response.status_code == 401
    assert fault(response)[0] == "unauthorized"


class UnreachableBus(rpc.Transport):
    """A transport whose broker is gone: publishing fails as kombu's retries would end."""

    def publish(self, *args, **kwargs):
        raise exception.MessagingUnavailable(reason="ConnectionRefusedError: [Errno 111] Connection refused")


def test_boot_when_the_message_bus_is_down_sets_the_servers_to_error_and_answers_503(conf, db):
    api = Api(testing.TestClient(create_app(conf, db, UnreachableBus("memory://"))))
    response = api.post("/servers", json={"server": {"name": "a", "flavorRef": "1", "imageRef": IMAGE_ID,
                                                     "max_count": 2}})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert fault(response)[0] == "serviceUnavailable"
    with db.reader() as session:
        faults = session.scalars(select(InstanceFault)).all()
        actions = session.scalars(select(InstanceAction)).all()
    assert len(faults) == 2
    assert all("message bus was unreachable" in f.message for f in faults)
    assert all(a.finish_time is not None and a.message == "Error" for a in actions)
    for f in faults:
        row = instance_row(db, f.instance_uuid)
        assert (row.vm_state, row.task_state) == (states.ERROR, None)
    listed = api.get("/servers/detail").json["servers"]
    assert {s["status"] for s in listed} == {"ERROR"}
    assert all("message bus was unreachable" in s["fault"]["message"] for s in listed)


def test_the_image_to_local_disk_mapping_the_openstack_client_sends_is_the_root_disk(api, seeded):
    mapping = {"uuid": IMAGE_ID, "boot_index": 0, "source_type": "image", "destination_type": "local",
               "delete_on_termination": True}
    accepted = api.post("/servers", version="2.37", json={"server": {
        "name": "osc", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none",
        "block_device_mapping_v2": [mapping]}})
    assert accepted.status_code == 202, accepted.text
    without_image_ref = api.post("/servers", version="2.37", json={"server": {
        "name": "bdm-only", "flavorRef": "1", "networks": "none", "block_device_mapping_v2": [mapping]}})
    assert without_image_ref.status_code == 202, without_image_ref.text
    volume = api.post("/servers", version="2.37", json={"server": {
        "name": "vol", "flavorRef": "1", "networks": "none", "block_device_mapping_v2": [
            {"uuid": IMAGE_ID, "boot_index": 0, "source_type": "image", "destination_type": "volume",
             "volume_size": 10}]}})
    assert volume.status_code == 400
    assert "no block storage service" in volume.json["badRequest"]["message"]
