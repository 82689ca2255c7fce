"""Boot benchmark: how fast ncloud takes servers to ACTIVE through its HTTP API, and at what cost.

    python bench/boot.py --count 500 --concurrency 20 --hosts 10
    python bench/boot.py --transport-url amqp://guest:guest@127.0.0.1:5672// \
        --database-url 'mysql+pymysql://ncloud:pw@127.0.0.1/ncloud?charset=utf8mb4' ...
    python bench/boot.py --url http://127.0.0.1:8774/compute/v2.1     # a cloud already running
    python bench/boot.py --with-servers ...      # throw-away RabbitMQ + MariaDB, one process per daemon

It starts its own cloud (unless --url): the all-in-one (`ncloud up`, one process, embedded
transport, SQLite) by default, or one process per daemon on the given broker and database. It
boots --count servers with --concurrency client threads over --hosts simulated compute hosts,
waits until all are ACTIVE, lists them, deletes them, and prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ncloud.daemons.core.bootstrap import DEMO_IMAGE_ID  # noqa: E402
from tests.cloud import ProcessCloud, free_port, wait_until  # noqa: E402


class Client:
    """A minimal HTTP/1.1 client: one keep-alive socket per thread, JSON in and out.

    The benchmark's client shares the machine's two cores with the cloud it measures, so it
    must cost the cloud as little CPU as possible: it writes requests and reads responses with
    Content-Length bodies straight off the socket (about a third of the standard library's
    http.client, whose header parsing goes through the email package, and a tenth of httpx).
    """

    def __init__(self, url: str, token: str, microversion: str = "2.1"):
        parts = urlsplit(url)
        self.host, self.port, self.prefix = parts.hostname, parts.port, parts.path.rstrip("/")
        self.headers = (f"Host: {self.host}:{self.port}\r\nX-Auth-Token: {token}\r\n"
                        f"OpenStack-API-Version: compute {microversion}\r\n"
                        "Content-Type: application/json\r\nAccept: application/json\r\n")
        self.local = threading.local()

    def request(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        url = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        payload = json.dumps(body).encode() if body is not None else b""
        message = (f"{method} {url} HTTP/1.1\r\n{self.headers}Content-Length: {len(payload)}\r\n\r\n").encode()
        for attempt in (1, 2):  # a keep-alive connection the server closed is opened again once
            stream = getattr(self.local, "stream", None)
            if stream is None:
                sock = socket.create_connection((self.host, self.port), timeout=60)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = self.local.stream = sock.makefile("rwb")
            try:
                stream.write(message + payload)
                stream.flush()
                status, length, close = self._read_head(stream)
                data = stream.read(length) if length else b""
                if close:
                    self._drop()
                return status, (json.loads(data) if data else None)
            except (ConnectionError, ValueError):
                self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _read_head(stream) -> tuple[int, int, bool]:
        line = stream.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        status = int(line.split(None, 2)[1])
        length, close = 0, False
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        return status, length, close

    def _drop(self) -> None:
        stream = getattr(self.local, "stream", None)
        self.local.stream = None
        if stream is not None:
            stream.close()

    def get(self, path: str, **params):
        return self.request("GET", path, params=params or None)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _with_children(pid: int) -> list[int]:
    try:
        return [pid] + [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its live children have used so far."""
    total = 0.0
    for one in _with_children(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children, in MiB."""
    total = 0.0
    for one in _with_children(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


class EmbeddedCloud:
    """`ncloud up` in a subprocess: every daemon in one process on the embedded defaults."""

    def __init__(self, hosts: int, quota: int):
        self.dir = Path(tempfile.mkdtemp(prefix="ncloud-bench-"))
        self.port = free_port()
        env = dict(os.environ, NCLOUD_FAKE__HOSTS=str(hosts), NCLOUD_FAKE__VCPUS="1000",
                   NCLOUD_FAKE__MEMORY_MB="10000000", NCLOUD_FAKE__LOCAL_GB="100000",
                   NCLOUD_QUOTA__INSTANCES=str(quota), NCLOUD_QUOTA__CORES=str(quota),
                   NCLOUD_QUOTA__RAM=str(quota * 1024 if quota > 0 else quota))
        ncloud = Path(sys.executable).parent / "ncloud"
        with open(self.dir / "up.log", "wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [str(ncloud), "up", "--state-dir", str(self.dir), "--port", str(self.port), "--driver", "fake"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/compute/v2.1"
        wait_until(lambda: (self.dir / "clouds.yaml").exists() or self.process.poll() is not None, 60,
                   what="ncloud up")
        if self.process.poll() is not None:
            raise SystemExit(f"ncloud up failed; see {self.dir / 'up.log'}")
        # The all-in-one runs Identity: the benchmark works as its administrator.
        import yaml

        from ncloud.cli.cloud.session import password_session

        admin = yaml.safe_load((self.dir / "clouds.yaml").read_text())["clouds"]["ncloud"]["auth"]
        self.token = password_session(admin["auth_url"], admin["username"], admin["password"],
                                      admin["project_name"]).token

    def pids(self) -> dict[str, int]:
        return {"ncloud up (all daemons)": self.process.pid}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)
        shutil.rmtree(self.dir, ignore_errors=True)


class SeparateProcesses:
    """One process per daemon on a real broker and database."""

    def __init__(self, hosts: int, transport_url: str, database_url: str, quota: int, api_workers: int | None,
                 api_threads: int | None):
        self.dir = Path(tempfile.mkdtemp(prefix="ncloud-bench-"))
        password = secrets.token_urlsafe(16)
        self.cloud = ProcessCloud(self.dir, transport_url, database_url, options={
            "DEFAULT": {"report_interval": 10, "service_down_time": 60},
            # Identity tokens, as a real cloud has (tests/cloud.py's default is noauth2).
            "api": {"auth_strategy": "keystone",
                    **{name: value for name, value in (("workers", api_workers), ("threads", api_threads))
                       if value is not None}},
            "identity": {"admin_password": password},
            "conductor": {"reconcile_interval": 30},
            "compute": {"resource_report_interval": 60},
            "fake": {"hosts": hosts, "vcpus": 1000, "memory_mb": 10000000, "local_gb": 100000},
            "quota": {"instances": quota, "cores": quota, "ram": quota * 1024 if quota > 0 else quota}})
        bootstrapped = self.cloud.ncloud("identity", "bootstrap")
        if bootstrapped.returncode != 0:
            raise SystemExit(f"ncloud identity bootstrap failed: {bootstrapped.stderr}")
        self.cloud.start("api", "ncloud-api", host="ctl")
        self.cloud.start("conductor", "ncloud-conductor", host="ctl")
        self.cloud.start("scheduler", "ncloud-scheduler", host="ctl")
        self.cloud.start("compute", "ncloud-compute", host="cmp")
        self.cloud.wait_for_api()
        from ncloud.cli.cloud.session import password_session

        self.token = password_session(f"http://127.0.0.1:{self.cloud.port}/identity/v3", "admin", password,
                                      "admin").token
        self.cloud.client.headers["X-Auth-Token"] = self.token
        names = ["cmp"] + [f"cmp-{n}" for n in range(2, hosts + 1)]
        self.cloud.wait_for_computes(names, timeout=120)
        self.url = self.cloud.url
        if os.environ.get("BENCH_NICE"):
            for name in ("conductor", "scheduler", "compute"):
                for tid in os.listdir(f"/proc/{self.cloud.processes[name].pid}/task"):
                    os.setpriority(os.PRIO_PROCESS, int(tid), int(os.environ["BENCH_NICE"]))

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.cloud.processes.items()}

    def stop(self) -> None:
        self.cloud.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for_computes(client: Client, hosts: int) -> None:
    def ready():
        status, body = client.get("/os-hypervisors")
        return status == 200 and len(body["hypervisors"]) >= hosts
    wait_until(ready, 120, what=f"{hosts} hypervisors")


def run(args) -> dict:
    cloud = None
    if args.url:
        url = args.url
    elif args.transport_url or args.database_url:
        if not (args.transport_url and args.database_url):
            raise SystemExit("--transport-url and --database-url go together")
        cloud = SeparateProcesses(args.hosts, args.transport_url, args.database_url, args.quota, args.api_workers,
                                  args.api_threads)
        url = cloud.url
    else:
        cloud = EmbeddedCloud(args.hosts, args.quota)
        url = cloud.url
    client = Client(url, cloud.token if cloud else args.token, args.microversion)
    try:
        wait_for_computes(client, args.hosts)
        image = args.image or DEMO_IMAGE_ID
        flavor = args.flavor
        post_latency: list[float] = []
        uuids: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()

        minor = int(args.microversion.split(".")[1])
        networks = {"networks": "none"} if minor >= 37 else {}  # required from 2.37

        def boot(n: int) -> None:
            body = {"server": {"name": f"bench-{n}", "flavorRef": flavor, "imageRef": image, **networks}}
            started = time.perf_counter()
            status, answer = client.request("POST", "/servers", body)
            elapsed = time.perf_counter() - started
            with lock:
                post_latency.append(elapsed * 1000)
                if status == 202:
                    uuids.append(answer["server"]["id"])
                else:
                    errors.append(f"{status} {str(answer)[:200]}")

        pids = {**(cloud.pids() if cloud else {}), **getattr(args, "infrastructure", {})}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        client_before = time.process_time()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(boot, range(args.count)))
        post_done = time.perf_counter() - t0

        # Poll only for what is still building (a list that shrinks to nothing), so that the
        # benchmark's own polling costs the cloud little; then check every server once.
        wait_until(lambda: not client.get("/servers", status="BUILD", limit=1000)[1]["servers"],
                   args.timeout, interval=0.2, what="no server in BUILD")
        to_active = time.perf_counter() - t0
        mine = [server for server in _list_all(client) if server["id"] in set(uuids)]
        failed = [server for server in mine if server["status"] != "ACTIVE"]
        if failed or len(mine) != len(uuids):
            raise SystemExit(f"{len(failed)} server(s) not ACTIVE, e.g. {failed[0]['id']}: {failed[0].get('fault')}"
                             if failed else f"only {len(mine)} of {len(uuids)} servers listed")
        cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
        client_cpu = time.process_time() - client_before

        detail = _timed_gets(client, "/servers/detail", args.samples)
        detail100 = _timed_gets(client, "/servers/detail?limit=100", args.samples)

        t1 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda uuid: client.request("DELETE", f"/servers/{uuid}"), uuids))
        wait_until(lambda: not client.get("/servers", limit=1000)[1]["servers"], args.timeout,
                   interval=0.2, what="all servers deleted")
        delete_s = time.perf_counter() - t1
        rss = {name: peak_rss_mb(pid) for name, pid in pids.items() if "infrastructure" not in name}
    finally:
        if cloud:
            cloud.stop()
    return {
        "count": args.count, "concurrency": args.concurrency, "hosts": args.hosts,
        "mode": _mode(args),
        "post_errors": len(errors),
        "servers_per_s": round(len(uuids) / to_active, 1),
        "post_s": round(post_done, 2),
        "post_p50_ms": round(percentile(post_latency, 50), 1),
        "post_p95_ms": round(percentile(post_latency, 95), 1),
        "post_p99_ms": round(percentile(post_latency, 99), 1),
        "all_active_s": round(to_active, 2),
        "detail_servers": len(uuids),
        "detail_p50_ms": round(percentile(detail, 50), 1),
        "detail_p99_ms": round(percentile(detail, 99), 1),
        "detail100_p50_ms": round(percentile(detail100, 50), 1),
        "delete_s": round(delete_s, 2),
        "rss_mb": {name: round(value, 1) for name, value in rss.items()},
        "rss_mb_total": round(sum(rss.values()), 1),
        "cpu_s_to_active": cpu,
        "client_cpu_s": round(client_cpu, 1),
        "first_error": errors[0] if errors else None,
    }


def _mode(args) -> str:
    if args.url:
        return f"running cloud at {args.url}"
    if args.transport_url:
        workers = args.api_workers or len(os.sched_getaffinity(0))
        return (f"one process per daemon ({workers} API workers), {args.transport_url.split(':', 1)[0]} + "
                f"{args.database_url.split('+', 1)[0].split(':', 1)[0]}")
    return "all-in-one (one process, memory://, SQLite)"


def _list_all(client: Client) -> list[dict]:
    servers, marker = [], None
    while True:
        params = {"limit": 1000, **({"marker": marker} if marker else {})}
        page = client.get("/servers/detail", **params)[1]["servers"]
        servers.extend(page)
        if len(page) < 1000:
            return servers
        marker = page[-1]["id"]


def _timed_gets(client: Client, path: str, samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        status, _ = client.request("GET", path)
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100, help="servers to boot (default 100)")
    parser.add_argument("--concurrency", type=int, default=10, help="client threads (default 10)")
    parser.add_argument("--hosts", type=int, default=5, help="simulated compute hosts (default 5)")
    parser.add_argument("--transport-url", help="run the daemons as separate processes on this broker")
    parser.add_argument("--database-url", help="... and this database (both required together)")
    parser.add_argument("--url", help="benchmark a running cloud's Compute API instead")
    parser.add_argument("--api-workers", type=int,
                        help="[api] workers when the daemons run separately (default: the option's default, "
                             "one per CPU)")
    parser.add_argument("--api-threads", type=int,
                        help="[api] threads when the daemons run separately (default: the option's default)")
    parser.add_argument("--with-servers", action="store_true",
                        help="start throw-away RabbitMQ and MariaDB servers and use them (separate processes)")
    parser.add_argument("--token", help="with --url: the X-Auth-Token to send (an administrator's)")
    parser.add_argument("--quota", type=int, default=-1,
                        help="instances, cores and RAM quota of the benchmark's project (default -1: no limit, "
                             "which skips the quota lock; a limit makes every boot count under the project's lock)")
    parser.add_argument("--microversion", default="2.1",
                        help="Compute API microversion of every request (default 2.1; 2.37 and later need "
                             "networks, which the benchmark sends as none)")
    parser.add_argument("--flavor", default="1", help="flavor id (default 1, m1.tiny)")
    parser.add_argument("--image", help="image id (default: the demo image)")
    parser.add_argument("--samples", type=int, default=50, help="timed GET /servers/detail requests")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for ACTIVE / deleted")
    args = parser.parse_args()
    if args.url and not args.token:
        parser.error("--url needs --token (e.g. from 'openstack token issue')")
    if args.with_servers:
        from tests.servers import MariaDB, RabbitMQ

        with RabbitMQ() as rabbitmq, MariaDB() as mariadb:
            args.transport_url, args.database_url = rabbitmq.url, mariadb.url
            args.infrastructure = {f"{type(server).__name__} (infrastructure)": proc.pid
                                   for server in (rabbitmq, mariadb) for proc, _ in server._procs}
            result = run(args)
    else:
        result = run(args)
    rows = [("servers to ACTIVE per second", result["servers_per_s"]),
            ("time to all ACTIVE (s)", result["all_active_s"]),
            ("POST /servers p50 / p95 / p99 (ms)",
             f"{result['post_p50_ms']} / {result['post_p95_ms']} / {result['post_p99_ms']}"),
            (f"GET /servers/detail with {result['detail_servers']} servers p50 / p99 (ms)",
             f"{result['detail_p50_ms']} / {result['detail_p99_ms']}"),
            ("GET /servers/detail?limit=100 p50 (ms)", result["detail100_p50_ms"]),
            ("delete all and wait (s)", result["delete_s"]),
            ("POST errors", result["post_errors"])]
    rows += [(f"peak RSS {name} (MB)", value) for name, value in result["rss_mb"].items()]
    rows.append(("peak RSS total (MB)", result["rss_mb_total"]))
    rows += [(f"CPU seconds until all ACTIVE: {name}", value) for name, value in result["cpu_s_to_active"].items()]
    rows.append(("CPU seconds until all ACTIVE: this benchmark's client", result["client_cpu_s"]))
    width = max(len(label) for label, _ in rows)
    print(f"ncloud boot benchmark: {result['count']} servers, concurrency {result['concurrency']}, "
          f"{result['hosts']} hosts, {result['mode']}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
