"""`ncloud host disable|enable|drain|evacuate|remove HOST`: a compute host's day-two work, run on a
controller (its configuration file gives the admin credentials and the API's address).

The playbooks behind `ncloud drain`, `ncloud restore`, `ncloud remove-compute` and evacuate.yml
call these through the Compute API, as an operator would by hand: every move is an ordinary
server action, visible in the servers' action logs.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, group, load_config

app = group("A compute host's day-two work (run on a controller).")

MICROVERSION = "2.79"
COMPUTE = "ncloud-compute"


def _session(config_file: Path | None):
    from ncloud.cli.cloud.errors import CloudError
    from ncloud.cli.cloud.session import admin_session

    try:
        return admin_session(load_config(config_file))
    except CloudError as error:
        _fail(str(error))


def _fail(message: str, code: int = 1):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _report(failed: dict[str, str], summary: str) -> None:
    """Each server that could not be moved, why, and exit 1; nothing when all moved."""
    if failed:
        for sid, why in failed.items():
            typer.secho(f"{sid}: {why}", fg="red", err=True)
        _fail(summary)


def _service(session, host: str) -> dict:
    services = session.request("GET", "compute", f"/os-services?host={host}&binary={COMPUTE}",
                               microversion=MICROVERSION).json()["services"]
    if not services:
        _fail(f"no compute service on host {host} (`openstack compute service list` shows the hosts)")
    return services[0]


def _set_status(session, host: str, disabled: bool, reason: str | None = None, forced_down: bool | None = None) -> None:
    body = {"status": "disabled" if disabled else "enabled"}
    if disabled and reason:
        body["disabled_reason"] = reason
    if forced_down is not None:
        body["forced_down"] = forced_down
    session.request("PUT", "compute", f"/os-services/{_service(session, host)['id']}", json=body,
                    microversion=MICROVERSION)


def _servers_on(session, host: str) -> list[dict]:
    return session.request("GET", "compute", f"/servers/detail?all_tenants=1&host={host}",
                           microversion=MICROVERSION).json()["servers"]


def _server(session, server_id: str) -> dict:
    return session.request("GET", "compute", f"/servers/{server_id}", microversion=MICROVERSION).json()["server"]


def _action(session, server_id: str, body: dict) -> None:
    session.request("POST", "compute", f"/servers/{server_id}/action", json=body, microversion=MICROVERSION)


@app.command()
def disable(host: str, reason: str = typer.Option("disabled by the operator", "--reason"),
            config_file: Path | None = ConfigFile) -> None:
    """Stop scheduling new servers to HOST (its servers keep running)."""
    _set_status(_session(config_file), host, True, reason)
    typer.echo(f"{host}: disabled")


@app.command()
def enable(host: str, config_file: Path | None = ConfigFile) -> None:
    """Schedule servers to HOST again (after a drain, maintenance or evacuation: a forced-down mark
    goes too, so the host counts as up once its compute reports)."""
    _set_status(_session(config_file), host, False, forced_down=False)
    typer.echo(f"{host}: enabled")


@app.command()
def drain(
    host: str,
    timeout: float = typer.Option(1800.0, "--timeout", help="Seconds the whole drain may take."),
    config_file: Path | None = ConfigFile,
) -> None:
    """Disable HOST and move every server off it: running and paused ones by live migration, the
    others by cold migration (confirmed at once). Exit 0 when HOST is empty, 1 when not."""
    from ncloud.cli.cloud.errors import CloudError

    session = _session(config_file)
    _set_status(session, host, True, "draining")
    started = time.monotonic()
    failed: dict[str, str] = {}
    cold: set[str] = set()  # cold-migrated servers, confirmed once they wait in VERIFY_RESIZE
    for server in _servers_on(session, host):
        sid, status = server["id"], server["status"]
        try:
            if status in ("ACTIVE", "PAUSED"):
                _action(session, sid, {"os-migrateLive": {"host": None, "block_migration": "auto"}})
                typer.echo(f"{sid} ({server['name']}): live migration started")
            elif status in ("SHUTOFF", "SUSPENDED"):
                _action(session, sid, {"migrate": None})
                cold.add(sid)
                typer.echo(f"{sid} ({server['name']}): cold migration started")
            else:
                failed[sid] = f"status {status}: cannot be moved (fix or delete it first)"
        except CloudError as error:
            failed[sid] = str(error)
    while True:
        for sid in sorted(cold):
            server = _server(session, sid)
            if server["status"] == "VERIFY_RESIZE":
                _action(session, sid, {"confirmResize": None})
                cold.discard(sid)
        remaining = [s for s in _servers_on(session, host) if s["id"] not in failed]
        for server in remaining:
            if server["status"] == "ERROR":
                failed[server["id"]] = (server.get("fault") or {}).get("message", "went to ERROR")
                cold.discard(server["id"])
        remaining = [s for s in remaining if s["id"] not in failed]
        if not remaining and not cold:
            break
        if time.monotonic() - started > timeout:
            for server in remaining:
                failed[server["id"]] = f"still on {host} ({server['status']}) after {timeout:g} s"
            break
        time.sleep(2)
    _report(failed, f"{host} is not empty: {len(failed)} server(s) could not be moved")
    typer.echo(f"{host}: drained in {time.monotonic() - started:.1f} s (disabled; `ncloud host enable {host}` "
               "takes it back)")


@app.command()
def evacuate(
    host: str,
    timeout: float = typer.Option(900.0, "--timeout", help="Seconds the evacuation may take."),
    force_down: bool = typer.Option(
        False, "--force-down", help="Mark HOST's compute down now instead of waiting until its heartbeat is "
                                    "service_down_time old. Only once HOST is fenced (powered off): guests "
                                    "still running there would run twice."),
    config_file: Path | None = ConfigFile,
) -> None:
    """Rebuild every server of HOST, which must be down, on other hosts. Exit 0 when all moved."""
    from ncloud.cli.cloud.errors import CloudError

    session = _session(config_file)
    service = _service(session, host)
    if service["state"] == "up" and not force_down:
        _fail(f"{host} is up: evacuate only moves servers off a host that is down (drain a live one; "
              "--force-down once a dead host is fenced)")
    _set_status(session, host, True, "evacuated", forced_down=True if force_down else None)
    started = time.monotonic()
    failed: dict[str, str] = {}
    for server in _servers_on(session, host):
        try:
            _action(session, server["id"], {"evacuate": {}})
            typer.echo(f"{server['id']} ({server['name']}): evacuation started")
        except CloudError as error:
            failed[server["id"]] = str(error)
    while (remaining := [s for s in _servers_on(session, host) if s["id"] not in failed]):
        if time.monotonic() - started > timeout:
            failed.update({s["id"]: f"still on {host} after {timeout:g} s" for s in remaining})
            break
        time.sleep(2)
    _report(failed, f"{len(failed)} server(s) could not be evacuated from {host}")
    typer.echo(f"{host}: evacuated in {time.monotonic() - started:.1f} s")


@app.command()
def remove(host: str, config_file: Path | None = ConfigFile) -> None:
    """Delete HOST's compute service, hypervisor and resource provider. Refused while it has servers."""
    session = _session(config_file)
    servers = _servers_on(session, host)
    if servers:
        _fail(f"{host} still has {len(servers)} server(s): drain it first (`ncloud host drain {host}`)")
    from ncloud.cli.cloud.errors import CloudError

    try:
        session.request("DELETE", "compute", f"/os-services/{_service(session, host)['id']}", microversion=MICROVERSION)
    except CloudError as error:
        _fail(str(error))
    typer.echo(f"{host}: compute service, hypervisor and resource provider removed")
