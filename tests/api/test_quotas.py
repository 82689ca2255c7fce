"""Quotas: os-quota-sets, os-quota-class-sets and /limits, and what they refuse when a boot does not fit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import ADMIN, ALICE, BOB, IMAGE_ID
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def set_quota(api, project="p1", user=None, version=None, **limits):
    path = f"/os-quota-sets/{project}" + (f"?user_id={user}" if user else "")
    return api.put(path, token=ADMIN, version=version, json={"quota_set": limits})


def boot(api, token=ALICE, flavor="1", **server):
    return api.post("/servers", token=token, json={"server": {"name": "q", "flavorRef": flavor, "imageRef": IMAGE_ID,
                                                              **server}})


@pytest.mark.parametrize("version", ["2.1", "2.36", "2.57", "2.100"])
def test_quota_sets_conform_at_each_version(api, version):
    conforms(api.get("/os-quota-sets/p1", version=version), version, "quotas", "get_quota_set")
    conforms(api.get("/os-quota-sets/p1/defaults", version=version), version, "quotas", "get_quota_set")
    conforms(api.get("/os-quota-sets/p1/detail", version=version), version, "quotas", "get_quota_set_details")
    conforms(set_quota(api, version=version, instances=20), version, "quotas", "update_quota_set")
    shown = api.get("/os-quota-sets/p1", version=version).json["quota_set"]
    assert ("floating_ips" in shown) == (version == "2.1")
    assert ("injected_files" in shown) == (version in ("2.1", "2.36"))


def test_defaults_come_from_the_configuration_then_the_default_class(api):
    shown = api.get("/os-quota-sets/p1").json["quota_set"]
    assert (shown["id"], shown["instances"], shown["cores"], shown["ram"], shown["key_pairs"]) == (
        "p1", 10, 20, 51200, 100)
    updated = api.put("/os-quota-class-sets/default", token=ADMIN, json={"quota_class_set": {"instances": 15}})
    assert updated.status_code == 200 and updated.json["quota_class_set"]["instances"] == 15
    assert api.get("/os-quota-sets/p1").json["quota_set"]["instances"] == 15
    assert api.get("/os-quota-sets/p1/defaults").json["quota_set"]["instances"] == 15
    assert api.put("/os-quota-class-sets/default", json={"quota_class_set": {"instances": 1}}).status_code == 403


@pytest.mark.parametrize("version", ["2.1", "2.50", "2.57"])
def test_quota_class_sets_conform(api, version):
    conforms(api.get("/os-quota-class-sets/default", token=ADMIN, version=version), version, "quota_classes",
             "get_quota_class_set")
    conforms(api.put("/os-quota-class-sets/default", token=ADMIN, version=version,
                     json={"quota_class_set": {"cores": 40}}), version, "quota_classes", "update_quota_class_set")


def test_only_admins_change_quotas_and_members_read_only_their_own(api):
    assert set_quota(api, instances=1).status_code == 200
    assert api.put("/os-quota-sets/p1", json={"quota_set": {"instances": 99}}).status_code == 403
    assert api.get("/os-quota-sets/p2").status_code == 403
    assert api.get("/os-quota-sets/p2", token=BOB).status_code == 200
    assert api.delete("/os-quota-sets/p1").status_code == 403
    assert api.delete("/os-quota-sets/p1", token=ADMIN).status_code == 202
    assert api.get("/os-quota-sets/p1").json["quota_set"]["instances"] == 10
    assert set_quota(api, instances="many").status_code == 400
    assert set_quota(api, instances=-2).status_code == 400
    assert set_quota(api, bogus=1).status_code == 400


def test_a_boot_beyond_the_quota_is_403_in_novas_words_and_creates_nothing(api):
    set_quota(api, instances=2)
    assert boot(api).status_code == 202 and boot(api).status_code == 202
    refused = boot(api)
    assert refused.status_code == 403
    assert refused.json["forbidden"]["message"] == (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")
    assert len(api.get("/servers").json["servers"]) == 2
    set_quota(api, cores=3, instances=10)
    big = boot(api, flavor="2", min_count=2)  # m1.small has 1 VCPU: 2 used + 2 > 3
    assert big.status_code == 403 and "cores" in big.json["forbidden"]["message"]


def test_min_and_max_count_boot_as_many_as_fit(api):
    set_quota(api, instances=5)
    response = boot(api, min_count=2, max_count=8, return_reservation_id=True)
    assert response.status_code == 202
    reservation = response.json["reservation_id"]
    assert len(api.get(f"/servers?reservation_id={reservation}").json["servers"]) == 5
    assert boot(api).status_code == 403


def test_lowering_a_quota_below_usage_needs_force(api):
    boot(api)
    boot(api)
    refused = set_quota(api, instances=1)
    assert refused.status_code == 400
    assert refused.json["badRequest"]["message"] == (
        "Quota limit 1 for instances must be greater than or equal to already used and reserved 2.")
    assert set_quota(api, instances=1, force=True).status_code == 200


def test_a_users_quota_within_the_project_binds_that_user(api):
    set_quota(api, instances=4)
    assert set_quota(api, user="alice", instances=5).status_code == 400  # above the project's
    assert set_quota(api, user="alice", instances=1).status_code == 200
    assert api.get("/os-quota-sets/p1?user_id=alice").json["quota_set"]["instances"] == 1
    assert boot(api).status_code == 202
    assert boot(api).status_code == 403
    assert boot(api, token="carol:p1").status_code == 202  # carol has only the project's limit


def test_metadata_items_and_key_pairs_have_limits_too(api, ed25519_key):
    set_quota(api, metadata_items=2)
    refused = boot(api, metadata={"a": "1", "b": "2", "c": "3"})
    assert refused.status_code == 403 and "metadata items" in refused.json["forbidden"]["message"]
    api.put("/os-quota-class-sets/default", token=ADMIN, json={"quota_class_set": {"key_pairs": 1}})
    assert api.post("/os-keypairs", json={"keypair": {"name": "a", "public_key": ed25519_key}}).status_code == 200
    second = api.post("/os-keypairs", json={"keypair": {"name": "b", "public_key": ed25519_key}})
    assert second.status_code == 403
    assert second.json["forbidden"]["message"] == "Quota exceeded, too many key pairs."


def test_detail_shows_what_is_in_use(api):
    boot(api, flavor="2")
    detail = api.get("/os-quota-sets/p1/detail").json["quota_set"]
    assert detail["instances"] == {"limit": 10, "in_use": 1, "reserved": 0}
    assert (detail["cores"]["in_use"], detail["ram"]["in_use"]) == (1, 2048)


@pytest.mark.parametrize("version", ["2.1", "2.36", "2.39", "2.57", "2.100"])
def test_limits_conform_and_count_usage(api, version):
    boot(api, flavor="2")
    response = api.get("/limits", version=version)
    conforms(response, version, "limits", "get_limit")
    absolute = response.json["limits"]["absolute"]
    assert (absolute["maxTotalInstances"], absolute["totalInstancesUsed"], absolute["totalRAMUsed"]) == (
        10, 1, 2048)
    assert ("maxImageMeta" in absolute) == (int(version.split(".")[1]) < 39)


def test_limits_of_another_project_are_an_admins(api):
    boot(api, token=BOB)
    assert api.get("/limits?tenant_id=p2").status_code == 403
    assert api.get("/limits?tenant_id=p2", token=ADMIN).json["limits"]["absolute"]["totalInstancesUsed"] == 1


def test_fifty_concurrent_boots_against_a_quota_of_ten_leave_exactly_ten(api):
    set_quota(api, instances=10)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: boot(api).status_code, range(50)))
    assert statuses.count(202) == 10 and statuses.count(403) == 40
    assert len(api.get("/servers").json["servers"]) == 10
