#!/usr/bin/env python3
"""Measure kombu transports for ncloud's RPC layer.

For each transport this measures:

* request/reply round trip (median and p99): the client publishes a request
  to a queue, the server consumes it and publishes a reply to a reply queue
  on a *separate* connection (publishing on the consuming connection from
  inside a callback recurses), and the client waits for that reply;
* one-way casts: messages/s for N casts, from the first publish until the
  server has consumed the last one;
* idle CPU (% of one core) of one idle consumer, over a few seconds.

Transports: ``memory://`` (client and server as two threads of ONE process),
``filesystem://`` and ``sqla+sqlite://`` (server in a second process), and
``amqp://`` (server in a second process; only when the broker port answers).

It also checks two properties of ``memory://`` that an all-in-one needs:
fanout exchanges, and ``kombu.mixins.ConsumerMixin`` workers in several
threads (one Connection each) fed from another thread.

Usage::

    python bench/transports.py [--amqp-url URL] [--quick]

It prints a table, then one final line of JSON with every figure.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import kombu
import psutil
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.mixins import ConsumerMixin

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
EXCHANGE = Exchange("ncloud_bench", type="direct", durable=False)


# --------------------------------------------------------------------------
# helpers


def make_connection(url: str, options: dict) -> Connection:
    """Return a Connection with ``options`` as transport_options.

    kombu's SQLAlchemy transport hands every transport option it does not
    know to ``create_engine()``, which rejects ``polling_interval`` with a
    TypeError; for ``sqla+`` URLs the polling interval is therefore set on
    the transport object instead.
    """
    options = dict(options)
    if options.pop("ncloud_inprocess", False):  # ncloud's event-driven memory:// (decision 0004)
        from ncloud.daemons.core import inprocess

        return Connection(url, transport=inprocess.Transport, transport_options=options)
    polling = None
    if url.startswith(("sqla+", "sqlalchemy+")):
        polling = options.pop("polling_interval", None)
    conn = Connection(url, transport_options=options)
    if polling is not None:
        conn.transport.polling_interval = polling
    return conn


def make_queues(tag: str) -> tuple[Queue, Queue]:
    req = Queue(f"bench_req_{tag}", EXCHANGE, routing_key=f"bench_req_{tag}",
                durable=False)
    reply = Queue(f"bench_reply_{tag}", EXCHANGE,
                  routing_key=f"bench_reply_{tag}", durable=False)
    return req, reply


def percentile(data: list[float], pct: float) -> float:
    data = sorted(data)
    if not data:
        return float("nan")
    k = (len(data) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def amqp_port_answers(url: str, timeout: float = 2.0) -> bool:
    """True when an AMQP 0-9-1 broker answers the protocol header.

    A broker that speaks 0-9-1 answers with a Connection.Start method frame
    (first byte 0x01); one that does not echoes its own protocol header.
    """
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 5672
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            data = sock.recv(8)
    except OSError:
        return False
    return data[:1] == b"\x01" or data[:4] == b"AMQP"


def _schedstat_seconds(path: str) -> float:
    # first field: nanoseconds this task has spent on a CPU
    with open(path) as f:
        return int(f.read().split()[0]) / 1e9


def thread_cpu_seconds(native_id: int) -> float:
    """CPU time of one thread of this process (/proc schedstat, ns)."""
    try:
        return _schedstat_seconds(f"/proc/self/task/{native_id}/schedstat")
    except OSError:
        for thr in psutil.Process().threads():
            if thr.id == native_id:
                return thr.user_time + thr.system_time
        raise


def process_cpu_seconds(pid: int) -> float:
    """CPU time of all live threads of a process (/proc schedstat, ns)."""
    try:
        return sum(_schedstat_seconds(f"/proc/{pid}/task/{tid}/schedstat")
                   for tid in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


# --------------------------------------------------------------------------
# server side


class Server:
    """Consumes requests and casts; replies on a separate connection."""

    def __init__(self, url: str, options: dict, tag: str):
        self.conn_in = make_connection(url, options)
        self.conn_out = make_connection(url, options)
        self.req_q, self.reply_q = make_queues(tag)
        self.producer = Producer(self.conn_out.channel(), exchange=EXCHANGE,
                                 serializer="json")
        self.stopped = False
        self.stats = {"calls": 0, "casts": 0, "cast_dupes": 0,
                      "transport_errors": 0, "error_samples": [],
                      "error_kinds": collections.Counter()}
        self.batches: dict[str, set] = collections.defaultdict(set)
        self.last_cast_at: dict[str, float] = {}

    def reply(self, body: dict) -> None:
        self.producer.publish(body, routing_key=self.reply_q.routing_key,
                              declare=[self.reply_q])

    def on_message(self, body: dict, message) -> None:
        message.ack()
        op = body.get("op")
        if op == "call":
            self.stats["calls"] += 1
            self.reply({"op": "reply", "seq": body["seq"]})
        elif op == "cast":
            seen = self.batches[body["batch"]]
            if body["seq"] in seen:
                self.stats["cast_dupes"] += 1
            seen.add(body["seq"])
            self.stats["casts"] += 1
            self.last_cast_at[body["batch"]] = time.time()
            if len(seen) == body["expect"]:
                self.reply({"op": "casts_done", "batch": body["batch"]})
        elif op == "stats":
            self.reply({"op": "stats", "seq": body["seq"],
                        "stats": self.stats,
                        "batches": {k: len(v)
                                    for k, v in self.batches.items()},
                        "last_cast_at": self.last_cast_at})
        elif op == "stop":
            self.stopped = True
            self.reply({"op": "stopped", "seq": body["seq"]})

    def serve(self, ready=None) -> None:
        # declare the reply queue up front so the first reply is routable
        self.reply_q(self.conn_out.default_channel).declare()
        with Consumer(self.conn_in, [self.req_q], callbacks=[self.on_message],
                      accept=["json"]):
            if ready is not None:
                ready()
            while not self.stopped:
                try:
                    self.conn_in.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
                except Exception as exc:  # counted and reported
                    self.stats["transport_errors"] += 1
                    self.stats["error_kinds"][
                        f"{type(exc).__name__}: {exc}"[:70]] += 1
                    if len(self.stats["error_samples"]) < 3:
                        self.stats["error_samples"].append(
                            f"{type(exc).__name__}: {exc}"[:200])

    def close(self) -> None:
        for conn in (self.conn_in, self.conn_out):
            with contextlib.suppress(Exception):  # best-effort cleanup
                conn.release()


def run_server_process(args) -> int:
    server = Server(args.url, json.loads(args.options), args.tag)

    def ready():
        print("READY", flush=True)

    try:
        server.serve(ready)
    finally:
        server.close()
    return 0


# --------------------------------------------------------------------------
# client side


class Client:
    def __init__(self, url: str, options: dict, tag: str):
        self.conn = make_connection(url, options)
        self.req_q, self.reply_q = make_queues(tag)
        channel = self.conn.default_channel
        self.producer = Producer(channel, exchange=EXCHANGE, serializer="json")
        self.replies: collections.deque = collections.deque()
        self.consumer = Consumer(channel, [self.reply_q],
                                 callbacks=[self._on_reply], accept=["json"])
        self.consumer.consume()
        self.errors = 0
        self.error_samples: list[str] = []
        self.seq = 0

    def _on_reply(self, body: dict, message) -> None:
        message.ack()
        self.replies.append(body)

    def publish(self, body: dict) -> bool:
        try:
            self.producer.publish(body, routing_key=self.req_q.routing_key,
                                  declare=[self.req_q])
            return True
        except Exception as exc:  # counted and reported
            self._error(exc)
            return False

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(f"{type(exc).__name__}: {exc}"[:200])

    def wait_for(self, match, timeout: float):
        """Return the first reply matching ``match``; leave the others."""
        deadline = time.monotonic() + timeout
        while True:
            for body in self.replies:
                if match(body):
                    self.replies.remove(body)
                    return body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self.conn.drain_events(timeout=remaining)
            except TimeoutError:
                return None
            except Exception as exc:  # counted and reported
                self._error(exc)

    def call(self, op: str, timeout: float = 2.0, **extra):
        self.seq += 1
        seq = self.seq
        if not self.publish({"op": op, "seq": seq, **extra}):
            return None
        return self.wait_for(lambda b: b.get("seq") == seq, timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best-effort cleanup
            self.consumer.cancel()
        for q in (self.req_q, self.reply_q):
            with contextlib.suppress(Exception):
                q(self.conn.default_channel).delete()
        self.conn.release()


def measure(client: Client, cpu_of, args) -> dict:
    """Run warm-up, idle CPU, round trips and casts against a live server."""
    result: dict = {}
    lost_warmup = sum(client.call("call") is None for _ in range(10))

    cpu0 = cpu_of()
    t0 = time.monotonic()
    time.sleep(args.idle_seconds)
    cpu1 = cpu_of()
    result["idle_cpu_pct"] = round(
        100.0 * (cpu1 - cpu0) / (time.monotonic() - t0), 2)

    rtts: list[float] = []
    lost = 0
    start = time.monotonic()
    for _ in range(args.round_trips):
        if time.monotonic() - start > args.budget:
            break
        t = time.perf_counter()
        if client.call("call", timeout=args.call_timeout) is None:
            lost += 1
            continue
        rtts.append((time.perf_counter() - t) * 1000.0)
    result["round_trips"] = len(rtts)
    result["rtt_median_ms"] = round(statistics.median(rtts), 3) if rtts else None
    result["rtt_p99_ms"] = round(percentile(rtts, 99), 3) if rtts else None
    result["calls_lost"] = lost + lost_warmup

    batch = uuid.uuid4().hex[:8]
    n = args.casts
    t = time.perf_counter()
    t_wall = time.time()
    published = 0
    pub_deadline = time.monotonic() + args.budget
    for i in range(n):
        if time.monotonic() > pub_deadline:
            break
        published += client.publish(
            {"op": "cast", "seq": i, "batch": batch, "expect": n})
    t_pub = time.perf_counter() - t
    # wait for the server's "all casts consumed"; give up early once the
    # count it reports stops moving (a lost message never arrives)
    last = -1
    wait_deadline = time.monotonic() + max(args.budget, 5.0)
    while time.monotonic() < wait_deadline:
        done = client.wait_for(
            lambda b: b.get("op") == "casts_done" and b.get("batch") == batch,
            timeout=1.0)
        if done is not None:
            break
        stats = client.call("stats", timeout=5.0)
        count = (stats or {}).get("batches", {}).get(batch, 0)
        if count == last:
            break
        last = count
    result["casts_published"] = published
    result["publish_per_s"] = round(published / t_pub) if t_pub else None
    stats = client.call("stats", timeout=10.0) or {}
    delivered = stats.get("batches", {}).get(batch, 0)
    last_at = stats.get("last_cast_at", {}).get(batch)
    result["casts_delivered"] = delivered
    result["casts_lost"] = published - delivered
    # rate = casts consumed / (first publish -> server consumed the last one)
    if delivered and last_at and last_at > t_wall:
        result["casts_per_s"] = round(delivered / (last_at - t_wall))
    else:
        result["casts_per_s"] = None
    if stats:
        result["server_transport_errors"] = stats["stats"]["transport_errors"]
        result["server_error_samples"] = stats["stats"]["error_samples"]
        result["server_error_kinds"] = dict(stats["stats"]["error_kinds"])
        result["cast_dupes"] = stats["stats"]["cast_dupes"]
    result["client_transport_errors"] = client.errors
    result["client_error_samples"] = client.error_samples
    return result


def bench_in_process(url: str, options: dict, args) -> dict:
    """Client (this thread) and server (a thread) in ONE process."""
    tag = uuid.uuid4().hex[:8]
    server = Server(url, options, tag)
    ready = threading.Event()
    native = {}

    def target():
        native["id"] = threading.get_native_id()
        server.serve(ready.set)

    thread = threading.Thread(target=target, name="bench-server", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("in-process server did not start")
    client = Client(url, options, tag)
    try:
        result = measure(client, lambda: thread_cpu_seconds(native["id"]), args)
        client.call("stop")
    finally:
        server.stopped = True
        thread.join(5)
        client.close()
        server.close()
    return result


def bench_two_processes(url: str, options: dict, args) -> dict:
    """Server in a child process, client here."""
    tag = uuid.uuid4().hex[:8]
    cmd = [sys.executable, os.path.abspath(__file__), "--serve",
           "--url", url, "--options", json.dumps(options), "--tag", tag]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        line = child.stdout.readline() if ready else ""
        if line.strip() != "READY":
            raise RuntimeError(f"server process did not start: {line!r}")
        client = Client(url, options, tag)
        try:
            result = measure(client, lambda: process_cpu_seconds(child.pid),
                             args)
            client.call("stop", timeout=5.0)
        finally:
            client.close()
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return result


# --------------------------------------------------------------------------
# memory:// feature checks


def check_memory_fanout(options: dict) -> dict:
    """A fanout message reaches two bound queues (3 connections, 1 process)."""
    tag = uuid.uuid4().hex[:8]
    fan = Exchange(f"bench_fan_{tag}", type="fanout", durable=False)
    queues = [Queue(f"bench_fan_{tag}_{i}", fan, durable=False)
              for i in range(2)]
    got: dict[int, list] = {0: [], 1: []}
    conns = [make_connection("memory://", options) for _ in range(3)]
    try:
        consumers = []
        for i, q in enumerate(queues):
            consumer = Consumer(
                conns[i], [q], accept=["json"],
                callbacks=[lambda body, msg, i=i: (got[i].append(body),
                                                   msg.ack())])
            consumer.consume()
            consumers.append(consumer)
        Producer(conns[2].default_channel, exchange=fan,
                 serializer="json").publish({"hello": "all"})
        for i in range(2):
            with contextlib.suppress(TimeoutError):
                conns[i].drain_events(timeout=2)
    finally:
        for conn in conns:
            conn.release()
    ok = got[0] == [{"hello": "all"}] and got[1] == [{"hello": "all"}]
    return {"ok": ok, "received": [len(got[0]), len(got[1])],
            "transport_options": options}


class _Worker(ConsumerMixin):
    def __init__(self, connection, queues, name, sink):
        self.connection = connection
        self.queues = queues
        self.name = name
        self.sink = sink

    def get_consumers(self, consumer_cls, channel):
        return [consumer_cls(queues=self.queues, accept=["json"],
                             callbacks=[self.on_message])]

    def on_message(self, body, message):
        self.sink.append((self.name, body["kind"], body["n"],
                          threading.get_ident()))
        message.ack()


def check_memory_consumer_mixin(options: dict) -> dict:
    """ConsumerMixin workers in 3 threads (own Connection each), fed from a
    4th thread: direct queues, one fanout, and two competing consumers."""
    tag = uuid.uuid4().hex[:8]
    direct = Exchange(f"bench_mx_{tag}", type="direct", durable=False)
    fan = Exchange(f"bench_mxfan_{tag}", type="fanout", durable=False)

    def dq(name):
        return Queue(f"bench_mx_{tag}_{name}", direct, routing_key=name,
                     durable=False)

    def fq(name):
        return Queue(f"bench_mxfan_{tag}_{name}", fan, durable=False)

    sink: list = []
    workers = [
        _Worker(make_connection("memory://", options),
                [dq("a"), fq("a"), dq("shared")], "a", sink),
        _Worker(make_connection("memory://", options),
                [dq("b"), fq("b"), dq("shared")], "b", sink),
        _Worker(make_connection("memory://", options),
                [dq("c"), fq("c")], "c", sink),
    ]
    threads = [threading.Thread(target=w.run, daemon=True, name=w.name)
               for w in workers]
    for thr in threads:
        thr.start()
    time.sleep(0.5)  # let the workers declare their queues and consume

    per_target = 50
    sent = {"direct": 0, "fanout": 0, "shared": 0}
    publish_error: list[str] = []

    def publisher():
        try:
            with make_connection("memory://", options) as conn:
                producer = Producer(conn.default_channel, serializer="json")
                for n in range(per_target):
                    for name in ("a", "b", "c"):
                        producer.publish({"kind": "direct", "n": n},
                                         exchange=direct, routing_key=name)
                        sent["direct"] += 1
                    producer.publish({"kind": "fanout", "n": n}, exchange=fan)
                    sent["fanout"] += 1
                    producer.publish({"kind": "shared", "n": n},
                                     exchange=direct, routing_key="shared")
                    sent["shared"] += 1
        except Exception as exc:  # reported
            publish_error.append(repr(exc))

    t0 = time.monotonic()
    pub = threading.Thread(target=publisher, name="publisher")
    pub.start()
    pub.join(30)
    expected = 3 * per_target + 3 * per_target + per_target
    while len(sink) < expected and time.monotonic() - t0 < 20:
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    for w in workers:
        w.should_stop = True
    t_stop = time.monotonic()
    for thr in threads:
        thr.join(5)
    stop_s = time.monotonic() - t_stop

    by = collections.Counter((name, kind) for name, kind, _n, _t in sink)
    shared = [(name, n) for name, kind, n, _t in sink if kind == "shared"]
    shared_ns = sorted(n for _name, n in shared)
    thread_ids = {name: {t for nm, _k, _n, t in sink if nm == name}
                  for name in ("a", "b", "c")}
    ok = (
        not publish_error
        and all(by[(w, "direct")] == per_target for w in "abc")
        and all(by[(w, "fanout")] == per_target for w in "abc")
        and shared_ns == list(range(per_target))
        and all(len(v) == 1 for v in thread_ids.values())
        and not any(thr.is_alive() for thr in threads)
    )
    return {
        "ok": ok,
        "received": {f"{w}.{k}": by[(w, k)]
                     for w in "abc" for k in ("direct", "fanout", "shared")},
        "shared_total": len(shared), "shared_unique": len(set(shared_ns)),
        "all_delivered_s": round(elapsed, 3),
        "stop_s": round(stop_s, 3),
        "publish_error": publish_error,
        "transport_options": options,
    }


# --------------------------------------------------------------------------
# main


def fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = ("transport", "procs", "poll s", "rtt med ms", "rtt p99 ms",
              "casts/s", "idle CPU %", "lost/errors")
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append((r["transport"], str(r["processes"]),
                          fmt(r.get("polling_interval")), "ERROR", "", "", "",
                          r["error"][:60]))
            continue
        lost = r["calls_lost"] + r["casts_lost"]
        errors = r.get("server_transport_errors", 0) + r["client_transport_errors"]
        lines.append((
            r["transport"], str(r["processes"]),
            fmt(r.get("polling_interval")),
            fmt(r["rtt_median_ms"], ".2f"), fmt(r["rtt_p99_ms"], ".2f"),
            fmt(r["casts_per_s"]), fmt(r["idle_cpu_pct"], ".1f"),
            f"{lost}/{errors}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    for j, row in enumerate(lines):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL,
                        help="broker to measure if its port answers "
                             "(default %(default)s)")
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--casts", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds at most per measurement loop")
    parser.add_argument("--call-timeout", type=float, default=2.0)
    parser.add_argument("--only", action="append", default=[],
                        help="run only transports whose name starts with "
                             "this (memory, filesystem, sqla, amqp); repeat")
    parser.add_argument("--quick", action="store_true",
                        help="50 round trips, 300 casts, 1 s idle")
    parser.add_argument("--no-checks", action="store_true",
                        help="skip the memory:// feature checks")
    # internal: the server half of a two-process measurement
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        return run_server_process(args)
    if args.quick:
        args.round_trips, args.casts, args.idle_seconds = 50, 300, 1.0

    tmp = tempfile.mkdtemp(prefix="ncloud-bench-")
    plan = []
    plan.append(("memory://", 1, {"ncloud_inprocess": True}))
    for poll in (0.001, 0.005, 0.01):
        plan.append(("memory://", 1, {"polling_interval": poll}))
    for poll in (0.005, 0.01):
        folder = os.path.join(tmp, f"fs-{poll}")
        os.makedirs(os.path.join(folder, "data"))
        plan.append(("filesystem://", 2, {
            "polling_interval": poll,
            "data_folder_in": os.path.join(folder, "data"),
            "data_folder_out": os.path.join(folder, "data"),
            "control_folder": os.path.join(folder, "control"),
        }))
    plan.append((f"sqla+sqlite:///{tmp}/kombu.db", 2,
                 {"polling_interval": 0.01}))
    amqp_up = amqp_port_answers(args.amqp_url)
    if amqp_up:
        plan.append((args.amqp_url, 2, {}))
    else:
        print(f"note: {args.amqp_url} does not answer; amqp skipped",
              file=sys.stderr)
    if args.only:
        plan = [p for p in plan
                if any(p[0].startswith(o) for o in args.only)]

    rows = []
    started = time.monotonic()
    try:
        for url, procs, options in plan:
            name = url.split(":", 1)[0] + "://"
            row = {"transport": name, "processes": procs,
                   "polling_interval": options.get("polling_interval"),
                   "transport_options": options}
            t0 = time.monotonic()
            print(f"... {name} procs={procs} "
                  f"polling_interval={row['polling_interval']}",
                  file=sys.stderr, flush=True)
            try:
                if procs == 1:
                    row.update(bench_in_process(url, options, args))
                else:
                    row.update(bench_two_processes(url, options, args))
            except Exception as exc:  # reported in the table
                row["error"] = f"{type(exc).__name__}: {exc}"
            row["seconds"] = round(time.monotonic() - t0, 1)
            rows.append(row)
        checks = {}
        if not args.no_checks:
            opts = {"polling_interval": 0.005}
            checks["memory_fanout"] = check_memory_fanout(opts)
            checks["memory_consumer_mixin_threads"] = (
                check_memory_consumer_mixin(opts))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print_table(rows)
    print("lost = calls with no reply + casts never consumed; "
          "errors = exceptions raised by drain_events/publish")
    for r in rows:
        kinds = collections.Counter(r.get("server_error_kinds") or {})
        kinds.update(r.get("client_error_samples") or [])
        for kind, count in kinds.items():
            print(f"  {r['transport']} poll={r.get('polling_interval')}: "
                  f"{count} x {kind}")
    for name, res in checks.items():
        print(f"check {name}: {'OK' if res['ok'] else 'FAILED'}")
    print(json.dumps({
        "kombu": kombu.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "amqp_url": args.amqp_url if amqp_up else None,
        "round_trips": args.round_trips, "casts": args.casts,
        "idle_seconds": args.idle_seconds,
        "total_seconds": round(time.monotonic() - started, 1),
        "results": rows,
        "checks": checks,
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
