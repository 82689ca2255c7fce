"""`ncloud deploy` on a fresh three-node cluster: wall times of the deploy, of the idempotent
re-run and of add-compute, with each run's slowest tasks (from ansible-runner's events).

    .venv/bin/python bench/deploy.py

The nodes are those of the deployment tests (tests/nodes.py: network and mount namespaces with
their own sshd; node1 controller, database and bus; node2 and node3 computes; node4 added).
The first run of a machine also builds the dependency wheels once (not counted: it is done
before the clock starts). Needs root.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ncloud.cli.deploy import wheelhouse  # noqa: E402
from tests.deploy.site import Site  # noqa: E402


def slowest(artifacts: Path, count: int = 5) -> list[tuple[float, str]]:
    events = sorted((json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")),
                    key=lambda event: event.get("counter", 0))
    starts = [(dt.datetime.fromisoformat(e["created"]), e["event_data"].get("task", "")) for e in events
              if e["event"] in ("playbook_on_task_start", "playbook_on_handler_task_start")]
    starts.append((dt.datetime.fromisoformat(events[-1]["created"]), ""))
    spans = [((b - a).total_seconds(), name) for (a, name), (b, _) in zip(starts, starts[1:], strict=False)]
    return sorted(spans, reverse=True)[:count]


def timed(site: Site, *args: str) -> float:
    done = site.ncloud(*args)
    if done.returncode != 0:
        raise SystemExit(f"ncloud {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    runs = sorted((site.deploy_dir / "artifacts").iterdir())
    print(f"  slowest tasks: {', '.join(f'{name} {seconds:.1f} s' for seconds, name in slowest(runs[-1]))}")
    return done.seconds


def main() -> None:
    wheelhouse.build()  # the dependency wheels, once per machine: not part of a deploy's time
    work = Path("/var/tmp/ncloud-bench") / f"deploy-{os.getpid()}"
    figures = {}
    with contextlib.ExitStack() as stack:
        site = Site.open(stack, work, computes=2)
        site.ncloud("genpwd")
        started = time.monotonic()
        figures["bootstrap"] = timed(site, "bootstrap")
        figures["deploy (fresh, 3 nodes)"] = timed(site, "deploy")
        figures["bootstrap + deploy"] = time.monotonic() - started
        figures["deploy again (idempotent)"] = timed(site, "deploy")
        site.add_node(4, "computes")
        figures["add-compute node4"] = timed(site, "add-compute", "node4")
    print("\nwall times:")
    for name, seconds in figures.items():
        print(f"  {name:28} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
