"""`ncloud server group ...`: servers placed together (affinity) or apart (anti-affinity)."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources.common import find

app = group("Server groups: servers placed together (affinity) or apart (anti-affinity).")

Name = Annotated[str, typer.Argument(help="Name or ID.", show_default=False)]
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def group_find(session, name_or_id: str) -> dict:
    return find(session, "compute", "os-server-groups", name_or_id, key="server_group", what="server group")


def display(server_group: dict) -> dict:
    shown = dict(sorted(server_group.items()))
    shown["members"] = shown.get("members") or []
    return shown


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new group's name.")],
    policy: Annotated[str, typer.Option("--policy", help=f"One of {', '.join(POLICIES)}.")] = "affinity",
    max_server_per_host: Annotated[int | None, typer.Option(
        "--rule", help="max_server_per_host for anti-affinity.", min=1)] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a server group."""
    if policy not in POLICIES:
        raise typer.BadParameter(f"use one of {', '.join(POLICIES)}", param_hint="--policy")
    body = {"name": name, "policy": policy}
    if max_server_per_host is not None:
        body["rules"] = {"max_server_per_host": max_server_per_host}
    created = connect().request("POST", "compute", "/os-server-groups",
                                json={"server_group": body}).json()["server_group"]
    print_one(display(created), fmt, columns)


@app.command("list")
def list_(all_projects: Annotated[bool, typer.Option("--all-projects", help="Every project's (admin).")] = False,
          fmt: Format = "table", columns: Columns = None) -> None:
    """List server groups."""
    params = {"all_projects": "true"} if all_projects else {}
    found = connect().get("compute", "/os-server-groups", params=params)["server_groups"]
    rows = [{"ID": g["id"], "Name": g["name"], "Policy": g.get("policy"), "Members": g.get("members") or []}
            for g in found]
    print_list(rows, ("ID", "Name", "Policy", "Members"), fmt, columns)


@app.command("show")
def show(server_group: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a server group."""
    print_one(display(group_find(connect(), server_group)), fmt, columns)


@app.command("delete")
def delete(groups: Annotated[list[str], typer.Argument(help="Server groups.", show_default=False)]) -> None:
    """Delete server groups."""
    session = connect()
    for name in groups:
        session.request("DELETE", "compute", f"/os-server-groups/{group_find(session, name)['id']}")
