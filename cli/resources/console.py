"""`ncloud console log show` and `ncloud console url show`: a server's serial output, and a URL
for its graphical or serial console through the console proxy."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_one
from ncloud.cli.resources.server import Server, console_log, console_url

app = group("A server's console: its log, a URL to reach it.")
log_app = group("A server's console output.")
url_app = group("A URL for a server's console.")
app.add_typer(log_app, name="log")
app.add_typer(url_app, name="url")


@log_app.command("show")
def log_show(server: Server,
             lines: Annotated[int | None, typer.Option("--lines", min=1, help="Only the last LINES.")] = None) -> None:
    """Print a server's console output (its serial log)."""
    typer.echo(console_log(server, lines), nl=False)


@url_app.command("show")
def url_show(
    server: Server,
    novnc: Annotated[bool, typer.Option("--novnc", help="A noVNC page (the default).")] = False,
    spice: Annotated[bool, typer.Option("--spice", help="A SPICE HTML5 page.")] = False,
    serial: Annotated[bool, typer.Option("--serial", help="A serial console websocket.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Show a URL for a server's console (single use, short-lived)."""
    if sum((novnc, spice, serial)) > 1:
        raise typer.BadParameter("give one of --novnc, --spice and --serial")
    protocol, kind = ("spice", "spice-html5") if spice else ("serial", "serial") if serial else ("vnc", "novnc")
    console = console_url(server, protocol, kind)
    print_one({"protocol": console.get("protocol"), "type": console.get("type"), "url": console.get("url")},
              fmt, columns)
