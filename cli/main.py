"""The `ncloud` command: operator and end-user commands in one tool.

Command modules are imported only when their command runs, so `ncloud --help` stays fast.
"""

from __future__ import annotations

import typer

from ncloud.cli import config_cmd, db_cmd, identity_cmd, image_cmd, service_cmd, up

app = typer.Typer(
    name="ncloud",
    help="ncloud: a lean compute cloud compatible with OpenStack Compute.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(identity_cmd.app, name="identity")
app.add_typer(image_cmd.app, name="image")
app.add_typer(service_cmd.app, name="service")
app.command("up", help=up.__doc__)(up.up)


def main() -> None:
    app()
