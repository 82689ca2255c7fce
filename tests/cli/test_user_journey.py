"""An end user's day with `ncloud` alone, against the all-in-one of conftest.py: log in, import
a key pair, upload an image with a progress bar, create a server and wait for it, look at it in
every output format, stop, start, reboot, resize and confirm, snapshot, delete and wait. Once
through clouds.yaml, once through the OS_* variables of an openrc; then what users see when
things go wrong, word for word.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import yaml

from tests.cli.conftest import DOOMED, NCLOUD


def on_a_terminal(env: dict, *args: str) -> str:
    """What `ncloud ARGS` shows on a terminal (a pseudo-terminal here)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([NCLOUD, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                               cwd=env["HOME"])
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(60) == 0, seen.decode(errors="replace")
    os.close(controller)
    return seen.decode(errors="replace")


def test_the_whole_journey(user, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(tmp_path / "id")],
                   check=True)
    imported = json.loads(user("keypair", "create", "--public-key", str(tmp_path / "id.pub"), "laptop",
                               "-f", "json").stdout)
    assert imported["name"] == "laptop" and imported["fingerprint"]

    # An image from a file: a progress bar on a terminal, then the image as the API shows it.
    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(3 * 1024 * 1024))
    shown = on_a_terminal(user.env, "image", "create", "--file", str(data), "--disk-format", "raw", "mine")
    assert "uploading disk.raw" in shown and "3.1/3.1 MB" in shown
    image = json.loads(user("image", "show", "mine", "-f", "json").stdout)
    assert (image["status"], image["size"], image["visibility"]) == ("active", 3 * 1024 * 1024, "private")

    (tmp_path / "user-data").write_text("#!/bin/sh\necho hello\n")
    created = json.loads(user("server", "create", "--image", "mine", "--flavor", "m1.tiny", "--network", "none",
                              "--key-name", "laptop", "--property", "role=web", "--user-data",
                              str(tmp_path / "user-data"), "--wait", "-f", "json", "web").stdout)
    assert (created["status"], created["key_name"], created["flavor"]) == ("ACTIVE", "laptop", "m1.tiny")
    assert created["properties"] == {"role": "web"} and created["image"] == f"mine ({image['id']})"
    uuid = created["id"]

    # The list and the show in every format.
    table = user("server", "list").stdout.splitlines()
    assert re.fullmatch(r"ID\s+Name\s+Status\s+Networks\s+Image\s+Flavor", table[0])
    assert re.fullmatch(rf"{uuid}\s+web\s+ACTIVE\s+mine\s+m1.tiny", table[1])
    assert json.loads(user("server", "list", "-f", "json").stdout) == [
        {"ID": uuid, "Name": "web", "Status": "ACTIVE", "Networks": "", "Image": "mine", "Flavor": "m1.tiny"}]
    assert yaml.safe_load(user("server", "list", "-f", "yaml", "-c", "Name", "-c", "Status").stdout) == [
        {"Name": "web", "Status": "ACTIVE"}]
    assert user("server", "list", "-f", "value", "-c", "ID", "-c", "Name").stdout == f"{uuid} web\n"
    assert user("server", "list", "-f", "csv", "-c", "Name", "-c", "Flavor").stdout == \
        '"Name","Flavor"\n"web","m1.tiny"\n'
    assert user("server", "show", "web", "-f", "value", "-c", "status", "-c", "key_name").stdout == "laptop\nACTIVE\n"
    assert yaml.safe_load(user("server", "show", uuid, "-f", "yaml", "-c", "name").stdout) == {"name": "web"}
    assert re.search(r"^status\s+ACTIVE$", user("server", "show", "web").stdout, re.MULTILINE)
    assert user("server", "show", "web", "-f", "csv", "-c", "id").stdout == f'"id"\n"{uuid}"\n'

    def status() -> str:
        return user("server", "show", "web", "-f", "value", "-c", "status").stdout.strip()

    user("server", "stop", "--wait", "web")
    assert status() == "SHUTOFF"
    user("server", "start", "--wait", "web")
    assert status() == "ACTIVE"
    user("server", "reboot", "--hard", "--wait", "web")
    assert status() == "ACTIVE"
    user("server", "resize", "--flavor", "m1.small", "--wait", "web")
    assert status() == "VERIFY_RESIZE"
    user("server", "resize", "--confirm", "--wait", "web")
    assert user("server", "show", "web", "-f", "value", "-c", "status", "-c", "flavor").stdout == "m1.small\nACTIVE\n"

    snapshot = json.loads(user("server", "image", "create", "--name", "web-snap", "--wait", "web",
                               "-f", "json").stdout)
    assert snapshot["status"] == "active" and snapshot["name"] == "web-snap"
    assert "web-snap" in user("image", "list", "-f", "value", "-c", "Name").stdout.split()

    deleted = user("server", "delete", "--wait", "web")
    assert "server web: deleted" in deleted.stderr
    gone = user("server", "show", "web", check=False)
    assert (gone.returncode, gone.stderr) == (1, "error: No server with a name or ID of 'web' exists.\n")
    user("image", "delete", "web-snap", "mine")
    user("keypair", "delete", "laptop")


def test_a_login_is_cached_per_cloud_for_the_user_alone(user):
    user("flavor", "list")
    (cached,) = (user.home / "cache" / "ncloud" / "tokens").iterdir()
    assert oct(cached.stat().st_mode & 0o777) == "0o600"
    assert oct(cached.parent.stat().st_mode & 0o777) == "0o700"
    again = user("--debug", "flavor", "list")
    assert "/auth/tokens" not in again.stderr  # no login: the cached token
    assert re.search(r"REQ: GET http://\S+/compute/v2.1/flavors/detail", again.stderr)
    token = json.loads(cached.read_text())["token"]
    assert "X-Auth-Token: ***" in again.stderr and token not in again.stderr


def test_debug_shows_the_login_with_its_secrets_masked(user):
    done = user("--debug", "token", "issue", "-f", "value", "-c", "id")
    token = done.stdout.strip()
    assert re.search(r"REQ: POST http://\S+/identity/v3/auth/tokens", done.stderr)
    assert '"password": "***"' in done.stderr and user.env.get("OS_PASSWORD", "not-in-env") not in done.stderr
    assert "x-subject-token: ***" in done.stderr.lower() and token not in done.stderr
    assert re.search(r"RESP: 201 Created in \d+ ms", done.stderr)


# -- what users see when things go wrong --------------------------------------------------------

def test_a_wrong_password_is_refused_with_the_request_id(user):
    done = user("--os-password", "wrong", "server", "list", check=False)
    assert done.returncode == 4 and done.stdout == ""
    source = f"cloud 'ncloud-demo' of {user.env['OS_CLIENT_CONFIG_FILE']}" if "OS_CLOUD" in user.env \
        else "the OS_* variables"
    assert re.fullmatch(r"error: the login was refused: The request you have made requires authentication\. "
                        rf"\(check the credentials of {re.escape(source)}\) "
                        r"\(HTTP 401, request req-[0-9a-f-]{36}\)\n", done.stderr), done.stderr


def test_an_unknown_flavor_is_named(user):
    done = user("server", "create", "--image", "ncloud-demo", "--flavor", "m1.huge", "x", check=False)
    assert (done.returncode, done.stderr) == (1, "error: No flavor with a name or ID of 'm1.huge' exists.\n")


def test_waiting_for_a_server_that_fails_ends_with_its_fault(user):
    done = user("server", "create", "--image", "ncloud-demo", "--flavor", "m1.tiny", "--network", "none", "--wait",
                DOOMED, check=False)
    assert done.returncode == 1
    uuid = user("server", "list", "--name", DOOMED, "-f", "value", "-c", "ID").stdout.strip()
    fault = user("server", "show", uuid, "-f", "value", "-c", "fault").stdout.strip()
    assert fault
    assert done.stderr.splitlines()[-1] == f"error: server {DOOMED} ({uuid}) went to ERROR: {fault}"
    user("server", "delete", "--wait", uuid)


def test_an_unreachable_cloud_says_where_it_looked(user, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = user("--os-auth-url", f"http://127.0.0.1:{port}/identity/v3", "server", "list", check=False)
    assert done.returncode == 3
    source = f"cloud 'ncloud-demo' of {user.env['OS_CLIENT_CONFIG_FILE']}" if "OS_CLOUD" in user.env \
        else "the OS_* variables"
    assert done.stderr == (f"error: http://127.0.0.1:{port}/identity/v3/auth/tokens could not be reached: [Errno 111] "
                           f"Connection refused (is the cloud up, and is {source} right about its address?)\n")
    assert "Traceback" not in done.stderr


def test_names_complete_in_the_shell_once_logged_in(user):
    def complete(line: str) -> list[str]:
        env = {**user.env, "_NCLOUD_COMPLETE": "complete_bash", "COMP_WORDS": line,
               "COMP_CWORD": str(len(line.split()) - (0 if line.endswith(" ") else 1))}
        done = subprocess.run([NCLOUD], capture_output=True, text=True, env=env, timeout=30)
        return done.stdout.split()

    assert complete("ncloud flavor show m1.") == []  # no cached token yet: nothing, and no password prompt
    user("flavor", "list")
    assert complete("ncloud flavor show m1.") == ["m1.medium", "m1.small", "m1.tiny"]
    assert complete("ncloud server create --image ncloud-d") == ["ncloud-demo"]
    assert complete("ncloud serv") == ["server", "service"]
    script = user("--show-completion").stdout  # for the shell it runs in (CI: bash)
    assert "_NCLOUD_COMPLETE=complete_bash" in script
    zsh = {**user.env, "_NCLOUD_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ncloud flavor show m1.t"}
    done = subprocess.run([NCLOUD], capture_output=True, text=True, env=zsh, timeout=30)
    assert done.stdout == "_arguments '*: :((\"m1.tiny\"))'\n"
