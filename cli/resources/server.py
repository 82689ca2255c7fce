"""`ncloud server ...`: create, list, show, change and act on servers, as `openstack server` does.

Every action that takes time has --wait: it follows the server until its task is done, shows
its status live, and exits 1 with the server's fault message when it ends in ERROR.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.cloud.errors import CloudError, NotFound
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources import server_group
from ncloud.cli.resources.common import completer, find, key_values, poll

app = group("Servers: create, list, show, change and act on them.")
image_app = group("A server's image (snapshot of its root disk).")
event_app = group("What was done to a server (its instance actions).")
app.add_typer(image_app, name="image")
app.add_typer(event_app, name="event")
app.add_typer(server_group.app, name="group")

Server = Annotated[str, typer.Argument(help="The server's name or ID.", show_default=False,
                                       autocompletion=completer("compute", "/servers", "servers"))]
_flavors = completer("compute", "/flavors", "flavors")
_images = completer("image", "/images?limit=200", "images")

Wait = Annotated[bool, typer.Option("--wait", help="Wait until it is done; exit 1 if the server ends in ERROR.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")]
LIST_COLUMNS = ("ID", "Name", "Status", "Networks", "Image", "Flavor")
LONG_COLUMNS = (*LIST_COLUMNS, "Task State", "Power State", "Availability Zone", "Host", "Properties")
POWER_STATES = {0: "NOSTATE", 1: "Running", 3: "Paused", 4: "Shutdown", 6: "Crashed", 7: "Suspended"}


def _image(help_text: str):
    return typer.Option("--image", autocompletion=_images, help=help_text)


def _flavor(help_text: str):
    return typer.Option("--flavor", autocompletion=_flavors, help=help_text)


def server_find(session, name_or_id: str) -> dict:
    return find(session, "compute", "servers", name_or_id, list_path="/servers/detail",
                query=f"?name=^{_regex_quote(name_or_id)}$")


def _regex_quote(name: str) -> str:
    import re
    from urllib.parse import quote

    return quote(re.escape(name), safe="")


def networks(addresses: dict | None) -> str:
    return "; ".join(f"{net}={', '.join(a['addr'] for a in items)}" for net, items in (addresses or {}).items())


def flavor_name(flavor: dict | None) -> str:
    flavor = flavor or {}
    return flavor.get("original_name") or flavor.get("name") or flavor.get("id", "")


def _image_names(session, servers: list[dict]) -> dict[str, str]:
    if not any(isinstance(s.get("image"), dict) for s in servers):
        return {}
    try:
        images = session.get("image", "/images?limit=1000")["images"]
    except CloudError:
        return {}
    return {image["id"]: image.get("name") or "" for image in images}


def image_label(server: dict, names: dict[str, str]) -> str:
    image = server.get("image")
    if not isinstance(image, dict):
        return "N/A (booted from volume)"
    return names.get(image["id"], image["id"])


def display(server: dict, names: dict[str, str] | None = None) -> dict:
    """A server's fields for `show`: the API's, links dropped, metadata as properties, the
    flavor, image and addresses readable; sorted as the `openstack` client sorts them."""
    shown = {key: value for key, value in server.items() if key not in ("links", "metadata")}
    shown["addresses"] = networks(server.get("addresses"))
    shown["flavor"] = flavor_name(server.get("flavor"))
    image = server.get("image")
    if isinstance(image, dict):
        name = (names or {}).get(image["id"])
        shown["image"] = f"{name} ({image['id']})" if name else image["id"]
    shown["properties"] = server.get("metadata") or {}
    if "OS-EXT-STS:power_state" in shown:
        shown["OS-EXT-STS:power_state"] = POWER_STATES.get(shown["OS-EXT-STS:power_state"],
                                                           shown["OS-EXT-STS:power_state"])
    if "fault" in shown and isinstance(shown["fault"], dict):
        shown["fault"] = shown["fault"].get("message", "")
    return dict(sorted(shown.items(), key=lambda item: item[0].lower()))


def _show(session, server: dict, fmt: str, columns) -> None:
    print_one(display(server, _image_names(session, [server])), fmt, columns)


def fault(server: dict) -> str:
    return (server.get("fault") or {}).get("message") or "no fault message recorded"


def wait_for(session, server_id: str, label: str, statuses: tuple[str, ...], timeout: float,
             pending: tuple[str, ...] = ()) -> dict:
    """Follow the server until its task is done in one of `statuses`; ERROR, or another settled
    status than `pending` ones, ends the wait with what went wrong and exit code 1."""

    def fetch():
        return session.get("compute", f"/servers/{server_id}")["server"]

    def settled(server):
        task = server.get("OS-EXT-STS:task_state")
        state = server["status"] + (f", {task}" if task else "")
        name = f"server {server.get('name') or server_id} ({server_id})"
        if server["status"] == "ERROR":
            raise CloudError(f"{name} went to ERROR: {fault(server)}")
        if not task and server["status"] not in (*statuses, *pending, *TRANSITIONAL):
            # The task ended but not where it should: the cloud refused it on the way (no valid
            # host, for instance) and left the server as it was.
            raise CloudError(f"{name} is {server['status']}, not {' or '.join(statuses)}: {label} failed "
                             f"({_last_action(session, server_id)}; `ncloud server event list {server_id}`)")
        return server["status"] in statuses and not task, state

    return poll(fetch, settled, label, timeout)


TRANSITIONAL = ("BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "REVERT_RESIZE", "MIGRATING", "REBUILD", "PASSWORD")


def _last_action(session, server_id: str) -> str:
    try:
        actions = session.get("compute", f"/servers/{server_id}/os-instance-actions")["instanceActions"]
    except CloudError:
        return "its actions cannot be read"
    if not actions:
        return "no action recorded"
    last = max(actions, key=lambda action: action.get("start_time") or "")
    return f"its last action, {last['action']}, ended {last.get('message') or 'without a message'}"


def wait_gone(session, server_id: str, label: str, timeout: float) -> None:
    def fetch():
        try:
            return session.get("compute", f"/servers/{server_id}")["server"]
        except NotFound:
            return None

    def gone(server):
        if server is None:
            return True, "deleted"
        if server["status"] == "ERROR":
            raise CloudError(f"server {server_id} went to ERROR while being deleted: {fault(server)}")
        task = server.get("OS-EXT-STS:task_state")
        return False, server["status"] + (f", {task}" if task else "")

    poll(fetch, gone, label, timeout)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The new server's name.")],
    image: Annotated[str, _image("Image (name or ID) to boot from.")],
    flavor: Annotated[str, _flavor("Flavor (name or ID).")],
    key_name: Annotated[str | None, typer.Option("--key-name", help="Key pair to inject.")] = None,
    user_data: Annotated[Path | None, typer.Option("--user-data", help="File of user data (cloud-init).",
                                                   exists=True, dir_okay=False)] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="Metadata KEY=VALUE (repeat).")] = None,
    availability_zone: Annotated[str | None, typer.Option("--availability-zone", help="Zone (ZONE[:HOST]).")] = None,
    network: Annotated[str, typer.Option("--network", "--nic", help="auto (a fixed IP) or none.")] = "auto",
    min_count: Annotated[int, typer.Option("--min", min=1, help="At least this many servers.")] = 1,
    max_count: Annotated[int, typer.Option("--max", min=1, help="At most this many servers.")] = 1,
    hints: Annotated[list[str] | None, typer.Option("--hint", help="Scheduler hint KEY=VALUE (repeat).")] = None,
    config_drive: Annotated[bool, typer.Option("--config-drive", help="Attach a config drive.")] = False,
    description: Annotated[str | None, typer.Option("--description")] = None,
    wait: Wait = False,
    timeout: Timeout = 600.0,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a server (with --wait: until it is ACTIVE)."""
    if network not in ("auto", "none"):
        raise typer.BadParameter("this cloud's networks are auto (a fixed IP) or none", param_hint="--network")
    if max_count < min_count:
        raise typer.BadParameter("--max must be at least --min", param_hint="--max")
    session = connect()
    from ncloud.cli.resources.flavor import flavor_find
    from ncloud.cli.resources.image import image_find

    body = {"name": name, "imageRef": image_find(session, image)["id"],
            "flavorRef": flavor_find(session, flavor)["id"], "networks": network,
            "min_count": min_count, "max_count": max_count}
    if key_name:
        body["key_name"] = key_name
    if user_data:
        body["user_data"] = base64.b64encode(user_data.read_bytes()).decode()
    if properties:
        body["metadata"] = key_values(properties, "--property")
    if availability_zone:
        body["availability_zone"] = availability_zone
    if config_drive:
        body["config_drive"] = True
    if description is not None:
        body["description"] = description
    request = {"server": body}
    if hints:
        request["os:scheduler_hints"] = key_values(hints, "--hint")
    created = session.request("POST", "compute", "/servers", json=request).json()["server"]
    if wait:
        server = wait_for(session, created["id"], f"server {name}", ("ACTIVE",), timeout)
    else:
        server = session.get("compute", f"/servers/{created['id']}")["server"]
    if created.get("adminPass"):
        server["adminPass"] = created["adminPass"]
    _show(session, server, fmt, columns)


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option("--name", help="Names matching this regular expression.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only servers in this status.")] = None,
    flavor: Annotated[str | None, _flavor("Only servers of this flavor.")] = None,
    image: Annotated[str | None, _image("Only servers of this image.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only servers on this host (admin).")] = None,
    all_projects: Annotated[bool, typer.Option("--all-projects", help="Every project's servers (admin).")] = False,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's (ID; admin).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's (ID).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many.")] = None,
    marker: Annotated[str | None, typer.Option("--marker", help="Start after this server (ID).")] = None,
    long: Annotated[bool, typer.Option("--long", help="More columns.")] = False,
    no_name_lookup: Annotated[bool, typer.Option("--no-name-lookup", "-n", help="Image IDs, not names.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """List servers."""
    session = connect()
    query = {"name": name, "status": status, "host": host, "project_id": project, "user_id": user,
             "limit": limit, "marker": marker}
    if flavor:
        from ncloud.cli.resources.flavor import flavor_find

        query["flavor"] = flavor_find(session, flavor)["id"]
    if image:
        from ncloud.cli.resources.image import image_find

        query["image"] = image_find(session, image)["id"]
    if all_projects or project:
        query["all_tenants"] = "1"
    params = {key: value for key, value in query.items() if value is not None}
    servers = session.request("GET", "compute", "/servers/detail", params=params).json()["servers"]
    names = {} if no_name_lookup else _image_names(session, servers)
    rows = [{"ID": s["id"], "Name": s["name"], "Status": s["status"], "Networks": networks(s.get("addresses")),
             "Image": image_label(s, names), "Flavor": flavor_name(s.get("flavor")),
             "Task State": s.get("OS-EXT-STS:task_state"),
             "Power State": POWER_STATES.get(s.get("OS-EXT-STS:power_state"), ""),
             "Availability Zone": s.get("OS-EXT-AZ:availability_zone"), "Host": s.get("OS-EXT-SRV-ATTR:host"),
             "Properties": s.get("metadata") or {}} for s in servers]
    print_list(rows, LONG_COLUMNS if long else LIST_COLUMNS, fmt, columns)


@app.command()
def show(server: Server, fmt: Format = "table", columns: Columns = None) -> None:
    """Show a server's details."""
    session = connect()
    _show(session, server_find(session, server), fmt, columns)


@app.command("set")
def set_(
    server: Server,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="A new description.")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="Metadata KEY=VALUE (repeat).")] = None,
) -> None:
    """Change a server's name, description or properties."""
    session = connect()
    found = server_find(session, server)
    changes = {key: value for key, value in (("name", name), ("description", description)) if value is not None}
    if changes:
        session.request("PUT", "compute", f"/servers/{found['id']}", json={"server": changes})
    if properties:
        session.request("POST", "compute", f"/servers/{found['id']}/metadata",
                        json={"metadata": key_values(properties, "--property")})


@app.command()
def unset(
    server: Server,
    description: Annotated[bool, typer.Option("--description", help="Clear the description.")] = False,
    properties: Annotated[list[str] | None, typer.Option("--property", help="Remove this metadata key.")] = None,
) -> None:
    """Remove a server's description or properties."""
    session = connect()
    found = server_find(session, server)
    if description:
        session.request("PUT", "compute", f"/servers/{found['id']}", json={"server": {"description": None}})
    for key in properties or []:
        session.request("DELETE", "compute", f"/servers/{found['id']}/metadata/{key}")


@app.command()
def delete(
    servers: Annotated[list[str], typer.Argument(help="Servers (names or IDs).", show_default=False)],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until they are gone.")] = False,
    timeout: Timeout = 300.0,
) -> None:
    """Delete servers (with --wait: until they are gone)."""
    session = connect()
    found = [server_find(session, server) for server in servers]
    for server in found:
        session.request("DELETE", "compute", f"/servers/{server['id']}")
    if wait:
        for server in found:
            wait_gone(session, server["id"], f"server {server['name']}", timeout)


def _action(server: str, body: dict, wait: bool, timeout: float, statuses: tuple[str, ...], verb: str,
            pending: tuple[str, ...] = ()) -> dict:
    session = connect()
    found = server_find(session, server)
    session.request("POST", "compute", f"/servers/{found['id']}/action", json=body)
    if wait:
        return wait_for(session, found["id"], f"{verb} {found['name']}", statuses, timeout, pending)
    return found


def _simple(action: str, statuses: tuple[str, ...], doc: str, body=None):
    def command(server: Server, wait: Wait = False, timeout: Timeout = 600.0) -> None:
        _action(server, {action: body}, wait, timeout, statuses, action)

    command.__doc__ = doc
    return command


for _name, _action_name, _statuses, _doc in (
        ("start", "os-start", ("ACTIVE",), "Start a stopped server."),
        ("stop", "os-stop", ("SHUTOFF",), "Stop a server (ACPI shutdown, then power off)."),
        ("pause", "pause", ("PAUSED",), "Pause a server (kept in memory)."),
        ("unpause", "unpause", ("ACTIVE",), "Unpause a paused server."),
        ("suspend", "suspend", ("SUSPENDED",), "Suspend a server (memory saved to disk)."),
        ("resume", "resume", ("ACTIVE",), "Resume a suspended server."),
        ("shelve", "shelve", ("SHELVED", "SHELVED_OFFLOADED"), "Shelve a server (snapshot, then free its host)."),
        ("unshelve", "unshelve", ("ACTIVE",), "Unshelve a shelved server."),
        ("unrescue", "unrescue", ("ACTIVE",), "Leave rescue mode.")):
    app.command(_name)(_simple(_action_name, _statuses, _doc))


@app.command()
def lock(server: Server, reason: Annotated[str | None, typer.Option("--reason")] = None) -> None:
    """Lock a server: only an admin can act on it until it is unlocked."""
    _action(server, {"lock": {"locked_reason": reason} if reason else None}, False, 0, (), "lock")


@app.command()
def unlock(server: Server) -> None:
    """Unlock a server."""
    _action(server, {"unlock": None}, False, 0, (), "unlock")


@app.command()
def reboot(
    server: Server,
    hard: Annotated[bool, typer.Option("--hard/--soft", help="Power cycle instead of an ACPI reboot.")] = False,
    wait: Wait = False,
    timeout: Timeout = 600.0,
) -> None:
    """Reboot a server."""
    _action(server, {"reboot": {"type": "HARD" if hard else "SOFT"}}, wait, timeout, ("ACTIVE",), "reboot")


@app.command()
def resize(
    server: Server,
    flavor: Annotated[str | None, _flavor("The new flavor (name or ID).")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="Confirm a resize waiting in VERIFY_RESIZE.")] = False,
    revert: Annotated[bool, typer.Option("--revert", help="Revert a resize waiting in VERIFY_RESIZE.")] = False,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Resize a server to another flavor, then --confirm (or --revert) it."""
    if sum((flavor is not None, confirm, revert)) != 1:
        raise typer.BadParameter("give exactly one of --flavor, --confirm and --revert")
    if confirm:
        _action(server, {"confirmResize": None}, wait, timeout, ("ACTIVE", "SHUTOFF"), "resize confirm",
                pending=("VERIFY_RESIZE",))
    elif revert:
        _action(server, {"revertResize": None}, wait, timeout, ("ACTIVE", "SHUTOFF"), "resize revert",
                pending=("VERIFY_RESIZE",))
    else:
        from ncloud.cli.resources.flavor import flavor_find

        flavor_id = flavor_find(connect(), flavor)["id"]
        _action(server, {"resize": {"flavorRef": flavor_id}}, wait, timeout, ("VERIFY_RESIZE",), "resize")


@app.command()
def rebuild(
    server: Server,
    image: Annotated[str | None, _image("The new image (default: the same).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    wait: Wait = False,
    timeout: Timeout = 600.0,
) -> None:
    """Rebuild a server from an image, keeping its ID, addresses and flavor."""
    session = connect()
    found = server_find(session, server)
    if image:
        from ncloud.cli.resources.image import image_find

        image_ref = image_find(session, image)["id"]
    else:
        image_ref = found["image"]["id"] if isinstance(found.get("image"), dict) else ""
    body = {"imageRef": image_ref, **({"name": name} if name else {})}
    _action(found["id"], {"rebuild": body}, wait, timeout, ("ACTIVE", "SHUTOFF"), "rebuild")


@app.command()
def migrate(
    server: Server,
    live: Annotated[bool, typer.Option("--live", help="Live migration (the server keeps running).")] = False,
    host: Annotated[str | None, typer.Option("--host", help="The destination host (admin).")] = None,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Move a server to another host: cold (then `resize --confirm`) or --live."""
    if live:
        body = {"os-migrateLive": {"host": host, "block_migration": "auto"}}
        _action(server, body, wait, timeout, ("ACTIVE", "PAUSED"), "live migration of")
    else:
        _action(server, {"migrate": {"host": host} if host else None}, wait, timeout, ("VERIFY_RESIZE",),
                "migration of")


@app.command()
def evacuate(
    server: Server,
    host: Annotated[str | None, typer.Option("--host", help="The destination host (admin).")] = None,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Rebuild a server of a host that is down on another host (admin)."""
    _action(server, {"evacuate": {"host": host} if host else {}}, wait, timeout, ("ACTIVE", "SHUTOFF"),
            "evacuation of")


@app.command()
def rescue(
    server: Server,
    image: Annotated[str | None, _image("Boot this image instead of the server's.")] = None,
    wait: Wait = False,
    timeout: Timeout = 600.0,
) -> None:
    """Boot a server from a rescue image, its disk attached as the second one."""
    body = {}
    if image:
        from ncloud.cli.resources.image import image_find

        body["rescue_image_ref"] = image_find(connect(), image)["id"]
    _action(server, {"rescue": body}, wait, timeout, ("RESCUE",), "rescue")


@image_app.command("create")
def image_create(
    server: Server,
    name: Annotated[str | None, typer.Option("--name", help="The image's name (default: the server's).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the image is active.")] = False,
    timeout: Timeout = 900.0,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Snapshot a server's root disk to a new image."""
    session = connect()
    found = server_find(session, server)
    response = session.request("POST", "compute", f"/servers/{found['id']}/action",
                               json={"createImage": {"name": name or found["name"]}})
    image_id = (response.json() if response.content else {}).get("image_id") or \
        response.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
    from ncloud.cli.resources.image import display as image_display
    from ncloud.cli.resources.image import wait_active

    image = wait_active(session, image_id, timeout) if wait else session.get("image", f"/images/{image_id}")
    print_one(image_display(image), fmt, columns)


@event_app.command("list")
def event_list(server: Server, fmt: Format = "table", columns: Columns = None) -> None:
    """List what was done to a server."""
    session = connect()
    found = server_find(session, server)
    actions = session.get("compute", f"/servers/{found['id']}/os-instance-actions")["instanceActions"]
    rows = [{"Request ID": a["request_id"], "Server ID": a["instance_uuid"], "Action": a["action"],
             "Start Time": a["start_time"], "Message": a.get("message")} for a in actions]
    print_list(rows, ("Request ID", "Server ID", "Action", "Start Time", "Message"), fmt, columns)


@event_app.command("show")
def event_show(server: Server, request_id: Annotated[str, typer.Argument(help="The action's request ID.")],
               fmt: Format = "table", columns: Columns = None) -> None:
    """Show one action done to a server (with its events, for an admin)."""
    session = connect()
    found = server_find(session, server)
    action = session.get("compute", f"/servers/{found['id']}/os-instance-actions/{request_id}")["instanceAction"]
    action["events"] = "; ".join(f"{e['event']}: {e.get('result') or 'running'}" for e in action.get("events") or [])
    print_one(dict(sorted(action.items())), fmt, columns)


def console_log(server: str, lines: int | None) -> str:
    session = connect()
    found = server_find(session, server)
    body = {"os-getConsoleOutput": {"length": lines} if lines else {}}
    return session.request("POST", "compute", f"/servers/{found['id']}/action", json=body).json()["output"]


def console_url(server: str, protocol: str, kind: str) -> dict:
    session = connect()
    found = server_find(session, server)
    return session.request("POST", "compute", f"/servers/{found['id']}/remote-consoles",
                           json={"remote_console": {"protocol": protocol, "type": kind}}).json()["remote_console"]
