"""Run the whole cloud on this machine (all-in-one) until Ctrl-C.

Everything lives under --state-dir: the SQLite database, logs and clouds.yaml. The daemons run
in this one process and talk over the embedded message transport, so nothing else needs to be
installed. Servers run on the fake driver until the libvirt driver lands.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, load_config

ADMIN_TOKEN = "admin:admin"


def _request(method: str, url: str, body: dict | None = None, timeout: float = 10) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "X-Auth-Token": ADMIN_TOKEN, "Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = response.read()
    return json.loads(payload) if payload else {}


def _wait_for_api(base: str, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthcheck", timeout=2).read()
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def _write_clouds_yaml(path: Path, compute_url: str) -> None:
    # Until Identity exists the API runs in noauth2 mode: the token names user and project.
    path.write_text(
        "# Written by 'ncloud up'. The cloud runs in noauth2 (development) mode: the token is 'user:project'.\n"
        "clouds:\n"
        "  ncloud:\n"
        "    auth_type: admin_token\n"
        "    auth:\n"
        f"      endpoint: {compute_url}\n"
        f"      token: {ADMIN_TOKEN}\n"
        f"    compute_endpoint_override: {compute_url}\n"
        "    region_name: RegionOne\n")
    path.chmod(0o600)


def _boot(compute_url: str, name: str, flavor: str, image_id: str, timeout: float = 120) -> dict:
    server = _request("POST", f"{compute_url}/servers",
                      {"server": {"name": name, "flavorRef": flavor, "imageRef": image_id}})["server"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = _request("GET", f"{compute_url}/servers/{server['id']}")["server"]
        if found["status"] in ("ACTIVE", "ERROR"):
            return found
        time.sleep(0.2)
    raise TimeoutError(f"server {server['id']} not ACTIVE after {timeout}s")


def up(
    state_dir: Path = typer.Option(Path("~/.local/state/ncloud"), "--state-dir", help="Where the cloud keeps "
                                   "everything it owns (database, logs, keys, clouds.yaml).", file_okay=False),
    bind_host: str = typer.Option("127.0.0.1", "--host", help="Address the API listens on."),
    port: int = typer.Option(8774, "--port", help="Port the API listens on."),
    boot_server: str | None = typer.Option(None, "--boot-server", metavar="NAME",
                                           help="Boot a server with this name once the cloud is up, and wait "
                                                "until it is ACTIVE."),
    exit_after_boot: bool = typer.Option(False, "--exit-after-boot",
                                         help="With --boot-server: stop the cloud once the server is ACTIVE "
                                              "(exit 1 if it is not)."),
    config_file: Path | None = ConfigFile,
) -> None:
    from rich.console import Console

    from ncloud.daemons.allinone import AllInOne
    from ncloud.daemons.core import config, log
    from ncloud.daemons.core.launcher import settle_memory
    from ncloud.daemons.core.service import wait_for_signal

    console = Console()
    state_dir = state_dir.expanduser().resolve()
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    base = load_config(config_file)
    try:
        conf = config.load(config_file, overrides={
            "DEFAULT": {"state_path": str(state_dir),
                        "log_file": base.default.log_file or str(state_dir / "logs" / "ncloud.log")},
            "api": {"bind_host": bind_host, "bind_port": port}})
    except config.ConfigError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    log.setup(conf.default.debug, conf.default.log_file)
    log.log_effective_config(conf, logging.getLogger("ncloud.up"))
    with console.status("starting the cloud (database, conductor, scheduler, compute, API)..."):
        cloud = AllInOne(conf)
        try:
            cloud.start()
        except OSError as error:  # the port is taken, most likely
            cloud.stop()
            typer.secho(f"error: cannot serve the API on {bind_host}:{port}: {error.strerror or error}. "
                        "Is another cloud running? Choose another --port.", fg="red", err=True)
            raise typer.Exit(1) from None
        compute_url = cloud.endpoint
        root = compute_url.rsplit("/compute/", 1)[0]
        try:
            _wait_for_api(root)
        except Exception as error:
            cloud.stop()
            typer.secho(f"error: the API did not answer at {root}: {error}", fg="red", err=True)
            raise typer.Exit(1) from None
    settle_memory()
    clouds_yaml = state_dir / "clouds.yaml"
    _write_clouds_yaml(clouds_yaml, compute_url)
    console.print(f"[bold green]ncloud is up[/] (state in {state_dir}, log {conf.default.log_file})")
    console.print(f"  Compute API  {compute_url}")
    console.print(f"  clouds.yaml  {clouds_yaml} (cloud 'ncloud')")
    console.print("  identities   noauth2 development mode: token 'admin:admin' (administrator), 'demo:demo' "
                  "(project demo); any 'user:project' is accepted until Identity lands", soft_wrap=True)
    console.print(f"  flavors      {', '.join(cloud.defaults['flavors'])};  image "
                  f"{cloud.defaults['image_name']} ({cloud.defaults['image_id']})", soft_wrap=True)
    console.print("  boot one:    curl -s -H 'X-Auth-Token: demo:demo' -H 'Content-Type: application/json' "
                  f"-d '{{\"server\": {{\"name\": \"vm1\", \"flavorRef\": \"1\", \"imageRef\": "
                  f"\"{cloud.defaults['image_id']}\"}}}}' {compute_url}/servers", soft_wrap=True)
    status_ok = True
    try:
        if boot_server:
            with console.status(f"booting server {boot_server}..."):
                started = time.monotonic()
                server = _boot(compute_url, boot_server, "1", cloud.defaults["image_id"])
            status_ok = server["status"] == "ACTIVE"
            colour = "green" if status_ok else "red"
            console.print(f"  server       {server['name']} {server['id']} [{colour}]{server['status']}[/] "
                          f"on {server.get('OS-EXT-SRV-ATTR:host')} in {time.monotonic() - started:.2f}s")
            if not status_ok:
                console.print(f"  fault        {server.get('fault', {}).get('message')}")
        if not (boot_server and exit_after_boot):
            console.print("Press Ctrl-C to stop.")
            wait_for_signal()
    finally:
        with console.status("stopping..."):
            cloud.stop()
        console.print("ncloud stopped.")
    if not status_ok:
        raise typer.Exit(1)
