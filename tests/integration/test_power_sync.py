"""The compute host keeps the database's power states honest, and guests nobody owns do not run
on: the periodic sync (and, with libvirt, lifecycle events) on the all-in-one with the fake
hypervisor, whose guests the test changes behind the cloud's back as a real guest would change
itself (it shuts itself down) or as a host would be left (a guest whose server is gone)."""

import uuid as uuidlib

from ncloud.daemons.core import states
from tests.cloud import wait_until
from tests.integration.test_server_moves import ADMIN, boot, client, make_cloud, show


def compute(cloud, host):
    return next(s for s in cloud.services if getattr(s, "host", None) == host and hasattr(s, "driver"))


def test_a_guest_that_shut_itself_down_becomes_shutoff_and_one_that_crashed_too(tmp_path):
    cloud = make_cloud(tmp_path)
    try:
        with client(cloud, token=ADMIN) as api:
            quiet, crashed = boot(api, "quiet"), boot(api, "crashed")
            for uuid, power in ((quiet, states.SHUTDOWN), (crashed, states.CRASHED)):
                service = compute(cloud, show(api, uuid)["OS-EXT-SRV-ATTR:host"])
                service.driver._set_power({"uuid": uuid}, power)  # as the guest itself would
                service.manager.sync_power_states()
            for uuid, power in ((quiet, states.SHUTDOWN), (crashed, states.CRASHED)):
                server = show(api, uuid)
                assert (server["status"], server["OS-EXT-STS:power_state"]) == ("SHUTOFF", power)
    finally:
        cloud.stop()


def test_a_guest_the_database_does_not_place_on_its_host_is_destroyed_or_reported(tmp_path, caplog):
    for action in ("reap", "log"):
        (tmp_path / action).mkdir()
        cloud = make_cloud(tmp_path / action, {"host": "solo"}, hosts=1)
        try:
            service = compute(cloud, "solo")
            service.manager.conf = service.manager.conf.with_overrides(
                {"compute": {"running_deleted_instance_action": action}})
            stray = str(uuidlib.uuid4())
            service.driver._define({"uuid": stray}, states.RUNNING)  # left behind: no server owns it
            with client(cloud, token=ADMIN) as api:
                boot(api, "owned")  # a guest the database does place here stays
            service.manager.sync_power_states()
            present = set(service.driver.list_instances())
            assert (stray in present) == (action == "log")
            assert len(present) == (2 if action == "log" else 1)
            assert f"instance {stray} is on solo but the database does not place it here" in caplog.text
        finally:
            cloud.stop()


def test_lifecycle_events_sync_the_guest_at_once(tmp_path):
    """A driver's event (libvirt's, here sent by hand) syncs the guest without waiting for the periodic task."""
    cloud = make_cloud(tmp_path, {"host": "solo"}, hosts=1)
    try:
        with client(cloud, token=ADMIN) as api:
            uuid = boot(api, "evented")
            service = compute(cloud, "solo")
            listener = []
            service.driver.set_lifecycle_listener = listener.append  # what the manager registers
            service.manager.start_lifecycle_events()
            service.driver._set_power({"uuid": uuid}, states.SHUTDOWN)
            listener[0](uuid)
            wait_until(lambda: show(api, uuid)["status"] == "SHUTOFF", 10, what="the event's sync")
    finally:
        cloud.stop()
