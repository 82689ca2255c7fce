"""Options and command groups shared by many commands."""

from __future__ import annotations

from pathlib import Path

import typer

ConfigFile = typer.Option(None, "--config-file", "-c", help="Configuration file (default /etc/ncloud/ncloud.conf).",
                          dir_okay=False)


def load_config(path: Path | None):
    """The configuration, or a clear error and exit code 2."""
    from ncloud.daemons.core import config

    try:
        return config.load(path)
    except config.ConfigError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None


def group(help_text: str) -> typer.Typer:
    """A command group (`ncloud server ...`): a group even with one command (typer would make a
    lone command the group itself, and `ncloud service ping` would lose its `ping`)."""
    app = typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)  # plain help: see cli/lazy.py
    app.callback()(lambda: None)
    return app
