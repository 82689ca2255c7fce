"""The rest of the end-user and project-admin commands, each doing its one thing against the
all-in-one of conftest.py and showing the result as the API has it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.cli.conftest import NCLOUD


def as_json(ncloud, *args: str):
    return json.loads(ncloud(*args, "-f", "json").stdout)


def test_server_actions_and_details(demo):
    demo("server", "create", "--image", "ncloud-demo", "--flavor", "m1.tiny", "--network", "none", "--wait",
         "--description", "first", "--availability-zone", "nova", "acts")
    demo("server", "set", "--name", "acts-2", "--description", "second", "--property", "a=1", "--property", "b=2",
         "acts")
    shown = as_json(demo, "server", "show", "acts-2")
    assert (shown["description"], shown["properties"]) == ("second", {"a": "1", "b": "2"})
    demo("server", "unset", "--property", "a", "--description", "acts-2")
    shown = as_json(demo, "server", "show", "acts-2")
    assert (shown["description"], shown["properties"]) == (None, {"b": "2"})

    for verb, status in (("pause", "PAUSED"), ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"), ("resume", "ACTIVE"),
                         ("rescue", "RESCUE"), ("unrescue", "ACTIVE"), ("shelve", "SHELVED_OFFLOADED"),
                         ("unshelve", "ACTIVE"), ("rebuild", "ACTIVE")):
        demo("server", verb, "--wait", "acts-2")
        assert as_json(demo, "server", "show", "acts-2")["status"] == status, verb
    demo("server", "lock", "--reason", "audit", "acts-2")
    assert as_json(demo, "server", "show", "acts-2")["locked"] is True
    demo("server", "unlock", "acts-2")

    events = as_json(demo, "server", "event", "list", "acts-2")
    assert {event["Action"] for event in events} >= {"create", "pause", "unpause", "suspend", "resume", "rescue",
                                                      "unrescue", "shelve", "unshelve", "rebuild", "lock", "unlock"}
    request_id = next(event["Request ID"] for event in events if event["Action"] == "create")
    assert as_json(demo, "server", "event", "show", "acts-2", request_id)["action"] == "create"
    assert "fake console of " in demo("console", "log", "show", "--lines", "5", "acts-2").stdout
    demo("server", "delete", "--wait", "acts-2")


def test_key_pairs_made_here_keep_their_private_key_here(demo, tmp_path):
    private = tmp_path / "made.key"
    shown = as_json(demo, "keypair", "create", "--private-key", str(private), "made")
    assert shown["name"] == "made" and shown["type"] == "ssh"
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert demo("keypair", "show", "--public-key", "made").stdout.split()[:2] == public[:2]
    assert [k["Name"] for k in as_json(demo, "keypair", "list")] == ["made"]
    printed = demo("keypair", "create", "printed").stdout
    assert printed.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    demo("keypair", "delete", "made", "printed")
    assert as_json(demo, "keypair", "list") == []


def test_images_download_share_and_change(demo, admin, tmp_path):
    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(100_000))
    image = as_json(demo, "image", "create", "--file", str(data), "--shared", "--property", "os_distro=tiny",
                    "--min-ram", "32", "shared")
    assert (image["visibility"], image["properties"]["os_distro"], image["min_ram"]) == ("shared", "tiny", 32)
    demo("image", "save", "--file", str(tmp_path / "back.raw"), "shared")
    assert (tmp_path / "back.raw").read_bytes() == data.read_bytes()
    demo("image", "set", "--name", "shared-2", "--property", "hw_qemu_guest_agent=yes", "--tag", "t1", "shared")
    changed = as_json(demo, "image", "show", "shared-2")
    assert changed["properties"]["hw_qemu_guest_agent"] == "yes" and changed["tags"] == ["t1"]

    admin_project = as_json(admin, "project", "show", "admin")["id"]
    member = as_json(demo, "image", "member", "add", "shared-2", admin_project)
    assert (member["Member ID"], member["Status"]) == (admin_project, "pending")
    admin("image", "member", "set", "--accept", image["id"], admin_project)
    assert as_json(demo, "image", "member", "list", "shared-2")[0]["Status"] == "accepted"
    assert "shared-2" in admin("image", "list", "--shared", "-f", "value", "-c", "Name").stdout.split()
    demo("image", "member", "remove", "shared-2", admin_project)
    demo("image", "delete", "shared-2")


def test_flavors_quotas_and_limits(admin, demo):
    flavor = as_json(admin, "flavor", "create", "--ram", "128", "--vcpus", "2", "--disk", "1", "--property",
                     "hw:cpu_policy=shared", "--private", "small-private")
    assert (flavor["ram"], flavor["vcpus"], flavor["properties"], flavor["os-flavor-access:is_public"]) == (
        128, 2, {"hw:cpu_policy": "shared"}, False)
    admin("flavor", "set", "--property", "k=v", "small-private")
    admin("flavor", "unset", "--property", "hw:cpu_policy", "small-private")
    assert as_json(admin, "flavor", "show", "small-private")["properties"] == {"k": "v"}
    assert "small-private" in admin("flavor", "list", "--all", "-f", "value", "-c", "Name").stdout.split()
    assert "small-private" not in demo("flavor", "list", "-f", "value", "-c", "Name").stdout.split()
    admin("flavor", "delete", "small-private")

    admin("quota", "set", "--instances", "7", "--cores", "9", "demo")
    quotas = as_json(demo, "quota", "show")
    assert (quotas["instances"], quotas["cores"]) == (7, 9)
    usage = {row["Resource"]: row for row in as_json(demo, "quota", "show", "--usage")}
    assert usage["instances"]["Limit"] == 7
    limits = {row["Name"]: row["Value"] for row in as_json(demo, "limits", "show")}
    assert (limits["maxTotalInstances"], limits["maxTotalCores"]) == (7, 9)
    invalid = demo("quota", "set", "demo", check=False)
    assert invalid.returncode == 2 and "give at least one quota to set" in invalid.stderr


def test_server_groups_aggregates_zones_hypervisors_and_services(admin, demo):
    group = as_json(demo, "server", "group", "create", "--policy", "anti-affinity", "spread")
    assert (group["name"], group["policy"], group["members"]) == ("spread", "anti-affinity", [])
    assert [g["Name"] for g in as_json(demo, "server", "group", "list")] == ["spread"]
    demo("server", "group", "delete", "spread")

    hypervisors = as_json(admin, "hypervisor", "list")
    host = hypervisors[0]["Hypervisor Hostname"]
    assert as_json(admin, "hypervisor", "show", host)["hypervisor_hostname"] == host
    aggregate = as_json(admin, "aggregate", "create", "--zone", "az-fast", "--property", "ssd=true", "fast")
    assert (aggregate["availability_zone"], aggregate["properties"]) == ("az-fast", {"ssd": "true"})
    assert as_json(admin, "aggregate", "add", "host", "fast", host)["hosts"] == [host]
    zones = {z["Zone Name"] for z in as_json(admin, "availability", "zone", "list")}
    assert "az-fast" in zones
    admin("aggregate", "remove", "host", "fast", host)
    admin("aggregate", "delete", "fast")

    services = as_json(admin, "compute", "service", "list", "--service", "ncloud-compute")
    assert [s["State"] for s in services] == ["up", "up"]
    admin("compute", "service", "set", "--disable", "--disable-reason", "maintenance", host, "ncloud-compute")
    assert as_json(admin, "compute", "service", "list", "--long", "--host", host, "--service",
                   "ncloud-compute")[0]["Disabled Reason"] == "maintenance"
    admin("compute", "service", "set", "--enable", host, "ncloud-compute")


def test_projects_users_roles_and_credentials(admin, tmp_path):
    project = as_json(admin, "project", "create", "--description", "team", "team")
    ann = as_json(admin, "user", "create", "--password", "s3cret-pass", "--project", "team", "ann")
    admin("role", "add", "--project", "team", "--user", "ann", "member")
    assignments = as_json(admin, "role", "assignment", "list", "--user", "ann", "--names")
    assert [(a["Role"], a["User"], a["Project"]) for a in assignments] == [("member", "ann", "team")]

    # ann, through the --os-* options alone, issues a token and makes an application credential
    env = {**admin.env, "XDG_CACHE_HOME": str(tmp_path / "ann-cache")}
    env.pop("OS_CLOUD")
    clouds = yaml.safe_load(Path(admin.env["OS_CLIENT_CONFIG_FILE"]).read_text())["clouds"]
    auth_url = clouds["ncloud"]["auth"]["auth_url"]
    as_ann_options = ["--os-auth-url", auth_url, "--os-username", "ann", "--os-password", "s3cret-pass",
           "--os-project-name", "team"]

    def as_ann(*args):
        done = subprocess.run([NCLOUD, *as_ann_options, *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    token = json.loads(as_ann("token", "issue", "-f", "json"))
    assert token["project_id"] == project["id"] and token["user_id"] == ann["id"]
    credential = json.loads(as_ann("application", "credential", "create", "-f", "json", "ci"))
    assert credential["secret"] and credential["name"] == "ci"
    assert [c["Name"] for c in json.loads(as_ann("application", "credential", "list", "-f", "json"))] == ["ci"]
    as_ann("application", "credential", "delete", "ci")

    admin("role", "remove", "--project", "team", "--user", "ann", "member")
    admin("user", "set", "--disable", "ann")
    assert as_json(admin, "user", "show", "ann")["enabled"] is False
    admin("user", "delete", "ann")
    admin("project", "delete", "team")
    assert "team" not in admin("project", "list", "-f", "value", "-c", "Name").stdout.split()


def test_moves_between_hosts(admin, demo):
    demo("server", "create", "--image", "ncloud-demo", "--flavor", "m1.tiny", "--network", "none", "--wait", "mover")
    uuid = demo("server", "show", "mover", "-f", "value", "-c", "id").stdout.strip()

    def host() -> str:
        return as_json(admin, "server", "show", uuid)["OS-EXT-SRV-ATTR:host"]

    first = host()
    admin("server", "migrate", "--wait", uuid)
    assert as_json(admin, "server", "show", uuid)["status"] == "VERIFY_RESIZE"
    admin("server", "resize", "--confirm", "--wait", uuid)
    second = host()
    assert second != first
    admin("server", "migrate", "--live", "--host", first, "--wait", uuid)
    assert host() == first
    # The host "dies": fenced and forced down, its server is rebuilt on the other one.
    admin("compute", "service", "set", "--down", first, "ncloud-compute")
    try:
        admin("server", "evacuate", "--wait", uuid)
        assert host() == second
    finally:
        admin("compute", "service", "set", "--up", first, "ncloud-compute")
    listed = as_json(admin, "server", "list", "--all-projects", "--host", second, "--long")
    assert [(s["Name"], s["Host"]) for s in listed] == [("mover", second)]
    demo("server", "delete", "--wait", "mover")
