"""Top-level commands imported only when they run, so that `ncloud server list` pays for the server
commands alone and `ncloud --help` for no command module at all.

Each entry names the module whose typer.Typer holds the command, the help panel it is listed
under and its one-line help. A group entry (`server`) is that whole app; a command entry
(`deploy`) is one command of it. tests/cli/test_lazy.py loads every entry and checks its help
against the module's, so the listing cannot drift from the commands.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Entry:
    module: str
    panel: str
    help: str
    group: bool = True  # the whole app is the command (`server`), else one command of it (`deploy`)
    attr: str = "app"  # the module's typer.Typer holding it


class LazyGroup(TyperGroup):
    """A TyperGroup whose ENTRIES are loaded on first use. The help lists them by panel from the
    registry alone (click's plain formatter: rich's help would import more than the whole of
    `ncloud server list`)."""

    entries: dict[str, Entry] = {}

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.entries if name not in self.commands)]

    def get_command(self, ctx, name: str):
        if name in self.commands or name not in self.entries:
            return super().get_command(ctx, name)
        return load(name, self.entries[name])

    def format_commands(self, ctx, formatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            entry = self.entries.get(name)
            help_text = entry.help if entry else (self.commands[name].help or "")
            panels.setdefault(entry.panel if entry else "Commands", []).append((name, help_text))
        limit = formatter.width - 6 - max(len(name) for rows in panels.values() for name, _ in rows)
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl([(name, TyperCommand(name=name, help=text).get_short_help_str(limit))
                                    for name, text in rows])


class OnDemandGroup(TyperGroup):
    """A command group whose subcommands typer converts when one runs, not all at once: turning a
    function's signature into click parameters costs about a millisecond per command, and
    `ncloud server list` needs one of the thirty server commands."""

    pending: dict

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.pending if name not in self.commands)]

    def get_command(self, ctx, name: str):
        if name not in self.commands and name in self.pending:
            info = self.pending[name]
            if isinstance(info, typer.models.TyperInfo):
                self.commands[name] = typer.main.get_group_from_info(
                    info, pretty_exceptions_short=True, suggest_commands=True, rich_markup_mode=self.rich_markup_mode)
            else:
                self.commands[name] = typer.main.get_command_from_info(
                    info, pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode)
        return super().get_command(ctx, name)


def on_demand(app: typer.Typer) -> OnDemandGroup:
    """The click group of `app`, its subcommands converted on demand."""
    commands, groups = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = [], []
    try:
        group = typer.main.get_group(app)
    finally:
        app.registered_commands, app.registered_groups = commands, groups
    group.__class__ = OnDemandGroup
    group.pending = {info.name or typer.main.get_command_name(info.callback.__name__): info for info in commands}
    group.pending.update({info.name: info for info in groups})
    return group


def load(name: str, entry: Entry):
    """The click command of an entry (importing its module)."""
    module = importlib.import_module(entry.module)
    app = getattr(module, entry.attr)
    if entry.group:
        command = on_demand(app)
    else:
        command = typer.main.get_command(app)
        command = command.get_command(None, name) if isinstance(command, TyperGroup) else command
    command.name = name
    command.rich_help_panel = entry.panel
    command.short_help = entry.help
    return command
