"""`ncloud quota ...` and `ncloud limits show`: what a project may use, and what it uses."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one

app = group("Quotas: what a project may use.")
limits_app = group("Limits: your project's quotas beside its usage.")

# option name -> the Compute API's quota key
QUOTAS = {"instances": "instances", "cores": "cores", "ram": "ram", "key_pairs": "key_pairs",
          "metadata_items": "metadata_items", "server_groups": "server_groups",
          "server_group_members": "server_group_members"}


def _project_id(session, project: str | None) -> str:
    if not project:
        return session.project_id
    from ncloud.cli.resources.identity import project_find

    return project_find(session, project)["id"]


@app.command()
def show(
    project: Annotated[str | None, typer.Argument(help="Project name or ID (default: yours).")] = None,
    default: Annotated[bool, typer.Option("--default", help="The defaults for new projects.")] = False,
    usage: Annotated[bool, typer.Option("--usage", help="With what is in use and reserved.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Show a project's quotas."""
    session = connect()
    project_id = _project_id(session, project)
    if usage:
        quotas = session.get("compute", f"/os-quota-sets/{project_id}/detail")["quota_set"]
        rows = [{"Resource": key, "In Use": value["in_use"], "Reserved": value.get("reserved", 0),
                 "Limit": value["limit"]} for key, value in sorted(quotas.items()) if isinstance(value, dict)]
        print_list(rows, ("Resource", "In Use", "Reserved", "Limit"), fmt, columns)
        return
    path = f"/os-quota-sets/{project_id}" + ("/defaults" if default else "")
    quotas = session.get("compute", path)["quota_set"]
    print_one(dict(sorted(quotas.items())), fmt, columns)


@app.command("set")
def set_(
    project: Annotated[str, typer.Argument(help="Project name or ID.")],
    instances: Annotated[int | None, typer.Option("--instances", min=-1)] = None,
    cores: Annotated[int | None, typer.Option("--cores", min=-1)] = None,
    ram: Annotated[int | None, typer.Option("--ram", min=-1, help="MiB.")] = None,
    key_pairs: Annotated[int | None, typer.Option("--key-pairs", min=-1)] = None,
    metadata_items: Annotated[int | None, typer.Option("--properties", min=-1, help="Metadata items.")] = None,
    server_groups: Annotated[int | None, typer.Option("--server-groups", min=-1)] = None,
    server_group_members: Annotated[int | None, typer.Option("--server-group-members", min=-1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Even below what is in use.")] = False,
) -> None:
    """Set a project's quotas (admin; -1 means unlimited)."""
    given = {"instances": instances, "cores": cores, "ram": ram, "key_pairs": key_pairs,
             "metadata_items": metadata_items, "server_groups": server_groups,
             "server_group_members": server_group_members}
    changes = {QUOTAS[key]: value for key, value in given.items() if value is not None}
    if not changes:
        raise typer.BadParameter("give at least one quota to set (--instances, --cores, --ram, ...)")
    if force:
        changes["force"] = True
    session = connect()
    session.request("PUT", "compute", f"/os-quota-sets/{_project_id(session, project)}", json={"quota_set": changes})


@limits_app.command("show")
def limits_show(
    project: Annotated[str | None, typer.Option("--project", help="Another project's (admin).")] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Show your project's limits and usage."""
    session = connect()
    params = {"tenant_id": _project_id(session, project)} if project else {}
    limits = session.get("compute", "/limits", params=params)["limits"]["absolute"]
    rows = [{"Name": key, "Value": value} for key, value in sorted(limits.items())]
    print_list(rows, ("Name", "Value"), fmt, columns)
