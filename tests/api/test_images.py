"""Image v2: create, upload, download, list and delete, and who may see what (Identity tokens)."""

from __future__ import annotations

import hashlib
import os

import jsonschema
import pytest
from falcon import testing

from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import bootstrap as seed
from ncloud.daemons.core import rpc
from ncloud.daemons.core.identity import bootstrap
from ncloud.daemons.core.identity.auth import Authenticator
from tests.cloud import identity_state

IMAGES = "/image/v2/images"
DATA = os.urandom(200_000)


@pytest.fixture
def env(tmp_path):
    conf, db = identity_state(tmp_path, NCLOUD_IMAGE__MAX_IMAGE_SIZE="300000")
    for name in ("alice", "bob"):
        bootstrap.ensure_user(db, name, f"{name}pw", f"{name}-project")
    transport = rpc.Transport("memory://")
    client = testing.TestClient(create_app(conf, db, transport))
    auth = Authenticator(conf, db)

    def token(user: str, project: str) -> dict:
        text, _ = auth.authenticate({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": f"{user}pw" if user != "admin" else "adminpw"}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}})
        return {"X-Auth-Token": text}

    yield client, {"admin": token("admin", "admin"), "alice": token("alice", "alice-project"),
                   "bob": token("bob", "bob-project")}, conf
    transport.close()
    db.dispose()


def create(client, headers, **body):
    result = client.simulate_post(IMAGES, json={"disk_format": "raw", "container_format": "bare", **body},
                                  headers=headers)
    assert result.status_code == 201, result.json
    return result.json


def upload(client, headers, image_id, data=DATA):
    return client.simulate_put(f"{IMAGES}/{image_id}/file", body=data,
                               headers={**headers, "Content-Type": "application/octet-stream"})


def test_create_upload_download_round_trip_with_glance_fields(env):
    client, tokens, conf = env
    image = create(client, tokens["alice"], name="cirros", os_distro="cirros", min_ram=64, tags=["a"])
    assert (image["status"], image["visibility"], image["owner"] is not None) == ("queued", "shared", True)
    assert image["os_distro"] == "cirros" and image["tags"] == ["a"] and image["file"].endswith("/file")
    assert upload(client, tokens["alice"], image["id"]).status_code == 204
    shown = client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json
    assert shown["status"] == "active" and shown["size"] == len(DATA)
    assert shown["checksum"] == hashlib.md5(DATA).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha512", hashlib.sha512(DATA).hexdigest())
    download = client.simulate_get(f"{IMAGES}/{image['id']}/file", headers=tokens["alice"])
    assert download.status_code == 200 and download.content == DATA
    assert download.headers["Content-MD5"] == shown["checksum"]
    again = upload(client, tokens["alice"], image["id"])
    assert again.status_code == 409
    assert client.simulate_delete(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).status_code == 204
    assert not (conf.image_store_path / image["id"]).exists()


def test_other_projects_get_404_and_do_not_list_private_images(env):
    client, tokens, _ = env
    private = create(client, tokens["alice"], name="mine", visibility="private")
    community = create(client, tokens["alice"], name="ours", visibility="community")
    for method in ("simulate_get", "simulate_delete"):
        assert getattr(client, method)(f"{IMAGES}/{private['id']}", headers=tokens["bob"]).status_code == 404
    assert upload(client, tokens["bob"], private["id"]).status_code == 404
    assert client.simulate_get(f"{IMAGES}/{private['id']}/file", headers=tokens["bob"]).status_code == 404
    bob_sees = {i["name"] for i in client.simulate_get(IMAGES, headers=tokens["bob"]).json["images"]}
    assert "mine" not in bob_sees and "ours" not in bob_sees  # community only when asked for
    listed = client.simulate_get(IMAGES, params={"visibility": "community"}, headers=tokens["bob"]).json
    assert [i["id"] for i in listed["images"]] == [community["id"]]
    assert "mine" in {i["name"] for i in client.simulate_get(IMAGES, headers=tokens["admin"]).json["images"]}


def test_only_an_admin_makes_an_image_public(env):
    client, tokens, _ = env
    refused = client.simulate_post(IMAGES, json={"name": "x", "visibility": "public"}, headers=tokens["alice"])
    assert refused.status_code == 403
    assert create(client, tokens["admin"], name="x", visibility="public")["visibility"] == "public"


@pytest.mark.parametrize("body, status", [
    ({"status": "active"}, 403), ({"size": 5}, 403), ({"disk_format": "floppy"}, 400), ({"min_ram": -1}, 400),
    ({"tags": ["a", "a"]}, 400), ({"visibility": "everyone"}, 400), ({"os_distro": 7}, 400), ([], 400),
    ({"id": "not-a-uuid"}, 400),
])
def test_bad_image_bodies(env, body, status):
    client, tokens, _ = env
    assert client.simulate_post(IMAGES, json=body, headers=tokens["alice"]).status_code == status


def test_an_upload_over_the_limit_is_413_and_leaves_the_image_queued_without_data(env):
    client, tokens, conf = env
    image = create(client, tokens["alice"], name="big")
    result = upload(client, tokens["alice"], image["id"], os.urandom(300_001))
    assert result.status_code == 413 and "the limit is 300000 bytes" in result.text
    assert client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json["status"] == "queued"
    assert not conf.image_store_path.exists() or os.listdir(conf.image_store_path) == []
    assert upload(client, tokens["alice"], image["id"]).status_code == 204  # a retry within the limit works


class BrokenBody:
    """A request body whose sender goes away after `good` bytes."""

    def __init__(self, good: int):
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("connection reset by peer")
        chunk = b"x" * min(self.left, size if size > 0 else self.left)
        self.left -= len(chunk)
        return chunk


def test_an_upload_cut_off_mid_stream_ends_killed_with_nothing_left_in_the_store(env):
    client, tokens, conf = env
    image = create(client, tokens["alice"], name="cut")
    environ = testing.create_environ(path=f"{IMAGES}/{image['id']}/file", method="PUT",
                                     headers={**tokens["alice"], "Content-Type": "application/octet-stream",
                                              "Content-Length": "250000"})
    environ["wsgi.input"] = BrokenBody(good=100_000)
    response = testing.StartResponseMock()
    body = b"".join(client.app(environ, response))
    assert response.status.startswith("500") and b"computeFault" in body  # an error body, not a traceback
    shown = client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json
    assert shown["status"] == "killed" and shown["size"] is None
    assert list(conf.image_store_path.iterdir()) == []  # neither the image nor a partial temporary file


def test_a_protected_image_cannot_be_deleted(env):
    client, tokens, _ = env
    image = create(client, tokens["alice"], name="keep", protected=True)
    result = client.simulate_delete(f"{IMAGES}/{image['id']}", headers=tokens["alice"])
    assert result.status_code == 403 and "is protected" in result.text


def test_the_image_api_wants_a_token_and_answers_version_discovery_without(env):
    client, _, _ = env
    assert client.simulate_get(IMAGES).status_code == 401
    versions = client.simulate_get("/image")
    assert versions.status_code == 300
    assert versions.json["versions"][0]["links"][0]["href"].endswith("/image/v2/")
    assert client.simulate_get("/image/versions").status_code == 200


def test_list_pages_with_marker_and_next(env):
    client, tokens, _ = env
    made = [create(client, tokens["alice"], name=f"img{n}", visibility="private")["id"] for n in range(5)]
    first = client.simulate_get(IMAGES, params={"limit": 2, "visibility": "private"}, headers=tokens["alice"]).json
    assert len(first["images"]) == 2 and "marker=" in first["next"]
    seen, page = [i["id"] for i in first["images"]], first
    while "next" in page:
        marker = page["next"].split("marker=")[1].split("&")[0]
        page = client.simulate_get(IMAGES, params={"limit": 2, "marker": marker, "visibility": "private"},
                                   headers=tokens["alice"]).json
        seen += [i["id"] for i in page["images"]]
    assert sorted(seen) == sorted(made)


def test_lists_filter_with_in_and_on_properties_as_glance_does(env):
    """`id=in:a,b` is how the openstack client names its servers' images; any other parameter
    is a property (how a backup rotation finds a server's backups)."""
    client, tokens, _ = env
    a = create(client, tokens["alice"], name="a", visibility="private", backup_type="daily")["id"]
    b = create(client, tokens["alice"], name="b, the second", visibility="private", backup_type="weekly")["id"]
    create(client, tokens["alice"], name="c", visibility="private")

    def names(**params):
        return sorted(i["name"] for i in client.simulate_get(IMAGES, params=params, headers=tokens["alice"])
                      .json["images"])
    assert names(id=f"in:{a},{b}") == ["a", "b, the second"]
    assert names(name='in:a,"b, the second"') == ["a", "b, the second"]
    assert names(backup_type="daily") == ["a"]
    assert names(backup_type="monthly") == []


def test_sorted_filtered_pages_follow_the_next_link_with_every_filter_kept(env):
    client, tokens, _ = env
    sizes = {"d": 300, "a": 100, "c": None, "b": 200, "e": 100}
    for name, size in sizes.items():
        image = create(client, tokens["alice"], name=name, visibility="private")
        if size:
            upload(client, tokens["alice"], image["id"], os.urandom(size))
    create(client, tokens["alice"], name="hidden", visibility="private", os_hidden=True)

    def walk(**params):
        page = client.simulate_get(IMAGES, params={"limit": 2, **params}, headers=tokens["alice"]).json
        names = [i["name"] for i in page["images"]]
        while "next" in page:  # followed as given: it must carry the filters and the order
            path, _, query = page["next"].partition("?")
            page = client.simulate_get("/image" + path, query_string=query, headers=tokens["alice"]).json
            names += [i["name"] for i in page["images"]]
        return names

    assert walk(sort="name:asc", visibility="private") == ["a", "b", "c", "d", "e"]
    assert walk(sort_key="name", sort_dir="desc", visibility="private") == ["e", "d", "c", "b", "a"]
    assert walk(sort="size:desc,name:asc", visibility="private") == ["d", "b", "a", "e", "c"]
    assert walk(sort="size:asc,name:desc", size_min="100", size_max="200") == ["e", "a", "b"]
    assert walk(sort="name:asc", os_hidden="true") == ["hidden"]
    for params in ({"sort": "colour:asc"}, {"sort": "name:up"}, {"sort": "name", "sort_key": "size"},
                   {"size_min": "big"}, {"os_hidden": "maybe"},
                   {"sort_key": "name", "sort_dir": ["asc", "desc", "asc"]}):
        assert client.simulate_get(IMAGES, params=params, headers=tokens["alice"]).status_code == 400, params


PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


def patch(client, headers, image_id, operations, content_type=PATCH_TYPE):
    import json

    body = operations if isinstance(operations, str) else json.dumps(operations)  # a str is sent as it is
    return client.simulate_patch(f"{IMAGES}/{image_id}", body=body,
                                 headers={**headers, "Content-Type": content_type})


def test_json_patch_changes_attributes_tags_and_properties(env):
    client, tokens, _ = env
    image = create(client, tokens["alice"], name="a", hw_disk_bus="ide")
    result = patch(client, tokens["alice"], image["id"], [
        {"op": "replace", "path": "/name", "value": "b"}, {"op": "add", "path": "/os_distro", "value": "cirros"},
        {"op": "replace", "path": "/min_ram", "value": 256}, {"op": "add", "path": "/tags", "value": ["x", "y"]},
        {"op": "remove", "path": "/hw_disk_bus"}, {"op": "replace", "path": "/protected", "value": True}])
    assert result.status_code == 200, result.json
    body = result.json
    assert (body["name"], body["os_distro"], body["min_ram"], body["tags"], body["protected"]) == (
        "b", "cirros", 256, ["x", "y"], True)
    assert "hw_disk_bus" not in body
    assert client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json["os_distro"] == "cirros"


@pytest.mark.parametrize("operations, status", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403),
    ([{"op": "remove", "path": "/name"}], 403),
    ([{"op": "replace", "path": "/nothing", "value": "x"}], 409),
    ([{"op": "remove", "path": "/nothing"}], 409),
    ([{"op": "add", "path": "/min_ram", "value": "lots"}], 400),
    ([{"op": "add", "path": "/os_distro", "value": 7}], 400),
    ([{"op": "move", "path": "/name"}], 400),
    ([{"op": "add", "path": "/a/b", "value": "x"}], 400),
    ({"op": "add"}, 400),
    ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
])
def test_bad_patches(env, operations, status):
    client, tokens, _ = env
    image = create(client, tokens["alice"], name="a")
    assert patch(client, tokens["alice"], image["id"], operations).status_code == status
    assert client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json["name"] == "a"


def test_patch_wants_its_media_type_and_the_owner(env):
    client, tokens, _ = env
    image = create(client, tokens["alice"], name="a", visibility="private")
    plain = patch(client, tokens["alice"], image["id"], [], content_type="application/json")
    assert plain.status_code == 415 and PATCH_TYPE in plain.headers["Accept-Patch"]
    assert patch(client, tokens["bob"], image["id"], [{"op": "replace", "path": "/name", "value": "x"}]) \
        .status_code == 404
    assert patch(client, tokens["alice"], image["id"], "{not json", content_type=PATCH_TYPE).status_code == 400


def test_sharing_an_image_with_another_project(env):
    client, tokens, _ = env
    bob_project = client.simulate_get("/identity/v3/auth/projects", headers=tokens["bob"]).json["projects"][0]["id"]
    private = create(client, tokens["alice"], name="private", visibility="private")
    refused = client.simulate_post(f"{IMAGES}/{private['id']}/members", json={"member": bob_project},
                                   headers=tokens["alice"])
    assert refused.status_code == 403
    shared = create(client, tokens["alice"], name="shared")
    members = f"{IMAGES}/{shared['id']}/members"
    assert client.simulate_get(f"{IMAGES}/{shared['id']}", headers=tokens["bob"]).status_code == 404
    added = client.simulate_post(members, json={"member": bob_project}, headers=tokens["alice"])
    assert added.status_code == 200 and added.json["status"] == "pending"
    assert client.simulate_post(members, json={"member": bob_project}, headers=tokens["alice"]).status_code == 409

    def listed_by_bob(**params):
        return [i["name"] for i in client.simulate_get(IMAGES, params=params, headers=tokens["bob"]).json["images"]]

    assert client.simulate_get(f"{IMAGES}/{shared['id']}", headers=tokens["bob"]).status_code == 200
    assert "shared" not in listed_by_bob()  # pending: not listed yet
    mine = f"{members}/{bob_project}"
    assert client.simulate_put(mine, json={"status": "accepted"}, headers=tokens["alice"]).status_code == 403
    accepted = client.simulate_put(mine, json={"status": "accepted"}, headers=tokens["bob"])
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert "shared" in listed_by_bob() and listed_by_bob(visibility="shared") == ["shared"]
    assert [m["member_id"] for m in client.simulate_get(members, headers=tokens["bob"]).json["members"]] \
        == [bob_project]
    assert client.simulate_put(mine, json={"status": "maybe"}, headers=tokens["bob"]).status_code == 400
    assert client.simulate_delete(mine, headers=tokens["bob"]).status_code == 403
    assert client.simulate_delete(mine, headers=tokens["alice"]).status_code == 204
    assert client.simulate_get(f"{IMAGES}/{shared['id']}", headers=tokens["bob"]).status_code == 404


def test_tags_deactivation_and_ranged_downloads(env):
    client, tokens, _ = env
    image = create(client, tokens["alice"], name="r")
    assert upload(client, tokens["alice"], image["id"]).status_code == 204
    tag = f"{IMAGES}/{image['id']}/tags/golden"
    assert client.simulate_put(tag, headers=tokens["alice"]).status_code == 204
    assert client.simulate_put(tag, headers=tokens["alice"]).status_code == 204  # idempotent
    assert client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json["tags"] == ["golden"]
    assert client.simulate_get(IMAGES, params={"tag": "golden"}, headers=tokens["alice"]).json["images"][0]["id"] \
        == image["id"]
    assert client.simulate_delete(tag, headers=tokens["alice"]).status_code == 204
    assert client.simulate_delete(tag, headers=tokens["alice"]).status_code == 404

    file = f"{IMAGES}/{image['id']}/file"
    part = client.simulate_get(file, headers={**tokens["alice"], "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == DATA[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    tail = client.simulate_get(file, headers={**tokens["alice"], "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == DATA[-10:]
    for bad in ("bytes=999999-", "lines=1-2", "bytes=5-1", "bytes=0-1,4-5"):
        assert client.simulate_get(file, headers={**tokens["alice"], "Range": bad}).status_code == 416, bad

    deactivate = f"{IMAGES}/{image['id']}/actions/deactivate"
    assert client.simulate_post(deactivate, headers=tokens["alice"]).status_code == 403  # admins only
    assert client.simulate_post(deactivate, headers=tokens["admin"]).status_code == 204
    assert client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json["status"] == "deactivated"
    assert client.simulate_get(file, headers=tokens["alice"]).status_code == 403
    reactivate = f"{IMAGES}/{image['id']}/actions/reactivate"
    assert client.simulate_post(reactivate, headers=tokens["admin"]).status_code == 204
    assert client.simulate_get(file, headers=tokens["alice"]).content == DATA


def test_per_project_image_quotas(tmp_path):
    conf, db = identity_state(tmp_path, NCLOUD_IMAGE__IMAGE_COUNT_TOTAL="2", NCLOUD_IMAGE__IMAGE_SIZE_TOTAL="1")
    client = testing.TestClient(create_app(conf, db, rpc.Transport("memory://")))
    text, _ = Authenticator(conf, db).authenticate({"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "adminpw"}}}})
    admin = {"X-Auth-Token": text}
    first, second = create(client, admin, name="one"), create(client, admin, name="two")
    third = client.simulate_post(IMAGES, json={"name": "three"}, headers=admin)
    assert third.status_code == 413 and "image_count_total" in third.text
    assert upload(client, admin, first["id"], os.urandom(700_000)).status_code == 204
    over = upload(client, admin, second["id"], os.urandom(400_000))  # 700 kB + 400 kB > 1 MiB
    assert over.status_code == 413
    assert client.simulate_get(f"{IMAGES}/{second['id']}", headers=admin).json["status"] == "queued"
    assert upload(client, admin, second["id"], os.urandom(300_000)).status_code == 204  # fits what is left
    db.dispose()


def test_projects_never_see_each_others_servers_and_boot_only_images_they_may_see(env):
    client, tokens, _ = env

    def boot(who, image_id):
        return client.simulate_post("/compute/v2.1/servers", headers=tokens[who], json={
            "server": {"name": f"{who}-vm", "flavorRef": "1", "imageRef": image_id}})

    booted = boot("alice", seed.DEMO_IMAGE_ID)
    assert booted.status_code == 202, booted.json
    server = f"/compute/v2.1/servers/{booted.json['server']['id']}"
    assert client.simulate_get(server, headers=tokens["bob"]).status_code == 404
    assert client.simulate_delete(server, headers=tokens["bob"]).status_code == 404
    assert client.simulate_get("/compute/v2.1/servers", headers=tokens["bob"]).json == {"servers": []}
    assert client.simulate_get(server, headers=tokens["alice"]).status_code == 200

    private = create(client, tokens["alice"], name="private", visibility="private")
    assert upload(client, tokens["alice"], private["id"]).status_code == 204
    refused = boot("bob", private["id"])
    assert refused.status_code == 400 and refused.json["badRequest"]["message"] == "Can not find requested image"
    shared = create(client, tokens["alice"], name="shared")
    assert upload(client, tokens["alice"], shared["id"]).status_code == 204
    assert boot("bob", shared["id"]).status_code == 400
    bob_project = client.simulate_get("/identity/v3/auth/projects", headers=tokens["bob"]).json["projects"][0]["id"]
    client.simulate_post(f"{IMAGES}/{shared['id']}/members", json={"member": bob_project}, headers=tokens["alice"])
    assert boot("bob", shared["id"]).status_code == 202


def test_the_published_schemas_describe_the_documents_the_api_returns(env):
    client, tokens, _ = env
    schemas = {name: client.simulate_get(f"/image/v2/schemas/{name}", headers=tokens["alice"])
               for name in ("image", "images", "member", "members")}
    assert {name: result.status_code for name, result in schemas.items()} == dict.fromkeys(schemas, 200)
    assert client.simulate_get("/image/v2/schemas/image").status_code == 401  # behind a token, as Glance's
    assert client.simulate_get("/image/v2/schemas/nothing", headers=tokens["alice"]).status_code == 404
    image_schema = schemas["image"].json
    assert image_schema["properties"]["checksum"]["readOnly"] and "readOnly" not in image_schema["properties"]["name"]

    image = create(client, tokens["alice"], name="described", os_distro="cirros", tags=["t"])
    upload(client, tokens["alice"], image["id"])
    bob_project = client.simulate_get("/identity/v3/auth/projects", headers=tokens["bob"]).json["projects"][0]["id"]
    client.simulate_post(f"{IMAGES}/{image['id']}/members", json={"member": bob_project}, headers=tokens["alice"])
    documents = {
        "image": client.simulate_get(f"{IMAGES}/{image['id']}", headers=tokens["alice"]).json,
        "images": client.simulate_get(IMAGES, headers=tokens["alice"]).json,
        "member": client.simulate_get(f"{IMAGES}/{image['id']}/members/{bob_project}", headers=tokens["alice"]).json,
        "members": client.simulate_get(f"{IMAGES}/{image['id']}/members", headers=tokens["alice"]).json,
    }
    for name, document in documents.items():
        jsonschema.validate(document, schemas[name].json)  # raises on the first mismatch
        assert document["schema"] == f"/v2/schemas/{name}"
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict enough to notice a wrong document
        jsonschema.validate({**documents["image"], "status": "exploded"}, image_schema)


def test_unified_limits_set_image_quotas_per_project_over_a_registered_default(env):
    client, tokens, _ = env
    v3, admin = "/identity/v3", tokens["admin"]
    glance = client.simulate_get(f"{v3}/services", params={"name": "glance"}, headers=admin).json["services"][0]["id"]
    projects = {p["name"]: p["id"] for p in client.simulate_get(f"{v3}/projects", headers=admin).json["projects"]}

    def register(**ref):
        return client.simulate_post(f"{v3}/registered_limits", headers=admin, json={"registered_limits": [
            {"service_id": glance, **ref}]})

    def limit(who=admin, **ref):
        return client.simulate_post(f"{v3}/limits", headers=who, json={"limits": [{"service_id": glance, **ref}]})

    early = limit(project_id=projects["alice-project"], resource_name="image_count_total", resource_limit=3)
    assert early.status_code == 403 and "register one" in early.json["error"]["message"]
    registered = register(resource_name="image_count_total", default_limit=1)
    assert registered.status_code == 201
    assert register(resource_name="image_count_total", default_limit=5).status_code == 409
    assert register(resource_name="image_size_total", default_limit="lots").status_code == 400
    create(client, tokens["alice"], name="a1")
    assert client.simulate_post(IMAGES, json={"name": "a2"}, headers=tokens["alice"]).status_code == 413

    assert limit(tokens["alice"], project_id=projects["alice-project"], resource_name="image_count_total",
                 resource_limit=99).status_code == 403  # not an admin
    made = limit(project_id=projects["alice-project"], resource_name="image_count_total", resource_limit=3)
    assert made.status_code == 201
    limit_id = made.json["limits"][0]["id"]
    create(client, tokens["alice"], name="a2")
    create(client, tokens["alice"], name="a3")
    assert client.simulate_post(IMAGES, json={"name": "a4"}, headers=tokens["alice"]).status_code == 413
    create(client, tokens["bob"], name="b1")  # bob keeps the registered default of 1
    assert client.simulate_post(IMAGES, json={"name": "b2"}, headers=tokens["bob"]).status_code == 413

    mine = client.simulate_get(f"{v3}/limits", headers=tokens["alice"]).json["limits"]
    assert [(item["project_id"], item["resource_limit"]) for item in mine] == [(projects["alice-project"], 3)]
    assert client.simulate_get(f"{v3}/limits", headers=tokens["bob"]).json["limits"] == []
    assert client.simulate_get(f"{v3}/limits/{limit_id}", headers=tokens["bob"]).status_code == 404
    assert client.simulate_get(f"{v3}/registered_limits", headers=tokens["bob"]).json["registered_limits"][0][
        "default_limit"] == 1
    assert client.simulate_get(f"{v3}/limits/model", headers=tokens["bob"]).json["model"]["name"] == "flat"
    refused = client.simulate_delete(f"{v3}/registered_limits/{registered.json['registered_limits'][0]['id']}",
                                     headers=admin)
    assert refused.status_code == 403  # alice's limit refers to it
    assert client.simulate_patch(f"{v3}/limits/{limit_id}", json={"limit": {"resource_limit": 4}},
                                 headers=admin).json["limit"]["resource_limit"] == 4
    create(client, tokens["alice"], name="a4")
    assert client.simulate_delete(f"{v3}/limits/{limit_id}", headers=admin).status_code == 204
    assert client.simulate_post(IMAGES, json={"name": "a5"}, headers=tokens["alice"]).status_code == 413

    # bytes: a registered image_size_total (MiB) caps an upload at what the project has left
    assert register(resource_name="image_size_total", default_limit=0).status_code == 201
    over = upload(client, tokens["bob"], client.simulate_get(IMAGES, params={"name": "b1"},
                                                             headers=tokens["bob"]).json["images"][0]["id"])
    assert over.status_code == 413
