"""Live migration of a running guest between two compute hosts: downtime and duration.

    .venv/bin/python bench/live_migration.py --moves 4

Two compute nodes on this machine (tests/nodes.py: network and mount namespaces, each with its
own libvirtd; RabbitMQ and MariaDB for the control plane), one tiny guest counting seconds on its
console, moved back and forth. For each move: the wall time from the API request to the server
ACTIVE on the other host, and what QEMU measured (the guest's downtime, the migration's total
time, the memory copied), from the destination compute's log. Needs root.
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.nodes import libvirt_cloud  # noqa: E402
from tests.servers import MariaDB  # noqa: E402

TICKER = "#!/bin/sh\n(i=0; while true; do echo \"ncloud-tiny: tick $i\"; i=$((i+1)); sleep 1; done) &\n"
DONE = re.compile(r"live migration of (\S+) done: downtime (\d+) ms, (\d+) ms in all, (\d+) MiB of memory")


def wait(api: httpx.Client, uuid: str, host: str | None = None, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        server = api.get(f"/servers/{uuid}").json()["server"]
        if server["status"] == "ERROR":
            raise SystemExit(f"{uuid}: {server.get('fault')}")
        if server["status"] == "ACTIVE" and server["OS-EXT-STS:task_state"] is None and (
                host is None or server["OS-EXT-SRV-ATTR:host"] == host):
            return server
        time.sleep(0.2)
    raise SystemExit(f"{uuid} did not settle within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=4)
    args = parser.parse_args()
    with MariaDB() as mariadb, libvirt_cloud(mariadb.url) as cloud:
        api = httpx.Client(base_url=cloud.url, timeout=60,
                           headers={"X-Auth-Token": "admin:admin", "OpenStack-API-Version": "compute 2.56"})
        body = {"name": "mover", "flavorRef": "1", "imageRef": cloud.image_id, "networks": "auto",
                "availability_zone": "nova:node1", "config_drive": True,
                "user_data": base64.b64encode(TICKER.encode()).decode()}
        uuid = api.post("/servers", json={"server": body}).json()["server"]["id"]
        wait(api, uuid)
        time.sleep(10)  # booted and counting
        walls, downtimes, totals = [], [], []
        for move in range(args.moves):
            target = "node2" if move % 2 == 0 else "node1"
            started = time.monotonic()
            response = api.post(f"/servers/{uuid}/action", json={"os-migrateLive": {
                "host": target, "block_migration": "auto"}})
            response.raise_for_status()
            wait(api, uuid, host=target)
            walls.append(time.monotonic() - started)
            log = (cloud.compute_config[target].parent / f"{target}-compute.log").read_text()
            found = [m for m in DONE.finditer(log) if m.group(1) == uuid]
            downtime, total, memory = (int(found[-1].group(n)) for n in (2, 3, 4))
            downtimes.append(downtime)
            totals.append(total)
            print(f"move {move + 1} to {target}: API to ACTIVE {walls[-1]:.1f}s; QEMU: downtime {downtime} ms, "
                  f"{total / 1000:.1f}s in all, {memory} MiB of memory copied")
        print(f"median of {args.moves}: downtime {statistics.median(downtimes):.0f} ms, migration "
              f"{statistics.median(totals) / 1000:.1f}s, API to ACTIVE {statistics.median(walls):.1f}s")
        api.delete(f"/servers/{uuid}")


if __name__ == "__main__":
    main()
