"""Fixtures for the Compute API tests: the real app on a fresh, migrated SQLite database.

Requests go through Falcon's test client into the real middleware, handlers and database. What
the API casts travels over the real RPC layer (memory:// transport) to `Recorder` endpoints
served by real `RPCServer`s standing in for the conductor and one compute host, so a test can
see exactly which messages left the API.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid as uuidlib

import pytest
from falcon import testing
from sqlalchemy import select

from ncloud.daemons.api.app import create_app
from ncloud.daemons.core import config, instances, placement, rpc, states
from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.models import ComputeNode, Flavor, Image, Instance, ResourceProvider, Service, utcnow
from ncloud.daemons.core.db.session import Database

BASE = "/compute/v2.1"
ADMIN = "admin:admin"
ALICE = "alice:p1"
BOB = "bob:p2"
COMPUTE_HOST = "cmp-1"
IMAGE_ID = "6b7a3d44-52c1-4a51-8a55-1c1ebd7ad8c2"


class Recorder:
    """An RPC endpoint that remembers every message it gets: (method, context, arguments)."""

    def __init__(self):
        self.messages: list[tuple[str, dict, dict]] = []
        self.changed = threading.Condition()

    def _record(self, method: str, ctx, args: dict) -> None:
        with self.changed:
            self.messages.append((method, ctx.to_dict(), args))
            self.changed.notify_all()

    def build_instances(self, ctx, instance_uuids, instances_=None, spec=None):
        self._record("build_instances", ctx, {"instance_uuids": instance_uuids, "instances": instances_,
                                              "spec": spec})

    def terminate_instance(self, ctx, instance):
        self._record("terminate_instance", ctx, {"instance": instance})

    def power_action(self, ctx, instance, action, options=None):
        self._record("power_action", ctx, {"instance": instance, "action": action, "options": options})

    def set_admin_password(self, ctx, instance, password):
        self._record("set_admin_password", ctx, {"instance": instance, "password": password})

    def trigger_crash_dump(self, ctx, instance):
        self._record("trigger_crash_dump", ctx, {"instance": instance})

    def get_console_output(self, ctx, instance, length=None):
        lines = [f"line {n}\n" for n in range(1, 6)]
        return "".join(lines[-length:] if length is not None else lines)

    def get_host_uptime(self, ctx):
        return " 10:00:00 up 3 days,  2:00,  load average: 0.10, 0.20, 0.30"

    def wait_for(self, method: str, predicate, timeout: float = 5.0) -> tuple[dict, dict]:
        """The first `method` message whose arguments satisfy `predicate`: (context, args)."""
        def found():
            return next(((ctx, args) for name, ctx, args in self.messages if name == method and predicate(args)),
                        None)
        with self.changed:
            if not self.changed.wait_for(found, timeout):
                raise AssertionError(f"no {method} message arrived within {timeout}s")
            return found()


def _serve(topic: str, host: str):
    transport = rpc.Transport("memory://")
    recorder = Recorder()
    server = rpc.RPCServer(transport, topic, host, recorder, workers=1)
    server.start()
    return transport, server, recorder


@pytest.fixture(scope="package")
def conductor():
    transport, server, recorder = _serve("conductor", "recording-conductor")
    yield recorder
    server.stop()
    transport.close()


@pytest.fixture(scope="package")
def compute():
    transport, server, recorder = _serve("compute", COMPUTE_HOST)
    yield recorder
    server.stop()
    transport.close()


@pytest.fixture
def conf(tmp_path):
    return config.load(None, environ={}, overrides={
        "DEFAULT": {"state_path": str(tmp_path), "host": "api-test"},
        "api": {"public_endpoint": "http://cloud.test:8774", "max_limit": 1000, "auth_strategy": "noauth2"},
    })


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'ncloud.db'}")
    migrate.sync(database)
    yield database
    database.dispose()


@pytest.fixture
def api(conf, db, transport, conductor, compute):
    """An `Api` on the real app; every cast the app makes reaches the recorders."""
    return Api(testing.TestClient(create_app(conf, db, transport)))


class Api:
    """The test client with a token and microversion per call: `api.get("/servers", token=ALICE, version="2.47")`."""

    def __init__(self, client: testing.TestClient):
        self.client = client

    def request(self, method: str, path: str, token: str | None = ALICE, headers: dict | None = None,
                version: str | None = None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["X-Auth-Token"] = token
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        full = path if path.startswith(("/compute", "/healthcheck")) or path == "/" else BASE + path
        return self.client.simulate_request(method, full, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def boot(self, name: str = "vm", token: str = ALICE, **server) -> str:
        body = {"server": {"name": name, "flavorRef": "1", "imageRef": IMAGE_ID, **server}}
        response = self.post("/servers", token=token, json=body)
        assert response.status_code == 202, response.text
        return response.json["server"]["id"]


# -- seed data: what other daemons or the operator would have written ----------------------

def seed(db: Database) -> Database:
    """Flavors 1 (tiny) and 2 (small), a private flavor 9, and an active public image."""
    with db.writer() as session:
        session.add_all([
            Flavor(flavorid="1", name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1, extra_specs={}),
            Flavor(flavorid="2", name="m1.small", vcpus=1, memory_mb=2048, root_gb=20, extra_specs={"a": "b"}),
            Flavor(flavorid="9", name="private", vcpus=1, memory_mb=512, root_gb=1, is_public=False,
                   extra_specs={}),
        ])
        session.add(Image(id=IMAGE_ID, name="cirros", status="active", visibility="public", owner="admin",
                          size=20 * 1024 ** 2, min_ram=0, min_disk=0, properties={"hw_arch": "x86_64"}))
    return db


@pytest.fixture(scope="session")
def ed25519_key() -> str:
    """An OpenSSH public key, as `ssh-keygen -t ed25519` writes it."""
    return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host"


@pytest.fixture
def seeded(db):
    return seed(db)


def add_image(db: Database, status: str = "active", min_ram: int = 0, min_disk: int = 0, size: int = 0,
              visibility: str = "public", owner: str = "admin") -> str:
    image_id = str(uuidlib.uuid4())
    with db.writer() as session:
        session.add(Image(id=image_id, name="img", status=status, visibility=visibility, owner=owner, size=size,
                          min_ram=min_ram, min_disk=min_disk, properties={}))
    return image_id


def add_service(db: Database, host: str, binary: str = "ncloud-compute", alive: bool = True,
                disabled: bool = False) -> int:
    seen = utcnow() if alive else utcnow() - dt.timedelta(hours=1)
    with db.writer() as session:
        service = Service(uuid=str(uuidlib.uuid4()), host=host, binary=binary, topic=binary.split("-")[-1],
                          last_seen_up=seen, disabled=disabled, disabled_reason="maintenance" if disabled else None)
        session.add(service)
        session.flush()
        return service.id


def add_compute_node(db: Database, host: str, vcpus: int = 8, memory_mb: int = 8192, local_gb: int = 100,
                     reserved_memory_mb: int = 512) -> tuple[int, int]:
    """A hypervisor with its resource provider, as the conductor records them: (node id, provider id)."""
    node_uuid = str(uuidlib.uuid4())
    with db.writer() as session:
        node = ComputeNode(uuid=node_uuid, host=host, hypervisor_hostname=f"{host}.local", hypervisor_type="fake",
                           hypervisor_version=1000, host_ip="198.51.100.11", vcpus=vcpus, memory_mb=memory_mb,
                           local_gb=local_gb, cpu_info={"arch": "x86_64"})
        session.add(node)
        placement.ensure_provider(session, node_uuid, f"{host}.local", {
            placement.VCPU: placement.InventoryRecord(total=vcpus, allocation_ratio=4.0),
            placement.MEMORY_MB: placement.InventoryRecord(total=memory_mb, reserved=reserved_memory_mb),
            placement.DISK_GB: placement.InventoryRecord(total=local_gb),
        })
        session.flush()
        provider_id = session.scalars(select(ResourceProvider.id).where(ResourceProvider.uuid == node_uuid)).one()
        return node.id, provider_id


def place(db: Database, uuid: str, host: str, provider_id: int | None = None, vm_state: str = states.ACTIVE) -> None:
    """Put a booted server on a host, as the conductor and compute would have (with its claim)."""
    with db.writer() as session:
        instance = instances.get(session, uuid)
        flavor = instance.flavor
        assert instances.update_state(session, uuid, {"host": host, "node": f"{host}.local", "vm_state": vm_state,
                                                      "task_state": None, "power_state": states.RUNNING})
    if provider_id is not None:
        placement.claim(db, uuid, provider_id, placement.flavor_resources(flavor))


def instance_row(db: Database, uuid: str) -> Instance:
    with db.reader() as session:
        return instances.get(session, uuid, include_deleted=True)
