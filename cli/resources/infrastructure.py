"""Where servers run (mostly for admins): `hypervisor`, `compute service`, `aggregate` and
`availability zone`."""

from __future__ import annotations

from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.cloud.errors import NotFound
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources.common import find, key_values, without_links

hypervisor_app = group("Hypervisors: the compute hosts' capacity and use (admin).")
compute_app = group("The Compute service's daemons.")
service_app = group("Compute services: list, enable, disable, force down, delete (admin).")
compute_app.add_typer(service_app, name="service")
aggregate_app = group("Host aggregates (admin).")
aggregate_add_app = group("Put a host into an aggregate.")
aggregate_remove_app = group("Take a host out of an aggregate.")
aggregate_app.add_typer(aggregate_add_app, name="add")
aggregate_app.add_typer(aggregate_remove_app, name="remove")
availability_app = group("Availability zones.")
zone_app = group("Availability zones.")
availability_app.add_typer(zone_app, name="zone")

Name = Annotated[str, typer.Argument(help="Name or ID.", show_default=False)]


# -- hypervisor -----------------------------------------------------------------------------

@hypervisor_app.command("list")
def hypervisor_list(long: Annotated[bool, typer.Option("--long", help="More columns.")] = False,
                    fmt: Format = "table", columns: Columns = None) -> None:
    """List hypervisors."""
    found = connect().get("compute", "/os-hypervisors/detail")["hypervisors"]
    rows = [{"ID": h["id"], "Hypervisor Hostname": h["hypervisor_hostname"], "Hypervisor Type": h.get(
        "hypervisor_type"), "Host IP": h.get("host_ip"), "State": h.get("state"), "vCPUs Used": h.get("vcpus_used"),
        "vCPUs": h.get("vcpus"), "Memory MB Used": h.get("memory_mb_used"), "Memory MB": h.get("memory_mb")}
        for h in found]
    cols = ("ID", "Hypervisor Hostname", "Hypervisor Type", "Host IP", "State")
    print_list(rows, (*cols, "vCPUs Used", "vCPUs", "Memory MB Used", "Memory MB") if long else cols, fmt, columns)


@hypervisor_app.command("show")
def hypervisor_show(hypervisor: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a hypervisor (by hostname or ID)."""
    session = connect()
    found = session.get("compute", "/os-hypervisors/detail")["hypervisors"]
    match = [h for h in found if hypervisor in (str(h["id"]), h["hypervisor_hostname"])]
    if not match:
        raise NotFound(404, f"No hypervisor with a name or ID of '{hypervisor}' exists.")
    shown = without_links(match[0])
    shown.pop("servers", None)
    if isinstance(shown.get("service"), dict):
        shown["service"] = shown["service"].get("host")
    print_one(shown, fmt, columns)


# -- compute service ------------------------------------------------------------------------

@service_app.command("list")
def service_list(
    host: Annotated[str | None, typer.Option("--host")] = None,
    service: Annotated[str | None, typer.Option("--service", help="A binary, e.g. ncloud-compute.")] = None,
    long: Annotated[bool, typer.Option("--long", help="With the disabled reason.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """List the Compute service's daemons and whether they are up."""
    params = {k: v for k, v in (("host", host), ("binary", service)) if v}
    found = connect().get("compute", "/os-services", params=params)["services"]
    rows = [{"ID": s["id"], "Binary": s["binary"], "Host": s["host"], "Zone": s.get("zone"), "Status": s["status"],
             "State": s["state"], "Updated At": s.get("updated_at"), "Disabled Reason": s.get("disabled_reason"),
             "Forced Down": s.get("forced_down")} for s in found]
    cols = ("ID", "Binary", "Host", "Zone", "Status", "State", "Updated At")
    print_list(rows, (*cols, "Disabled Reason", "Forced Down") if long else cols, fmt, columns)


@service_app.command("set")
def service_set(
    host: Annotated[str, typer.Argument(help="The host.")],
    service: Annotated[str, typer.Argument(help="The binary, e.g. ncloud-compute.")],
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Schedule to it, or not.")] = None,
    reason: Annotated[str | None, typer.Option("--disable-reason")] = None,
    down: Annotated[bool | None, typer.Option("--down/--up", help="Force it down (fenced) or lift that.")] = None,
) -> None:
    """Enable, disable or force down a compute service (admin)."""
    session = connect()
    found = session.get("compute", "/os-services", params={"host": host, "binary": service})["services"]
    if not found:
        raise NotFound(404, f"No service {service} on host {host}.")
    body = {}
    if enable is not None:
        body["status"] = "enabled" if enable else "disabled"
    if reason:
        body["disabled_reason"] = reason
    if down is not None:
        body["forced_down"] = down
    if not body:
        raise typer.BadParameter("give --enable, --disable, --down or --up")
    session.request("PUT", "compute", f"/os-services/{found[0]['id']}", json=body)


@service_app.command("delete")
def service_delete(services: Annotated[list[str], typer.Argument(help="Service IDs.", show_default=False)]) -> None:
    """Delete compute services (admin; a compute's goes with its hypervisor)."""
    session = connect()
    for service in services:
        session.request("DELETE", "compute", f"/os-services/{service}")


# -- aggregate ------------------------------------------------------------------------------

def aggregate_find(session, name_or_id: str) -> dict:
    return find(session, "compute", "os-aggregates", name_or_id, key="aggregate", what="aggregate")


def _aggregate(aggregate: dict) -> dict:
    shown = without_links(aggregate)
    metadata = shown.pop("metadata", {}) or {}
    shown["properties"] = {k: v for k, v in metadata.items() if k != "availability_zone"}  # shown on its own
    return shown


@aggregate_app.command("list")
def aggregate_list(fmt: Format = "table", columns: Columns = None) -> None:
    """List host aggregates."""
    found = connect().get("compute", "/os-aggregates")["aggregates"]
    rows = [{"ID": a["id"], "Name": a["name"], "Availability Zone": a.get("availability_zone"),
             "Hosts": a.get("hosts") or [], "Properties": a.get("metadata") or {}} for a in found]
    print_list(rows, ("ID", "Name", "Availability Zone", "Hosts", "Properties"), fmt, columns)


@aggregate_app.command("show")
def aggregate_show(aggregate: Name, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a host aggregate."""
    print_one(_aggregate(aggregate_find(connect(), aggregate)), fmt, columns)


@aggregate_app.command("create")
def aggregate_create(
    name: Annotated[str, typer.Argument(help="The new aggregate's name.")],
    zone: Annotated[str | None, typer.Option("--zone", help="Expose it as this availability zone.")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeat).")] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a host aggregate."""
    session = connect()
    body = {"name": name, **({"availability_zone": zone} if zone else {})}
    created = session.request("POST", "compute", "/os-aggregates", json={"aggregate": body}).json()["aggregate"]
    if properties:
        created = session.request("POST", "compute", f"/os-aggregates/{created['id']}/action", json={
            "set_metadata": {"metadata": key_values(properties, "--property")}}).json()["aggregate"]
    print_one(_aggregate(created), fmt, columns)


@aggregate_app.command("set")
def aggregate_set(
    aggregate: Name,
    name: Annotated[str | None, typer.Option("--name")] = None,
    zone: Annotated[str | None, typer.Option("--zone")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeat).")] = None,
) -> None:
    """Change a host aggregate."""
    session = connect()
    found = aggregate_find(session, aggregate)
    changes = {k: v for k, v in (("name", name), ("availability_zone", zone)) if v is not None}
    if changes:
        session.request("PUT", "compute", f"/os-aggregates/{found['id']}", json={"aggregate": changes})
    if properties:
        session.request("POST", "compute", f"/os-aggregates/{found['id']}/action",
                        json={"set_metadata": {"metadata": key_values(properties, "--property")}})


def _hosts(action: str, aggregate: str, host: str, fmt: str, columns) -> None:
    session = connect()
    found = aggregate_find(session, aggregate)
    changed = session.request("POST", "compute", f"/os-aggregates/{found['id']}/action",
                              json={action: {"host": host}}).json()["aggregate"]
    print_one(_aggregate(changed), fmt, columns)


@aggregate_add_app.command("host")
def aggregate_add_host(aggregate: Name, host: Annotated[str, typer.Argument(help="The host.")],
                       fmt: Format = "table", columns: Columns = None) -> None:
    """Put a host into an aggregate."""
    _hosts("add_host", aggregate, host, fmt, columns)


@aggregate_remove_app.command("host")
def aggregate_remove_host(aggregate: Name, host: Annotated[str, typer.Argument(help="The host.")],
                          fmt: Format = "table", columns: Columns = None) -> None:
    """Take a host out of an aggregate."""
    _hosts("remove_host", aggregate, host, fmt, columns)


@aggregate_app.command("delete")
def aggregate_delete(aggregates: Annotated[list[str], typer.Argument(help="Aggregates.", show_default=False)]) -> None:
    """Delete host aggregates (they must hold no hosts)."""
    session = connect()
    for aggregate in aggregates:
        session.request("DELETE", "compute", f"/os-aggregates/{aggregate_find(session, aggregate)['id']}")


# -- availability zone ----------------------------------------------------------------------

@zone_app.command("list")
def zone_list(long: Annotated[bool, typer.Option("--long", help="With hosts and services (admin).")] = False,
              fmt: Format = "table", columns: Columns = None) -> None:
    """List availability zones."""
    session = connect()
    zones = session.get("compute", "/os-availability-zone/detail" if long else "/os-availability-zone")[
        "availabilityZoneInfo"]
    rows = []
    for zone in zones:
        state = "available" if (zone.get("zoneState") or {}).get("available") else "not available"
        if not long:
            rows.append({"Zone Name": zone["zoneName"], "Zone Status": state})
            continue
        for host, services in (zone.get("hosts") or {"": {}}).items():
            for service, status in (services or {"": {}}).items():
                rows.append({"Zone Name": zone["zoneName"], "Zone Status": state, "Host Name": host,
                             "Service Name": service, "Service Status": (
                                 f"{'enabled' if status.get('active') else 'disabled'} "
                                 f"{':-)' if status.get('available') else 'XXX'}") if status else ""})
    cols = ("Zone Name", "Zone Status")
    print_list(rows, (*cols, "Host Name", "Service Name", "Service Status") if long else cols, fmt, columns)
