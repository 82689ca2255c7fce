"""GET /servers/detail with many servers: latency over HTTP (waitress, the whole app) and in process.

    .venv/bin/python bench/server_list.py --servers 1000 --requests 30 --microversion 2.1

The servers are written straight into a fresh SQLite database (the rows a boot leaves, spread over
ten hosts, with metadata, tags and request specs), so the figure is the list alone, not the cloud
around it. `--auth keystone` (the default) puts Identity tokens in front, as a real cloud has;
`noauth2` leaves them out. Prints p50/p90/p99 per path and the body size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import httpx
from falcon import testing
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ncloud.daemons.api.app import create_app  # noqa: E402
from ncloud.daemons.api.boot import flavor_snapshot  # noqa: E402
from ncloud.daemons.core import rpc, states  # noqa: E402
from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID  # noqa: E402
from ncloud.daemons.core.db.models import Flavor, Instance, InstanceTag, RequestSpec, utcnow  # noqa: E402
from ncloud.daemons.core.launcher import settle_memory  # noqa: E402
from tests.cloud import free_port, identity_state  # noqa: E402


def seed(db, project_id: str, user_id: str, count: int) -> None:
    with db.reader() as session:
        flavor = session.query(Flavor).filter_by(flavorid="1").one()
        snapshot = flavor_snapshot(flavor)
    now = utcnow()
    uuids = [str(uuidlib.uuid4()) for _ in range(count)]
    rows = [dict(uuid=uuid, project_id=project_id, user_id=user_id, display_name=f"vm-{n}", hostname=f"vm-{n}",
                 reservation_id="r-bench", launch_index=0, image_ref=DEMO_IMAGE_ID, instance_type_id=flavor.id,
                 flavor=snapshot, vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, vm_state=states.ACTIVE,
                 task_state=None, power_state=states.RUNNING, host=f"cmp-{n % 10}", node=f"cmp-{n % 10}",
                 availability_zone=None, metadata={"role": "web", "n": str(n)}, config_drive=False, locked=False,
                 progress=0, deleted=False, created_at=now, launched_at=now)
            for n, uuid in enumerate(uuids)]
    spec = {"flavor": snapshot, "image": {"id": DEMO_IMAGE_ID, "properties": {"hw_arch": "x86_64"}},
            "scheduler_hints": {}, "retry": {"num_attempts": 0, "hosts": []}}
    with db.writer() as session:
        connection = session.connection()
        connection.execute(insert(Instance.__table__), rows)
        connection.execute(insert(RequestSpec.__table__), [{"instance_uuid": u, "spec": spec} for u in uuids])
        connection.execute(insert(InstanceTag.__table__), [{"instance_uuid": u, "tag": "bench"} for u in uuids])


def figures(label: str, times: list[float], size: int) -> None:
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    print(f"{label:<12} p50 {statistics.median(times) * 1000:7.1f} ms   p90 {pick(0.9):7.1f} ms   "
          f"p99 {pick(0.99):7.1f} ms   body {size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--microversion", default="2.1")
    parser.add_argument("--auth", choices=("keystone", "noauth2"), default="keystone")
    args = parser.parse_args()

    from ncloud.daemons.api.service import APIServer

    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        conf, db = identity_state(Path(state), NCLOUD_API__BIND_HOST="127.0.0.1", NCLOUD_API__BIND_PORT=str(port),
                                  NCLOUD_IDENTITY__PUBLIC_URL=f"http://127.0.0.1:{port}",
                                  NCLOUD_API__AUTH_STRATEGY=args.auth, NCLOUD_IDENTITY__ADMIN_PASSWORD="bench")
        transport = rpc.Transport("memory://")
        base = f"http://127.0.0.1:{port}"
        server = APIServer(conf, db, transport)
        server.start()
        settle_memory()  # as the API daemon does once started (core/launcher.py)
        try:
            if args.auth == "keystone":
                body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                    "name": "admin", "domain": {"id": "default"}, "password": "bench"}}},
                    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
                issued = httpx.post(f"{base}/identity/v3/auth/tokens", json=body)
                token, project_id = issued.headers["X-Subject-Token"], issued.json()["token"]["project"]["id"]
                user_id = issued.json()["token"]["user"]["id"]
            else:
                token, project_id, user_id = "bench:bench", "bench", "bench"
            seed(db, project_id, user_id, args.servers)
            headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {args.microversion}"}
            path = "/compute/v2.1/servers/detail"
            print(f"GET /servers/detail, {args.servers} servers, microversion {args.microversion}, auth {args.auth}, "
                  f"{args.requests} requests each")
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                client.get(path).raise_for_status()  # warm
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append(time.perf_counter() - started)
                assert len(response.json()["servers"]) == args.servers
                figures("HTTP", times, len(response.content))
            local = testing.TestClient(create_app(conf, db, transport))
            local.simulate_get(path, headers=headers)
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                result = local.simulate_get(path, headers=headers)
                times.append(time.perf_counter() - started)
            assert result.status_code == 200, result.text
            figures("in process", times, len(result.content))
        finally:
            server.stop()
            transport.close()
            db.dispose()


if __name__ == "__main__":
    main()
