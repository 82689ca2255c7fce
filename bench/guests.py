"""Real guests on the libvirt driver: boot times, image cache hit vs miss, memory per guest.

    .venv/bin/python bench/guests.py --guests 4

An all-in-one in this process (libvirt driver, qemu:///system: libvirtd is started if it does not
run; TCG where /dev/kvm is unusable) boots the tiny image (built from Debian packages). The
first boot fetches the image into the host's cache (a miss); the next ones find it there (hits).
For each boot: POST to ACTIVE, and POST to the guest's boot marker on its serial console (what a
user waits for). Then the memory QEMU takes per guest (RSS of its process, against the flavor's
RAM). Everything is deleted at the end. Needs root (the flat network's bridge and dnsmasq).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ncloud.cli.cloud.session import Session  # noqa: E402
from ncloud.cli.tiny_image import MARKER, upload  # noqa: E402
from ncloud.daemons.allinone import AllInOne  # noqa: E402
from ncloud.daemons.compute.virt.libvirt.network import FlatNetwork  # noqa: E402
from ncloud.daemons.core import config, log  # noqa: E402
from tests.libvirt_host import ensure_libvirtd, tiny_image  # noqa: E402

BRIDGE = "ncbench0"


def boot(api: httpx.Client, name: str, image_id: str) -> tuple[str, float, float]:
    """(uuid, seconds to ACTIVE, seconds to the boot marker) of one server."""
    started = time.monotonic()
    response = api.post("/servers", json={"server": {"name": name, "flavorRef": "1", "imageRef": image_id}})
    response.raise_for_status()
    uuid = response.json()["server"]["id"]
    active = None
    while True:
        server = api.get(f"/servers/{uuid}").json()["server"]
        if server["status"] == "ERROR":
            raise SystemExit(f"{name} failed: {server.get('fault')}")
        if active is None and server["status"] == "ACTIVE":
            active = time.monotonic() - started
        if active is not None:
            output = api.post(f"/servers/{uuid}/action", json={"os-getConsoleOutput": {"length": 50}}).json()
            if MARKER in output["output"]:
                return uuid, active, time.monotonic() - started
        if time.monotonic() - started > 300:
            raise SystemExit(f"{name} did not boot within 300s")
        time.sleep(0.1)


def qemu_rss_mib(uuid: str) -> float:
    pid = Path(f"/run/libvirt/qemu/ncloud-{uuid}.pid").read_text().strip()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no RSS for QEMU of {uuid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=4, help="servers to boot (the first is the cache miss)")
    args = parser.parse_args()
    uri = ensure_libvirtd()
    image = tiny_image()
    with tempfile.TemporaryDirectory(prefix="ncloud-bench-guests-") as tmp:
        Path(tmp).chmod(0o755)
        conf = config.load(None, environ={}, overrides={
            "DEFAULT": {"host": "bench", "state_path": tmp, "log_file": f"{tmp}/ncloud.log"},
            "api": {"bind_host": "127.0.0.1", "bind_port": 0, "auth_strategy": "noauth2"},
            "compute": {"compute_driver": "libvirt", "cpu_allocation_ratio": 16},
            "libvirt": {"uri": uri},
            "network": {"bridge": BRIDGE, "fixed_range": "198.19.9.0/24", "dhcp_dir": f"{tmp}/dhcp"},
            "quota": {"instances": -1, "cores": -1, "ram": -1}})
        log.setup(False, conf.default.log_file)
        cloud = AllInOne(conf).start()
        api = httpx.Client(base_url=cloud.endpoint, headers={"X-Auth-Token": "admin:admin"}, timeout=60)
        uuids = []
        try:
            root = cloud.endpoint.rsplit("/compute/", 1)[0]
            image_id = upload(Session.with_token("admin:admin", {"image": f"{root}/image"}), image, "ncloud-tiny")
            results = []
            for n in range(args.guests):
                uuid, active, marker = boot(api, f"bench-{n}", image_id)
                uuids.append(uuid)
                results.append((active, marker))
                print(f"guest {n} ({'cache miss' if n == 0 else 'cache hit'}): ACTIVE {active:.2f}s, "
                      f"boot marker {marker:.2f}s")
            hits = results[1:]
            if hits:
                print(f"cache hit, median of {len(hits)}: ACTIVE {statistics.median(a for a, _ in hits):.2f}s, "
                      f"marker {statistics.median(m for _, m in hits):.2f}s; cache miss: ACTIVE {results[0][0]:.2f}s, "
                      f"marker {results[0][1]:.2f}s")
            rss = [qemu_rss_mib(uuid) for uuid in uuids]
            print(f"QEMU RSS per guest (flavor m1.tiny, 512 MiB RAM): median {statistics.median(rss):.0f} MiB, "
                  f"max {max(rss):.0f} MiB")
            started = time.monotonic()
            response = api.post(f"/servers/{uuids[0]}/action", headers={"OpenStack-API-Version": "compute 2.45"},
                                json={"createImage": {"name": "bench-snapshot"}})
            response.raise_for_status()
            snapshot_id = response.json()["image_id"]
            while api.get(f"{root}/image/v2/images/{snapshot_id}").json().get("status") != "active":
                if time.monotonic() - started > 300:
                    raise SystemExit("the snapshot did not become active within 300s")
                time.sleep(0.2)
            logged = Path(conf.default.log_file).read_text()
            how = "a live copy, the guest running" if "live copy of the disk" in logged else "the guest paused"
            print(f"createImage of a running guest to an active image: {time.monotonic() - started:.2f}s ({how})")
        finally:
            for uuid in uuids:
                api.delete(f"/servers/{uuid}")
            end = time.monotonic() + 120
            while uuids and time.monotonic() < end and any(
                    api.get(f"/servers/{uuid}").status_code != 404 for uuid in uuids):
                time.sleep(0.5)
            api.close()
            cloud.stop()
            FlatNetwork(conf).teardown()


if __name__ == "__main__":
    main()
