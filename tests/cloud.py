"""Real clouds for end-to-end tests and benchmarks: `ProcessCloud`, one process per daemon, and
`identity_api`, the API alone with Identity on SQLite.

Each daemon runs from its console script (`ncloud-api`, `ncloud-conductor`, ...) with a config
file written here, as an operator would run it, so the tests exercise the same start-up, RPC
and database paths as production. Processes are direct children, killed for real when a test
wants a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import _pdeathsig

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ADMIN_PASSWORD = "adminpw"


def identity_state(state: Path, **environ: str):
    """(conf, db) of a cloud under `state` on SQLite: migrated, seeded (flavors, demo image),
    Identity bootstrapped (user admin, password ADMIN_PASSWORD) with its token keys.
    `environ`: more NCLOUD_* options."""
    from ncloud.daemons.core import bootstrap as seed
    from ncloud.daemons.core import config
    from ncloud.daemons.core.db import migrate
    from ncloud.daemons.core.db.session import Database
    from ncloud.daemons.core.identity import bootstrap, keys

    state.mkdir(parents=True, exist_ok=True)
    conf = config.load(None, environ={"NCLOUD_DEFAULT__STATE_PATH": str(state),
                                      "NCLOUD_IDENTITY__ADMIN_PASSWORD": ADMIN_PASSWORD, **environ})
    db = Database(conf.database_url)
    migrate.sync(db)
    seed.ensure_defaults(db)
    keys.setup(conf.token_key_repository, conf.identity.max_active_keys)
    bootstrap.bootstrap(db, conf)
    return conf, db


@contextlib.contextmanager
def identity_api(state: Path, **environ: str):
    """The API (waitress, the whole app, Identity tokens) of `identity_state` on a free port;
    yields its root URL (http://127.0.0.1:PORT), with the catalog pointing there."""
    from ncloud.daemons.api.service import APIServer
    from ncloud.daemons.core import rpc

    port = free_port()
    conf, db = identity_state(state, NCLOUD_API__BIND_HOST="127.0.0.1", NCLOUD_API__BIND_PORT=str(port),
                              NCLOUD_IDENTITY__PUBLIC_URL=f"http://127.0.0.1:{port}", **environ)
    transport = rpc.Transport("memory://")
    server = APIServer(conf, db, transport)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        transport.close()
        db.dispose()


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class ProcessCloud:
    """Daemons as separate processes against a given database and message bus."""

    def __init__(self, workdir: Path, transport_url: str, database_url: str, options: dict | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        sections = {
            "DEFAULT": {"transport_url": transport_url, "state_path": str(workdir), "report_interval": "1",
                        "service_down_time": "20", "rpc_response_timeout": "20"},
            "database": {"connection": database_url},
            # The tests name users and projects directly ('user:project' tokens): noauth2.
            "api": {"bind_host": "127.0.0.1", "bind_port": str(self.port), "auth_strategy": "noauth2"},
            "conductor": {"reconcile_interval": "1"},
            "compute": {"resource_report_interval": "5"},
            # Tests boot more servers than the default quota of 10; quotas have tests of their own.
            "quota": {"instances": "-1", "cores": "-1", "ram": "-1"},
        }
        for section, values in (options or {}).items():
            sections.setdefault(section, {}).update({k: str(v) for k, v in values.items()})
        self.config_file = workdir / "ncloud.conf"
        self.config_file.write_text("".join(
            f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) for section, values in
            sections.items()))
        for step in (("db", "sync"), ("db", "seed")):
            result = self.ncloud(*step)
            assert result.returncode == 0, result.stderr
        self.url = f"http://127.0.0.1:{self.port}/compute/v2.1"
        self.client = httpx.Client(base_url=self.url, headers={"X-Auth-Token": "admin:admin"}, timeout=30)

    def ncloud(self, *args: str) -> subprocess.CompletedProcess:
        """Run an `ncloud` command against this cloud's configuration."""
        return subprocess.run([str(BIN / "ncloud"), *args, "--config-file", str(self.config_file)],
                              capture_output=True, text=True, timeout=120)

    def start(self, name: str, binary: str, host: str | None = None, **env_options: str) -> subprocess.Popen:
        """Start `binary` (e.g. ncloud-compute) as process `name`; env_options are NCLOUD_* overrides."""
        env = dict(os.environ)
        if host:
            env["NCLOUD_DEFAULT__HOST"] = host
        env.update(env_options)
        with open(self.workdir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            process = subprocess.Popen([str(BIN / binary), "--config-file", str(self.config_file)], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pdeathsig(signal.SIGKILL))
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(30)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):  # the last started first, as a service manager does
            self.kill(name, signal.SIGTERM)
        self.client.close()

    # -- API helpers ---------------------------------------------------------------------------
    def wait_for_api(self, timeout: float = 60) -> None:
        def answers():
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthcheck", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(answers, timeout, what="the API")

    def up_services(self) -> dict[tuple[str, str], str]:
        services = self.client.get("/os-services").json()["services"]
        return {(s["binary"], s["host"]): s["state"] for s in services}

    def wait_for_computes(self, hosts: list[str], timeout: float = 60) -> None:
        def all_up():
            state = self.up_services()
            return all(state.get(("ncloud-compute", host)) == "up" for host in hosts)
        wait_until(all_up, timeout, what=f"compute services {hosts} up")

    def boot(self, name: str, flavor: str = "1", image: str | None = None, **server) -> str:
        from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID

        body = {"server": {"name": name, "flavorRef": flavor, "imageRef": image or DEMO_IMAGE_ID, **server}}
        response = self.client.post("/servers", json=body)
        assert response.status_code == 202, response.text
        return response.json()["server"]["id"]

    def server(self, uuid: str) -> dict:
        return self.client.get(f"/servers/{uuid}").json()["server"]

    def wait_for_status(self, uuids: list[str], statuses=("ACTIVE", "ERROR"), timeout: float = 120) -> dict:
        """Wait until every server is in one of `statuses`; returns {uuid: server body}."""
        done: dict[str, dict] = {}

        def settled():
            for uuid in uuids:
                if uuid not in done:
                    body = self.server(uuid)
                    if body["status"] in statuses:
                        done[uuid] = body
            return len(done) == len(uuids)
        wait_until(settled, timeout, interval=0.5, what=f"servers to reach {statuses}")
        return done
