"""`ncloud flavor ...`: the sizes servers come in."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources.common import completer, find, key_values

app = group("Flavors: the sizes servers come in.")

complete_flavor = completer("compute", "/flavors", "flavors")
Flavor = Annotated[str, typer.Argument(help="The flavor's name or ID.", show_default=False,
                                       autocompletion=complete_flavor)]
COLUMNS = ("ID", "Name", "RAM", "Disk", "Ephemeral", "VCPUs", "Is Public")


def flavor_find(session, name_or_id: str) -> dict:
    return find(session, "compute", "flavors", name_or_id, list_path="/flavors/detail?is_public=None")


def display(flavor: dict) -> dict:
    shown = {key: value for key, value in flavor.items() if key != "links"}
    shown["properties"] = shown.pop("extra_specs", {}) or {}
    return dict(sorted(shown.items()))


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Private flavors too (admin).")] = False,
    long: Annotated[bool, typer.Option("--long", help="More columns.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """List flavors."""
    query = "?is_public=None" if all_ else ""
    flavors = connect().get("compute", f"/flavors/detail{query}")["flavors"]
    rows = [{"ID": f["id"], "Name": f["name"], "RAM": f["ram"], "Disk": f["disk"],
             "Ephemeral": f.get("OS-FLV-EXT-DATA:ephemeral", 0), "VCPUs": f["vcpus"],
             "Is Public": f.get("os-flavor-access:is_public", True), "Swap": f.get("swap") or 0,
             "Description": f.get("description"), "Properties": f.get("extra_specs") or {}} for f in flavors]
    print_list(rows, (*COLUMNS, "Swap", "Description", "Properties") if long else COLUMNS, fmt, columns)


@app.command()
def show(flavor: Flavor, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a flavor."""
    print_one(display(flavor_find(connect(), flavor)), fmt, columns)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The new flavor's name.")],
    ram: Annotated[int, typer.Option("--ram", min=1, help="Memory (MiB).")] = 256,
    vcpus: Annotated[int, typer.Option("--vcpus", min=1, help="Virtual CPUs.")] = 1,
    disk: Annotated[int, typer.Option("--disk", min=0, help="Root disk (GiB).")] = 0,
    ephemeral: Annotated[int, typer.Option("--ephemeral", min=0, help="Ephemeral disk (GiB).")] = 0,
    swap: Annotated[int, typer.Option("--swap", min=0, help="Swap disk (MiB).")] = 0,
    flavor_id: Annotated[str | None, typer.Option("--id", help="Its ID (default: generated).")] = None,
    private: Annotated[bool, typer.Option("--private/--public", help="Visible to chosen projects only.")] = False,
    description: Annotated[str | None, typer.Option("--description")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="Extra spec KEY=VALUE.")] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a flavor (admin)."""
    session = connect()
    body = {"name": name, "ram": ram, "vcpus": vcpus, "disk": disk, "OS-FLV-EXT-DATA:ephemeral": ephemeral,
            "swap": swap, "os-flavor-access:is_public": not private}
    if flavor_id:
        body["id"] = flavor_id
    if description is not None:
        body["description"] = description
    flavor = session.request("POST", "compute", "/flavors", json={"flavor": body}).json()["flavor"]
    if properties:
        flavor["extra_specs"] = session.request(
            "POST", "compute", f"/flavors/{flavor['id']}/os-extra_specs",
            json={"extra_specs": key_values(properties, "--property")}).json()["extra_specs"]
    print_one(display(flavor), fmt, columns)


@app.command("set")
def set_(
    flavor: Flavor,
    properties: Annotated[list[str] | None, typer.Option("--property", help="Extra spec KEY=VALUE.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
) -> None:
    """Change a flavor's extra specs or description (admin)."""
    session = connect()
    found = flavor_find(session, flavor)
    if properties:
        session.request("POST", "compute", f"/flavors/{found['id']}/os-extra_specs",
                        json={"extra_specs": key_values(properties, "--property")})
    if description is not None:
        session.request("PUT", "compute", f"/flavors/{found['id']}", json={"flavor": {"description": description}})


@app.command()
def unset(flavor: Flavor, properties: Annotated[list[str], typer.Option("--property", help="Extra spec KEY.")]) -> None:
    """Remove extra specs of a flavor (admin)."""
    session = connect()
    found = flavor_find(session, flavor)
    for key in properties:
        session.request("DELETE", "compute", f"/flavors/{found['id']}/os-extra_specs/{key}")


@app.command()
def delete(flavors: Annotated[list[str], typer.Argument(help="Flavors (names or IDs).", show_default=False)]) -> None:
    """Delete flavors (admin)."""
    session = connect()
    for flavor in flavors:
        session.request("DELETE", "compute", f"/flavors/{flavor_find(session, flavor)['id']}")
