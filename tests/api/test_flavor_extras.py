"""Flavor extra specs (validated from 2.86) and access to private flavors."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, BOB, IMAGE_ID
from tests.api.tempest_schemas import conforms

pytestmark = pytest.mark.usefixtures("seeded")


def test_extra_specs_verbs(api):
    base = "/flavors/1/os-extra_specs"
    added = api.post(base, token=ADMIN, json={"extra_specs": {"hw:cpu_policy": "dedicated", "note": "x"}})
    conforms(added, "2.1", "flavors_extra_specs", "set_get_flavor_extra_specs")
    listed = api.get(base)
    conforms(listed, "2.1", "flavors_extra_specs", "set_get_flavor_extra_specs")
    assert listed.json == {"extra_specs": {"hw:cpu_policy": "dedicated", "note": "x"}}
    one = api.put(f"{base}/note", token=ADMIN, json={"note": "y"})
    conforms(one, "2.1", "flavors_extra_specs", "set_get_flavor_extra_specs_key")
    conforms(api.get(f"{base}/note"), "2.1", "flavors_extra_specs", "set_get_flavor_extra_specs_key")
    assert api.put(f"{base}/note", token=ADMIN, json={"other": "y"}).status_code == 400
    conforms(api.delete(f"{base}/note", token=ADMIN), "2.1", "flavors_extra_specs", "unset_flavor_extra_specs")
    assert api.get(f"{base}/note").status_code == 404
    assert api.post(base, json={"extra_specs": {"a": "b"}}).status_code == 403
    assert api.get("/flavors/2", version="2.61").json["flavor"]["extra_specs"] == {"a": "b"}


@pytest.mark.parametrize("specs", [{"hw:cpu_policy": "fast"}, {"hw:no_such_thing": "1"},
                                   {"trait:HW_CPU_X86_AVX": "maybe"}, {"resources:VGPU": "-1"}])
def test_from_2_86_known_namespaces_are_validated(api, specs):
    refused = api.post("/flavors/1/os-extra_specs", token=ADMIN, version="2.86", json={"extra_specs": specs})
    assert refused.status_code == 400
    assert refused.json["badRequest"]["message"].startswith("Validation failed; extra spec")
    assert api.post("/flavors/1/os-extra_specs", token=ADMIN, version="2.85",
                    json={"extra_specs": specs}).status_code == 200


def test_unknown_namespaces_pass_at_2_86(api):
    assert api.post("/flavors/1/os-extra_specs", token=ADMIN, version="2.86",
                    json={"extra_specs": {"mycompany:tier": "gold", "hw:cpu_policy": "shared"}}).status_code == 200


def test_a_private_flavor_is_for_the_projects_given_it(api):
    private = "/flavors/9"
    assert "9" not in [f["id"] for f in api.get("/flavors").json["flavors"]]
    boot = {"server": {"name": "p", "flavorRef": "9", "imageRef": IMAGE_ID}}
    assert api.post("/servers", json=boot).status_code == 400
    added = api.post(f"{private}/action", token=ADMIN, json={"addTenantAccess": {"tenant": "p1"}})
    conforms(added, "2.1", "flavors_access", "add_remove_list_flavor_access")
    assert added.json == {"flavor_access": [{"flavor_id": "9", "tenant_id": "p1"}]}
    assert "9" in [f["id"] for f in api.get("/flavors").json["flavors"]]
    assert "9" not in [f["id"] for f in api.get("/flavors", token=BOB).json["flavors"]]
    assert api.post("/servers", json=boot).status_code == 202
    again = api.post(f"{private}/action", token=ADMIN, json={"addTenantAccess": {"tenant": "p1"}})
    assert again.status_code == 409
    conforms(api.get(f"{private}/os-flavor-access", token=ADMIN), "2.1", "flavors_access",
             "add_remove_list_flavor_access")
    removed = api.post(f"{private}/action", token=ADMIN, json={"removeTenantAccess": {"tenant": "p1"}})
    assert removed.json == {"flavor_access": []}
    assert api.post(f"{private}/action", token=ADMIN, json={"removeTenantAccess": {"tenant": "p1"}}).status_code == 404
    assert api.post(f"{private}/action", json={"addTenantAccess": {"tenant": "p1"}}).status_code == 403


def test_public_flavors_have_no_access_list_and_refuse_one_from_2_7(api):
    assert api.get("/flavors/1/os-flavor-access", token=ADMIN).status_code == 404
    assert api.post("/flavors/1/action", token=ADMIN, version="2.7",
                    json={"addTenantAccess": {"tenant": "p1"}}).status_code == 409
    assert api.post("/flavors/1/action", token=ADMIN, version="2.6",
                    json={"addTenantAccess": {"tenant": "p1"}}).status_code == 200
