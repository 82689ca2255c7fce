#!/usr/bin/env python3
"""Benchmark candidate web stacks for the ncloud API daemon.

Compares WSGI frameworks {falcon, flask} on threaded pure-Python servers
{waitress, cheroot}, plus gunicorn (sync and gthread) with falcon as a
reference for a standalone deployment.  Two routes mimic ncloud:

* ``GET  /compute/v2.1/servers/detail`` -- 100 Nova-like server dicts
  (~25 keys each) built per request from a prebuilt list;
* ``POST /compute/v2.1/servers`` -- parses a ~600-byte JSON body, validates
  it with a precompiled ``jsonschema.Draft4Validator`` and answers 202.

Every server is started in a subprocess on 127.0.0.1 and loaded with
``wrk`` (loopback only).  waitress and cheroot are run *embedded in a
thread* (the way the all-in-one process runs them) and stopped through
their in-process API on SIGTERM, so the shutdown path is exercised too.
An in-process embed check additionally starts/stops each embeddable server
in a thread while a keep-alive client connection is still open.

Prints a table and, as the last line, one JSON document with all figures.

Requirements: falcon flask waitress cheroot gunicorn psutil jsonschema,
and the ``wrk`` binary (Debian package ``wrk``).

Usage: python bench/webstack.py [--duration 8] [--only falcon+waitress,...]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HOST = "127.0.0.1"
DETAIL_PATH = "/compute/v2.1/servers/detail"
CREATE_PATH = "/compute/v2.1/servers"
N_SERVERS = 100
SERVER_THREADS = 8

# (framework, server) pairs; gunicorn-* are the standalone references.
EMBEDDABLE = [
    ("falcon", "waitress"),
    ("falcon", "cheroot"),
    ("flask", "waitress"),
    ("flask", "cheroot"),
]
REFERENCES = [
    ("falcon", "gunicorn-sync"),
    ("falcon", "gunicorn-gthread"),
]

# --------------------------------------------------------------------------
# Workload shared by every framework
# --------------------------------------------------------------------------


def _server_record(i: int) -> dict:
    sid = str(uuid.UUID(int=0x5E1F0000 + i))
    project = "6f70656e737461636b20342065766572"
    return {
        "id": sid,
        "name": f"vm-{i:04d}",
        "status": "ACTIVE",
        "tenant_id": project,
        "user_id": "fake-user-0001",
        "metadata": {"role": "web", "tier": str(i % 3)},
        "hostId": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b",
        "image": {"id": "70a599e0-31e7-49b7-b260-868f441e862b", "links": []},
        "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "original_name": "m1.tiny"},
        "created": "2024-01-01T00:00:00Z",
        "updated": "2024-01-01T00:00:00Z",
        "addresses": {
            "private": [
                {
                    "addr": f"10.0.{i // 250}.{i % 250 + 2}",
                    "version": 4,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}",
                }
            ]
        },
        "accessIPv4": "",
        "accessIPv6": "",
        "links": [
            {"rel": "self", "href": f"http://127.0.0.1/compute/v2.1/servers/{sid}"},
            {"rel": "bookmark", "href": f"http://127.0.0.1/compute/servers/{sid}"},
        ],
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": None,
        "OS-SRV-USG:launched_at": "2024-01-01T00:00:05.000000",
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "active",
        "OS-EXT-STS:power_state": 1,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
        "locked": False,
        "tags": [],
    }


SERVERS = [_server_record(i) for i in range(N_SERVERS)]

CREATE_SCHEMA = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "imageRef": {"type": "string", "format": "uuid"},
                "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                "networks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "uuid": {"type": "string"},
                            "fixed_ip": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                },
                "metadata": {
                    "type": "object",
                    "patternProperties": {
                        "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}
                    },
                    "additionalProperties": False,
                },
                "security_groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
                "key_name": {"type": "string"},
                "availability_zone": {"type": "string"},
                "user_data": {"type": "string", "maxLength": 65535},
                "config_drive": {"type": "boolean"},
                "min_count": {"type": "integer", "minimum": 1},
                "max_count": {"type": "integer", "minimum": 1},
                "description": {"type": ["string", "null"], "maxLength": 255},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        }
    },
    "required": ["server"],
    "additionalProperties": False,
}

CREATE_BODY = json.dumps(
    {
        "server": {
            "name": "bench-vm-0001",
            "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b",
            "flavorRef": "1",
            "networks": [{"uuid": "3cb9bc59-5699-4588-a4b1-b87f96708bc6"}],
            "metadata": {"role": "web", "owner": "bench", "tier": "frontend"},
            "security_groups": [{"name": "default"}, {"name": "web"}],
            "key_name": "bench-key",
            "availability_zone": "nova",
            "user_data": "IyEvYmluL3NoCmVjaG8gaGVsbG8gd29ybGQK" * 4,
            "config_drive": True,
            "min_count": 1,
            "max_count": 1,
            "description": "wrk-generated create request used by bench/webstack.py",
        }
    }
)

_VALIDATOR = None


def validator():
    """The precompiled Draft4Validator (built once per process)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        jsonschema.Draft4Validator.check_schema(CREATE_SCHEMA)
        _VALIDATOR = jsonschema.Draft4Validator(CREATE_SCHEMA)
    return _VALIDATOR


def list_detail() -> dict:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"servers": [{**s, "updated": now} for s in SERVERS]}


def create_errors(body) -> str | None:
    err = next(iter(validator().iter_errors(body)), None)
    return None if err is None else err.message


def create_reply(body: dict) -> dict:
    sid = str(uuid.uuid4())
    return {
        "server": {
            "id": sid,
            "links": [{"rel": "self", "href": f"http://127.0.0.1{CREATE_PATH}/{sid}"}],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": body["server"].get("security_groups", []),
            "adminPass": "Zm9vYmFyYmF6",
        }
    }


# --------------------------------------------------------------------------
# Framework apps
# --------------------------------------------------------------------------


def make_falcon_app():
    import falcon

    class Detail:
        def on_get(self, req, resp):
            resp.media = list_detail()

    class Servers:
        def on_post(self, req, resp):
            body = req.get_media()
            msg = create_errors(body)
            if msg is not None:
                raise falcon.HTTPBadRequest(title="Invalid input", description=msg)
            resp.status = falcon.HTTP_202
            resp.media = create_reply(body)

    app = falcon.App()
    app.add_route(DETAIL_PATH, Detail())
    app.add_route(CREATE_PATH, Servers())
    validator()
    return app


def make_flask_app():
    import flask

    app = flask.Flask("ncloud_bench")

    @app.get(DETAIL_PATH)
    def detail():
        return list_detail()

    @app.post(CREATE_PATH)
    def create():
        body = flask.request.get_json()
        msg = create_errors(body)
        if msg is not None:
            return {"badRequest": {"code": 400, "message": msg}}, 400
        return create_reply(body), 202

    validator()
    return app


APPS = {"falcon": make_falcon_app, "flask": make_flask_app}

# --------------------------------------------------------------------------
# Embedding: run a server in a thread of this process and stop it cleanly
# --------------------------------------------------------------------------


class EmbeddedWaitress:
    """waitress in a thread: create_server(...).run() / close via its trigger."""

    def __init__(self, app, port: int):
        from waitress import wasyncore
        from waitress.server import create_server

        self._wasyncore = wasyncore
        self._map: dict = {}  # our own socket map, so stop() needs no private attr
        self.server = create_server(
            app, map=self._map, host=HOST, port=port, threads=SERVER_THREADS
        )  # binds now
        self.port = int(self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        # Close the listener and every channel from inside the loop thread
        # (pull_trigger runs the thunk there), so the loop sees an empty map
        # and returns; then stop the worker threads.
        self.server.trigger.pull_trigger(lambda: self._wasyncore.close_all(self._map))
        self.thread.join(timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        return not self.thread.is_alive()


class EmbeddedCheroot:
    """cheroot in a thread: wsgi.Server(...).prepare(); serve() / stop()."""

    def __init__(self, app, port: int):
        from cheroot import wsgi

        self.server = wsgi.Server((HOST, port), app, numthreads=SERVER_THREADS)
        self.server.prepare()  # binds now; bind_addr holds the real port
        self.port = self.server.bind_addr[1]
        self.thread = threading.Thread(target=self.server.serve, name="cheroot", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        self.server.stop()
        self.thread.join(timeout)
        return not self.thread.is_alive()


EMBEDDERS = {"waitress": EmbeddedWaitress, "cheroot": EmbeddedCheroot}


def run_gunicorn(app, port: int, kind: str) -> None:
    from gunicorn.app.base import BaseApplication

    opts = {
        "bind": f"{HOST}:{port}",
        "loglevel": "warning",
        "accesslog": None,
    }
    if kind == "gunicorn-sync":
        opts.update(worker_class="sync", workers=2)
    else:
        opts.update(worker_class="gthread", workers=1, threads=SERVER_THREADS)

    class _App(BaseApplication):
        def load_config(self):
            for k, v in opts.items():
                self.cfg.set(k, v)

        def load(self):
            return app

    _App().run()


def serve(framework: str, server: str, port: int) -> int:
    """Subprocess role: serve until SIGTERM, then stop cleanly."""
    app = APPS[framework]()
    if server.startswith("gunicorn"):
        run_gunicorn(app, port, server)
        return 0
    emb = EMBEDDERS[server](app, port)
    stop_evt = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_evt.set())
    signal.signal(signal.SIGINT, lambda *_: stop_evt.set())
    emb.start()
    while not stop_evt.wait(0.5):
        pass
    t0 = time.perf_counter()
    ok = emb.stop()
    print(json.dumps({"stopped": ok, "stop_s": round(time.perf_counter() - t0, 3)}), flush=True)
    return 0 if ok else 3


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_call(port, method, path, body=None, timeout=2.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with rc={proc.returncode}")
        try:
            status, _ = http_call(port, "GET", DETAIL_PATH, timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def smoke_check(port: int) -> None:
    status, data = http_call(port, "GET", DETAIL_PATH)
    doc = json.loads(data)
    assert status == 200 and len(doc["servers"]) == N_SERVERS, (status, len(data))
    assert len(doc["servers"][0]) >= 25, len(doc["servers"][0])
    status, data = http_call(port, "POST", CREATE_PATH, CREATE_BODY)
    assert status == 202 and "id" in json.loads(data)["server"], (status, data[:200])
    bad = json.dumps({"server": {"name": "", "flavorRef": "1", "bogus": 1}})
    status, _ = http_call(port, "POST", CREATE_PATH, bad)
    assert status == 400, status


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    res = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": 0,
        "socket_errors": 0,
    }
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    return res


def run_wrk(args, port: int, path: str, script: str | None, duration: float) -> dict:
    cmd = [args.wrk, f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{duration:g}s",
           "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://{HOST}:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 20, check=True)
    return parse_wrk(out.stdout)


def tree_rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    procs = [proc] + proc.children(recursive=True)
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return round(total / 2**20, 1)


def bench_one(args, framework: str, server: str, post_script: str) -> dict:
    with tempfile.TemporaryFile(mode="w+") as log:
        return _bench_one(args, framework, server, post_script, log)


def _bench_one(args, framework, server, post_script, log) -> dict:
    port = free_port()
    cmd = [sys.executable, os.path.abspath(__file__), "--serve", f"{framework}+{server}",
           "--port", str(port)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    row = {"framework": framework, "server": server, "embeddable": server in EMBEDDERS}
    try:
        wait_ready(port, proc, time.monotonic() + 20)
        row["startup_s"] = round(time.monotonic() - t0, 2)
        smoke_check(port)
        row["rss_idle_mb"] = tree_rss_mb(proc.pid)
        for route, path, script in (("get", DETAIL_PATH, None),
                                    ("post", CREATE_PATH, post_script)):
            if args.warmup:
                run_wrk(args, port, path, script, args.warmup)
            row[route] = run_wrk(args, port, path, script, args.duration)
        row["rss_after_mb"] = tree_rss_mb(proc.pid)
        row["status"] = "ok"
    except Exception as exc:  # report and carry on with the next combination
        row["status"] = f"error: {exc!r}"
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            row["status"] = row.get("status", "") + " (killed on stop)"
        row["shutdown_s"] = round(time.monotonic() - t1, 2)
        row["exit_code"] = rc
        log.seek(0)
        text = log.read()
        m = re.search(r'^\{"stopped".*\}$', text, re.M)
        if m:
            row["inproc_stop"] = json.loads(m.group(0))
        if row["status"] != "ok":
            row["log_tail"] = text[-2000:]
    return row


def embed_check(server: str) -> dict:
    """Start a server in a thread of *this* process, use it, stop it cleanly."""
    # a fixed port, as ncloud binds a configured one (cheroot only sets
    # SO_REUSEADDR for non-ephemeral ports)
    t0 = time.perf_counter()
    emb = EMBEDDERS[server](make_falcon_app(), free_port())
    emb.start()
    port = emb.port
    wait_ready(port, None, time.monotonic() + 10)
    started = time.perf_counter() - t0
    # leave a keep-alive connection open across the stop: the hard case
    keep = http.client.HTTPConnection(HOST, port, timeout=2)
    keep.request("GET", DETAIL_PATH)
    keep.getresponse().read()
    before = threading.active_count()
    t1 = time.perf_counter()
    ok = emb.stop()
    stop_s = time.perf_counter() - t1
    keep.close()
    time.sleep(0.2)
    refused = False
    try:
        http_call(port, "GET", DETAIL_PATH, timeout=1)
    except OSError:
        refused = True
    with socket.socket() as s:  # port reusable after stop?
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            rebind = True
        except OSError:
            rebind = False
    return {
        "server": server,
        "start_s": round(started, 3),
        "stop_s": round(stop_s, 3),
        "thread_joined": ok,
        "refuses_after_stop": refused,
        "port_rebindable": rebind,
        "threads_before_stop": before,
        "threads_after_stop": threading.active_count(),
    }


def fmt_table(rows) -> str:
    head = ("stack", "GET rps", "GET p50", "GET p99", "POST rps", "POST p50", "POST p99",
            "RSS MB", "errs", "embed")
    lines = [head]
    for r in rows:
        name = f"{r['framework']}+{r['server']}"
        if r.get("status") != "ok":
            lines.append((name, r.get("status", "?")[:60]) + ("",) * (len(head) - 2))
            continue
        g, p = r["get"], r["post"]
        errs = g["non2xx"] + g["socket_errors"] + p["non2xx"] + p["socket_errors"]
        lines.append((
            name,
            f"{g['rps']:.0f}", f"{g['p50_ms']:.1f}ms", f"{g['p99_ms']:.1f}ms",
            f"{p['rps']:.0f}", f"{p['p50_ms']:.2f}ms", f"{p['p99_ms']:.2f}ms",
            f"{r['rss_after_mb']:.1f}", str(errs), "yes" if r["embeddable"] else "no",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths, strict=True))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=8, help="wrk seconds per route (8)")
    ap.add_argument("--warmup", type=float, default=1, help="wrk warm-up seconds (1)")
    ap.add_argument("--connections", type=int, default=20, help="wrk -c (20)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t (2)")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    ap.add_argument("--only", help="comma list of framework+server to run, e.g. falcon+cheroot")
    ap.add_argument("--no-references", action="store_true", help="skip gunicorn references")
    ap.add_argument("--no-embed-check", action="store_true", help="skip in-process embed check")
    ap.add_argument("--budget", type=float, default=290, help="overall time budget, s (290)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve:
        framework, server = args.serve.split("+", 1)
        return serve(framework, server, args.port)

    if not shutil.which(args.wrk):
        ap.error("wrk not found (apt-get install wrk)")
    start = time.monotonic()
    combos = EMBEDDABLE + ([] if args.no_references else REFERENCES)
    if args.only:
        wanted = set(args.only.split(","))
        combos = [c for c in combos if f"{c[0]}+{c[1]}" in wanted]
    per_run = 2 * (args.duration + args.warmup) + 6
    print(f"# {len(combos)} stacks, wrk -t{args.wrk_threads} -c{args.connections} "
          f"-d{args.duration:g}s --latency, ~{per_run * len(combos):.0f}s, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus", flush=True)

    rows = []
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(CREATE_BODY)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n')
        post_script = f.name
    try:
        for framework, server in combos:
            if time.monotonic() - start + per_run > args.budget:
                rows.append({"framework": framework, "server": server,
                             "embeddable": server in EMBEDDERS, "status": "skipped: budget"})
                continue
            row = bench_one(args, framework, server, post_script)
            rows.append(row)
            if row["status"] == "ok":
                print(f"  {framework}+{server}: GET {row['get']['rps']:.0f} rps, "
                      f"POST {row['post']['rps']:.0f} rps, RSS {row['rss_after_mb']} MB, "
                      f"stop {row.get('inproc_stop', {}).get('stop_s', '-')}s", flush=True)
            else:
                print(f"  {framework}+{server}: {row['status']}\n{row.get('log_tail', '')}",
                      flush=True)
    finally:
        os.unlink(post_script)

    embeds = []
    if not args.no_embed_check:
        for server in EMBEDDERS:
            try:
                embeds.append(embed_check(server))
            except Exception as exc:
                embeds.append({"server": server, "error": repr(exc)})

    print()
    print(fmt_table(rows))
    if embeds:
        print()
        print("embed check (server in a thread of this process, keep-alive conn open on stop):")
        for e in embeds:
            print("  " + ", ".join(f"{k}={v}" for k, v in e.items()))
    from importlib.metadata import version

    result = {
        "bench": "webstack",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "wrk": {"threads": args.wrk_threads, "connections": args.connections,
                "duration_s": args.duration, "warmup_s": args.warmup},
        "versions": {m: version(m) for m in
                     ("falcon", "flask", "waitress", "cheroot", "gunicorn", "jsonschema")},
        "get_body_bytes": len(json.dumps(list_detail()).encode()),
        "post_body_bytes": len(CREATE_BODY),
        "elapsed_s": round(time.monotonic() - start, 1),
        "results": rows,
        "embed_check": embeds,
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
