"""A playbook run as the operator sees it.

On a terminal: a live view with a progress bar per play (its tasks as they start, its elapsed
time), the task running now and every host's counts and latest result. Elsewhere (cron, AWX logs,
a pipe): one line per play, per change and per failure. Both end with a table of ok/changed/failed
per host and every failure's message in full, and name the artifacts folder.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

COUNTS = ("ok", "changed", "failed", "unreachable", "skipped", "rescued")


@dataclass
class HostState:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    last: str = ""


@dataclass
class Failure:
    host: str
    play: str
    task: str
    message: str
    unreachable: bool = False


def failure_message(result: dict) -> str:
    """What a failed task said, in full: its msg, and the command's output when it ran one."""
    parts = []
    if result.get("msg"):
        parts.append(str(result["msg"]).strip())
    for key in ("stderr", "stdout"):
        value = str(result.get(key) or "").strip()
        if value and value not in parts:
            parts.append(f"{key}: {value}")
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            label = item.get("_ansible_item_label", item.get("item"))
            parts.append(f"item {label}: {failure_message(item)}")
    return "\n".join(parts) or "(no message)"


class RunDisplay:
    def __init__(self, title: str, console: Console | None = None):
        self.title = title
        self.console = console or Console(highlight=False)
        self.live_mode = self.console.is_terminal
        self.hosts: dict[str, HostState] = {}
        self.failures: list[Failure] = []
        self.play = ""
        self.task = ""
        self.started = time.monotonic()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} tasks"),
                                 TimeElapsedColumn(), console=self.console)
        self._play_id = None
        self._live: Live | None = None

    # -- context ---------------------------------------------------------------------------------
    def __enter__(self) -> RunDisplay:
        self.console.print(f"[bold]{escape(self.title)}[/bold]")
        if self.live_mode:
            self._live = Live(get_renderable=self._render, console=self.console, refresh_per_second=8,
                              transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self.console.print(self.progress)

    # -- events ----------------------------------------------------------------------------------
    def __call__(self, event: dict) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._start_play(data.get("play") or data.get("name") or "")
        elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self.task = data.get("task") or ""
            if self._play_id is not None:
                self.progress.advance(self._play_id)
        elif kind.startswith("runner_on_") and data.get("host"):
            self._result(kind, data)

    def _start_play(self, name: str) -> None:
        if self._play_id is not None:
            self.progress.update(self._play_id, total=self.progress.tasks[self._play_id].completed)
            self.progress.stop_task(self._play_id)
        self.play = name
        self._play_id = self.progress.add_task(f"PLAY {escape(name)}", total=None)
        if not self.live_mode:
            self.console.print(f"PLAY {escape(name)}")

    def _result(self, kind: str, data: dict) -> None:
        host = data["host"]
        state = self.hosts.setdefault(host, HostState())
        result = data.get("res") or {}
        task = data.get("task") or self.task  # hosts run different tasks at once (strategy free)
        if kind == "runner_on_ok":
            outcome = "changed" if result.get("changed") else "ok"
        elif kind == "runner_on_failed":
            outcome = "ignored" if data.get("ignore_errors") else "failed"
        elif kind == "runner_on_unreachable":
            outcome = "unreachable"
        elif kind == "runner_on_skipped":
            outcome = "skipped"
        else:
            return  # runner_on_start, per-item events: the task's own result follows
        state.last = f"{outcome}: {task}"
        if outcome in ("failed", "unreachable"):
            self.failures.append(Failure(host, self.play, task, failure_message(result),
                                         unreachable=outcome == "unreachable"))
        if not self.live_mode and outcome in ("changed", "failed", "unreachable"):
            style = {"changed": "yellow", "failed": "red", "unreachable": "red"}[outcome]
            self.console.print(f"  [{style}]{outcome}[/{style}] {escape(host)}: {escape(task)}")

    # -- rendering -------------------------------------------------------------------------------
    def _render(self) -> Group:
        hosts = Table.grid(padding=(0, 2))
        for name, state in sorted(self.hosts.items()):
            hosts.add_row(Text(name, style="bold"), Text(escape(state.last)[:100]))
        task = Text(f"  TASK {self.task}", style="cyan") if self.task else Text("")
        return Group(self.progress, task, hosts)

    def summary(self, stats: dict, artifacts, failed: bool = False) -> None:
        """The table of counts per host, every failure in full, and where the artifacts are. A
        run that failed before any host did (a syntax error, an undefined variable in a play)
        shows the end of Ansible's own output instead."""
        table = Table(title="Result per host", title_justify="left")
        table.add_column("host")
        for what in COUNTS:
            table.add_column(what, justify="right")
        names = sorted({host for counts in stats.values() if isinstance(counts, dict) for host in counts})
        keys = {"ok": "ok", "changed": "changed", "failed": "failures", "unreachable": "dark", "skipped": "skipped",
                "rescued": "rescued"}
        for host in names:
            row = [str((stats.get(keys[what]) or {}).get(host, 0)) for what in COUNTS]
            style = "red" if row[2] != "0" or row[3] != "0" else ("yellow" if row[1] != "0" else "green")
            table.add_row(host, *row, style=style)
        if names:
            self.console.print(table)
        for failure in self.failures:
            kind = "UNREACHABLE" if failure.unreachable else "FAILED"
            self.console.print(f"[red bold]{kind}[/red bold] {escape(failure.host)} — "
                               f"{escape(failure.play)} / {escape(failure.task)}")
            self.console.print(Text(failure.message, style="red"), soft_wrap=True)
        if failed and not self.failures:
            self.console.print(Text(_tail(artifacts / "stdout"), style="red"), soft_wrap=True)
        elapsed = time.monotonic() - self.started
        self.console.print(f"{self.title}: {elapsed:.1f} s; artifacts in {artifacts}")


def _tail(path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", text).strip().splitlines()[-lines:])
