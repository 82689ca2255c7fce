"""How fast the `ncloud` command starts: `ncloud --help` and `ncloud server list` against a running
all-in-one, beside the stock `openstack server list` when it is installed.

    .venv/bin/python bench/cli_start.py [--runs 10]

It starts `ncloud up --driver fake` on a free port (its own state folder, a throw-away token
cache), boots two servers so the list has rows, then times each command `--runs` times (wall
clock, the command as a user types it: a fresh process each time; the token cache warm after
the first `ncloud` run, as it is for a user; `server list` piped and on a pseudo-terminal, where
it draws a rich table), and prints min / median / max, the import time
Python reports for `ncloud server list` (`-X importtime`, the top modules), and one JSON line.

Before timing it compiles the package's byte code, as `pip install` does: an editable install
run with PYTHONDONTWRITEBYTECODE=1 (set on these machines) would otherwise compile every ncloud
module from source at each start, ~0.1 s no user pays.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(argv: list[str], env: dict, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-500:]}")
    return seconds


def timed_on_a_terminal(argv: list[str], env: dict, runs: int) -> list[float]:
    """The same, its output on a pseudo-terminal (rich tables are drawn there)."""
    import pty

    seconds = []
    for _ in range(runs):
        controller, terminal = pty.openpty()
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        while True:
            try:
                if not os.read(controller, 65536):
                    break
            except OSError:
                break
        process.wait()
        seconds.append(time.perf_counter() - started)
        os.close(controller)
    return seconds


def import_times(argv: list[str], env: dict, top: int = 8) -> list[tuple[str, float]]:
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
            if cumulative.isdigit() and not name.startswith(" "):
                rows.append((name, int(cumulative) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:top]


def compile_byte_code() -> None:
    """Write the .pyc files of the ncloud package (cli and daemons), as pip does when it installs."""
    import compileall
    import importlib.util

    for package in ("ncloud.cli", "ncloud.daemons"):
        for folder in importlib.util.find_spec(package).submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    compile_byte_code()
    from tests.cloud import free_port, wait_until

    work = Path(tempfile.mkdtemp(prefix="ncloud-cli-bench-"))
    port = free_port()
    with open(work / "up.log", "wb") as log:
        cloud = subprocess.Popen([str(BIN / "ncloud"), "up", "--state-dir", str(work / "state"), "--port", str(port),
                                  "--driver", "fake"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (work / "state" / "clouds.yaml").exists() or cloud.poll() is not None, 90, what="ncloud up")
        env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(work / "state" / "clouds.yaml"), OS_CLOUD="ncloud-demo",
                   XDG_CACHE_HOME=str(work / "cache"), HOME=str(work))
        ncloud = str(BIN / "ncloud")
        for name in ("bench-1", "bench-2"):
            subprocess.run([ncloud, "server", "create", "--image", "ncloud-demo", "--flavor", "m1.tiny", "--network",
                            "none", "--wait", name], env=env, check=True, capture_output=True)
        figures = {
            "ncloud --help": timed([ncloud, "--help"], env, args.runs),
            "ncloud server list": timed([ncloud, "server", "list"], env, args.runs),
            "ncloud server list (tty)": timed_on_a_terminal([ncloud, "server", "list"], env, args.runs),
        }
        openstack = shutil.which("openstack", path=str(BIN)) or shutil.which("openstack")
        if openstack:
            figures["openstack server list"] = timed([openstack, "server", "list"], env, args.runs)
        figures["python -c pass"] = timed([sys.executable, "-c", "pass"], env, args.runs)
        print(f"cold starts, {args.runs} runs each (wall seconds)")
        print(f"{'command':<24}{'min':>8}{'median':>8}{'max':>8}")
        for name, seconds in figures.items():
            print(f"{name:<24}{min(seconds):>8.3f}{statistics.median(seconds):>8.3f}{max(seconds):>8.3f}")
        print("\nimport time of `ncloud server list` (cumulative seconds, top modules)")
        imports = import_times([ncloud, "server", "list"], env)
        for name, seconds in imports:
            print(f"  {name:<44}{seconds:>8.3f}")
        print(json.dumps({"runs": args.runs, **{name: round(statistics.median(s), 3) for name, s in figures.items()},
                          "imports": {name: round(s, 3) for name, s in imports}}))
    finally:
        cloud.send_signal(signal.SIGINT)
        cloud.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
