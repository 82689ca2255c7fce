"""The API served for real: `APIServer` embedded in a thread, and the `ncloud-api` daemon itself."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from waitress import buffers

from ncloud.daemons.api.service import APIServer
from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.session import Database

BIN = Path(sys.executable).parent


def get(connection: http.client.HTTPConnection, path: str, token: str | None = None) -> tuple[int, dict]:
    connection.request("GET", path, headers={"X-Auth-Token": token} if token else {})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


# -- image uploads on a real socket: streamed while they arrive (api/streaming.py) ------------------

@pytest.fixture
def upload_server(conf, db, transport, tmp_path, monkeypatch):
    """An API on a free port with 2 threads (so 1 streaming upload at a time) and its spool in tmp_path."""
    monkeypatch.setattr(buffers.TempfileBasedBuffer, "newfile", buffers.TempfileBasedBuffer.newfile)
    server = APIServer(conf.with_overrides({
        "api": {"bind_host": "127.0.0.1", "bind_port": 0, "threads": 2, "spool_path": str(tmp_path / "spool")},
        "image": {"image_size_total": 8}}), db, transport)  # MiB per project
    server.start()
    yield server
    server.stop()


def new_image(server) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", "/image/v2/images", body=json.dumps({"disk_format": "raw", "container_format": "bare"}),
                       headers={"X-Auth-Token": "alice:p1", "Content-Type": "application/json"})
    return json.loads(connection.getresponse().read())["id"]


def start_upload(server, image_id: str, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: alice:p1\r\n"
                 f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n".encode())
    return sock


def image_status(server, image_id: str) -> str:
    return get(http.client.HTTPConnection("127.0.0.1", server.port, timeout=5), f"/image/v2/images/{image_id}",
               token="alice:p1")[1]["status"]


def wait_for(condition, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


def partial_files(conf) -> list[Path]:
    store = conf.image_store_path
    return [path for path in store.iterdir() if path.name.startswith(".")] if store.exists() else []


def test_an_upload_streams_into_the_store_while_it_arrives(upload_server, conf, tmp_path):
    image_id = new_image(upload_server)
    data = os.urandom(3 * 1024 * 1024)
    with start_upload(upload_server, image_id, len(data)) as sock:
        sock.sendall(data[:1024 * 1024])
        # the Image API already has it: saving, and the bytes so far are in the store's temporary file
        assert wait_for(lambda: image_status(upload_server, image_id) == "saving")
        assert wait_for(lambda: sum(path.stat().st_size for path in partial_files(conf)) >= 512 * 1024)
        assert not any(_fd_target(fd).startswith(str(tmp_path / "spool")) for fd in os.listdir("/proc/self/fd"))
        sock.sendall(data[1024 * 1024:])
        assert sock.recv(4096).startswith(b"HTTP/1.1 204")
    status, image = get(http.client.HTTPConnection("127.0.0.1", upload_server.port, timeout=5),
                        f"/image/v2/images/{image_id}", token="alice:p1")
    assert (image["status"], image["size"], image["os_hash_value"]) == ("active", len(data),
                                                                       hashlib.sha512(data).hexdigest())
    assert partial_files(conf) == []


def test_a_chunked_upload_streams_to_its_end(upload_server):
    image_id = new_image(upload_server)
    parts = [os.urandom(size) for size in (700_000, 1, 300_000)]
    with socket.create_connection(("127.0.0.1", upload_server.port), timeout=10) as sock:
        sock.sendall(f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: alice:p1\r\n"
                     "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for part in parts:
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        assert wait_for(lambda: image_status(upload_server, image_id) == "saving")  # storing the chunks so far
        sock.sendall(b"0\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 204")
    status, image = get(http.client.HTTPConnection("127.0.0.1", upload_server.port, timeout=5),
                        f"/image/v2/images/{image_id}", token="alice:p1")
    assert (image["status"], image["checksum"]) == ("active", hashlib.md5(b"".join(parts)).hexdigest())


def test_an_upload_over_the_quota_is_refused_before_its_body_is_sent(upload_server):
    image_id = new_image(upload_server)
    with start_upload(upload_server, image_id, 9 * 1024 * 1024) as sock:  # 9 MiB, over the 8 MiB quota
        answer = sock.recv(65536)  # no body byte sent: the answer comes from the headers alone
        assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
    assert image_status(upload_server, image_id) == "queued"


def test_a_client_that_disconnects_mid_upload_leaves_the_image_queued_and_no_file(upload_server, conf):
    image_id = new_image(upload_server)
    with start_upload(upload_server, image_id, 3_000_000) as sock:
        sock.sendall(os.urandom(1_500_000))  # half, then gone
        assert wait_for(lambda: image_status(upload_server, image_id) == "saving")
    assert wait_for(lambda: image_status(upload_server, image_id) == "queued")
    assert wait_for(lambda: partial_files(conf) == [])
    assert not (conf.image_store_path / image_id).exists()
    connection = http.client.HTTPConnection("127.0.0.1", upload_server.port, timeout=5)
    connection.request("PUT", f"/image/v2/images/{image_id}/file", body=os.urandom(1000),  # again, whole
                       headers={"X-Auth-Token": "alice:p1", "Content-Type": "application/octet-stream"})
    assert connection.getresponse().status == 204


def test_uploads_beyond_the_streaming_slots_are_spooled_and_the_api_keeps_answering(upload_server, conf,
                                                                                    tmp_path):
    first, second = new_image(upload_server), new_image(upload_server)
    with start_upload(upload_server, first, 2 * 1024 * 1024) as slow:
        slow.sendall(os.urandom(1024 * 1024))  # holds the one streaming slot (and one of the 2 threads)
        assert wait_for(lambda: image_status(upload_server, first) == "saving")
        data = os.urandom(2 * 1024 * 1024)
        with start_upload(upload_server, second, len(data)) as other:
            other.sendall(data[:1024 * 1024])  # no slot: waitress reads it whole first, into the spool
            assert wait_for(lambda: any(_fd_target(fd).startswith(str(tmp_path / "spool"))
                                        for fd in os.listdir("/proc/self/fd")))
            assert image_status(upload_server, second) == "queued"
            assert get(http.client.HTTPConnection("127.0.0.1", upload_server.port, timeout=5), "/healthcheck")[0] \
                == 200  # the other thread still serves
            other.sendall(data[1024 * 1024:])
            assert other.recv(4096).startswith(b"HTTP/1.1 204")
        assert image_status(upload_server, second) == "active"
        slow.sendall(os.urandom(1024 * 1024))
        assert slow.recv(4096).startswith(b"HTTP/1.1 204")
    assert image_status(upload_server, first) == "active"


def _fd_target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_embedded_server_binds_a_free_port_serves_and_stops_cleanly_with_a_keepalive_connection_open(
        conf, db, transport):
    server = APIServer(conf.with_overrides({"api": {"bind_host": "127.0.0.1", "bind_port": 0, "threads": 2}}),
                       db, transport)
    server.start()
    assert server.serving and server.port > 0
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert get(connection, "/healthcheck")[0] == 200
    status, body = get(connection, "/compute/v2.1/servers", token="alice:p1")  # same keep-alive connection
    assert (status, body) == (200, {"servers": []})

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    assert not server.serving
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    with socket.socket() as rebind:
        rebind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rebind.bind(("127.0.0.1", server.port))
    connection.close()


# A broker nobody listens on: the API daemon refuses memory:// (it could reach no other daemon), and
# these tests need none until they serve requests (then they use the `rabbitmq` fixture).
NO_BROKER = "amqp://guest:guest@127.0.0.1:9//"


def write_config(tmp_path: Path, port: int, database_url: str, transport_url: str = NO_BROKER,
                 workers: int = 1) -> Path:
    path = tmp_path / "ncloud.conf"
    path.write_text(f"[DEFAULT]\nhost = api-host\nstate_path = {tmp_path}\nreport_interval = 0.2\n"
                    f"transport_url = {transport_url}\n"
                    f"[database]\nconnection = {database_url}\nmax_retries = 0\n"
                    f"[api]\nbind_host = 127.0.0.1\nbind_port = {port}\nworkers = {workers}\nauth_strategy = noauth2\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ncloud_api_daemon_serves_records_its_heartbeat_and_exits_cleanly_on_sigterm(tmp_path, rabbitmq):
    url = f"sqlite:///{tmp_path / 'ncloud.db'}"
    database = Database(url)
    migrate.sync(database)
    database.dispose()
    port = free_port()
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log_file:  # a file, not a pipe nobody reads until the end (it would fill)
        process = subprocess.Popen([str(BIN / "ncloud-api"), "--config-file",
                                    str(write_config(tmp_path, port, url, rabbitmq.url))], stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        services = []
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                status, body = get(connection, "/compute/v2.1/os-services", token="admin")
                services = [(s["binary"], s["host"], s["zone"], s["state"]) for s in body.get("services", [])]
                if status == 200 and services == [("ncloud-api", "api-host", "internal", "up")]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert services == [("ncloud-api", "api-host", "internal", "up")]
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "config [api] bind_port" in log  # the effective configuration is logged at start
    assert "received SIGTERM" in log


def test_ncloud_api_refuses_to_start_on_a_database_without_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = subprocess.run([str(BIN / "ncloud-api"), "--config-file", str(write_config(tmp_path, free_port(), url))],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ncloud db sync" in result.stderr


def test_ncloud_api_reports_a_configuration_typo_and_exits(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("[api]\nbind_prot = 1\n")
    result = subprocess.run([str(BIN / "ncloud-api"), "--config-file", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "did you mean 'bind_port'" in result.stderr


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def connections_held(pid: int, port: int) -> set[int]:
    """Socket inodes of `pid`'s established TCP connections on local `port` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                established.add(int(fields[9]))
    return inodes & established


def test_a_second_api_on_a_port_in_use_is_refused_even_with_workers(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'ncloud.db'}"
        result = subprocess.run([str(BIN / "ncloud-api"), "--config-file",
                                 str(write_config(tmp_path, port, url, workers=2))],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_api_workers_share_the_port_are_restarted_when_they_die_and_stop_together(tmp_path, rabbitmq):
    url = f"sqlite:///{tmp_path / 'ncloud.db'}"
    database = Database(url)
    migrate.sync(database)
    database.dispose()
    port = free_port()
    path = write_config(tmp_path, port, url, rabbitmq.url, workers=2)
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([str(BIN / "ncloud-api"), "--config-file", str(path)], stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(children(process.pid)) < 2:
            time.sleep(0.1)
        workers = children(process.pid)
        assert len(workers) == 2

        def answers() -> bool:
            try:
                return get(http.client.HTTPConnection("127.0.0.1", port, timeout=2), "/healthcheck")[0] == 200
            except OSError:
                return False

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not answers():
            time.sleep(0.1)
        assert answers()
        # Keep-alive clients are spread over both workers, not all served by one.
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(32)]
        for client in clients:
            assert get(client, "/healthcheck")[0] == 200
        held = {worker: len(connections_held(worker, port)) for worker in workers}
        assert sum(held.values()) == 32 and min(held.values()) >= 4, held
        for client in clients:
            client.close()
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(children(process.pid)) < 2 or workers[0] in children(process.pid)):
            time.sleep(0.1)
        assert len(children(process.pid)) == 2 and workers[0] not in children(process.pid)
        assert answers()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "ncloud-api: 2 workers on 127.0.0.1:" in log
    assert "exited with status -9; starting it again" in log
