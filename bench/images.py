"""Image data benchmark: upload and download throughput through the Image API, against the disk.

    python bench/images.py [--size-mb 1024]

Starts the API (waitress, the whole app, Identity tokens) on SQLite with its image store in a
temporary directory, then measures, for one image of --size-mb of random data:
- the disk: writing the file with an fsync, and reading it back (page cache warm);
- `PUT /image/v2/images/{id}/file` from the file (streamed by http.client, 1 MiB chunks);
- `GET /image/v2/images/{id}/file` to nowhere.
Prints a table and one JSON line (MB/s, 1 MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.identity import admin_token  # noqa: E402
from tests.cloud import identity_api  # noqa: E402

MIB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="image size in MiB (default 1024)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ncloud-bench-images-"))
    size = args.size_mb * MIB
    source = work / "source.raw"
    started = time.perf_counter()
    with open(source, "wb") as handle:
        block = os.urandom(MIB)
        for n in range(args.size_mb):
            handle.write(block[n % 256:] + block[:n % 256])  # not all alike, cheap to make
        handle.flush()
        os.fsync(handle.fileno())
    disk_write = size / (time.perf_counter() - started) / 1e6
    started = time.perf_counter()
    with open(source, "rb") as handle:
        while handle.read(MIB):
            pass
    disk_read = size / (time.perf_counter() - started) / 1e6

    try:
        with identity_api(work / "state") as url:
            upload, download = _transfer(url, source, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"size_mb": args.size_mb, "disk_write_mb_s": round(disk_write), "disk_read_mb_s": round(disk_read),
              "upload_mb_s": round(upload), "download_mb_s": round(download)}
    print(f"ncloud image data benchmark: one {args.size_mb} MiB image, SQLite, local store")
    for label, key in (("disk write + fsync", "disk_write_mb_s"), ("disk read (page cache)", "disk_read_mb_s"),
                       ("PUT .../file (upload, hashed, fsync)", "upload_mb_s"),
                       ("GET .../file (download)", "download_mb_s")):
        print(f"  {label:<40} {result[key]:>6} MB/s")
    print(json.dumps(result))


def _transfer(url: str, source: Path, size: int) -> tuple[float, float]:
    """Upload `source` as a new image, then download it: MB/s of each."""
    token = admin_token(url)
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600, blocksize=MIB)
    connection.request("POST", "/image/v2/images", body=json.dumps(
        {"name": "bench", "disk_format": "raw", "container_format": "bare"}),
        headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    image = json.loads(connection.getresponse().read())
    started = time.perf_counter()
    with open(source, "rb") as handle:
        connection.request("PUT", f"/image/v2/images/{image['id']}/file", body=handle,
                           headers={"X-Auth-Token": token, "Content-Type": "application/octet-stream",
                                    "Content-Length": str(size)})
        response = connection.getresponse()
        response.read()
    upload = size / (time.perf_counter() - started) / 1e6
    if response.status != 204:
        raise SystemExit(f"upload answered {response.status}")
    started = time.perf_counter()
    connection.request("GET", f"/image/v2/images/{image['id']}/file", headers={"X-Auth-Token": token})
    response = connection.getresponse()
    received = 0
    while chunk := response.read(MIB):
        received += len(chunk)
    download = size / (time.perf_counter() - started) / 1e6
    if received != size:
        raise SystemExit(f"downloaded {received} of {size} bytes")
    return upload, download


if __name__ == "__main__":
    main()
