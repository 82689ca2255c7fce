"""Run the whole cloud on this machine (all-in-one) until Ctrl-C.

Everything lives under --state-dir: the SQLite database, the token keys, logs and clouds.yaml.
The daemons run in this one process and talk over the embedded message transport, so nothing
else needs to be installed. Identity is bootstrapped with two users: `admin` (administrator of
project admin) and `demo` (member of project demo), whose passwords are generated once and kept
in clouds.yaml (clouds `ncloud` and `ncloud-demo`).

Servers are real QEMU/KVM guests when libvirt-python and QEMU are installed (the libvirt driver,
through libvirtd if it runs, else QEMU embedded in this process): the tiny guest image is built
from Debian packages and uploaded as `ncloud-tiny`. Without them servers are simulated (the fake
driver), and `up` says why.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, load_config


def _wait_for_api(base: str, deadline: float = 30) -> None:
    import httpx

    end = time.monotonic() + deadline
    while True:
        try:
            httpx.get(f"{base}/healthcheck", timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


CLOUDS = {"ncloud": ("admin", "admin"), "ncloud-demo": ("demo", "demo")}  # cloud name -> (user, project)


def _passwords(path: Path, configured_admin: str) -> dict[str, str]:
    """The users' passwords: as configured, else as an earlier run wrote them, else new ones."""
    import yaml

    earlier: dict[str, str] = {}
    if path.exists():
        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
        for cloud, (user, _) in CLOUDS.items():
            password = ((clouds.get(cloud) or {}).get("auth") or {}).get("password")
            if password:
                earlier[user] = password
    return {"admin": configured_admin or earlier.get("admin") or secrets.token_urlsafe(18),
            "demo": earlier.get("demo") or secrets.token_urlsafe(18)}


def _write_clouds_yaml(path: Path, identity_url: str, passwords: dict[str, str]) -> None:
    import yaml

    clouds = {cloud: {"auth": {"auth_url": identity_url, "username": user, "password": passwords[user],
                               "project_name": project, "user_domain_name": "Default",
                               "project_domain_name": "Default"},
                      "region_name": "RegionOne", "identity_api_version": 3}
              for cloud, (user, project) in CLOUDS.items()}
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# Written by 'ncloud up': the administrator (ncloud) and an end user (ncloud-demo).\n"
                    + yaml.safe_dump({"clouds": clouds}, sort_keys=False))


TINY_IMAGE_NAME = "ncloud-tiny"


def libvirt_missing() -> str | None:
    """Why real guests cannot run here (None: they can)."""
    import shutil

    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "libvirt-python is not installed (pip install 'ncloud[libvirt]', after apt-get install libvirt-dev)"
    if not shutil.which("qemu-system-x86_64"):
        return "QEMU is not installed (apt-get install qemu-system-x86 qemu-utils libvirt-daemon-driver-qemu)"
    if not shutil.which("qemu-img"):
        return "qemu-img is not installed (apt-get install qemu-utils)"
    return None


def _libvirtd_answers(path: str = "/run/libvirt/libvirt-sock") -> bool:
    """Whether a libvirtd listens on its socket (a file left by one that died does not count)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def libvirt_options(state_dir: Path, conf) -> dict:
    """The all-in-one's libvirt settings: libvirtd when it runs, else QEMU inside this process;
    the flat network when root can make it."""
    import os

    options: dict = {"compute": {"compute_driver": "libvirt"}}
    if conf.source("libvirt", "uri") == "default" and not _libvirtd_answers():
        # QEMU's sockets live under the root, and a UNIX socket's path has 108 characters at most:
        # a short folder of its own (its guests stop with `up` anyway), named after the state folder.
        import hashlib
        import tempfile

        root = Path(tempfile.gettempdir()) / f"ncloud-qemu-{hashlib.sha1(str(state_dir).encode()).hexdigest()[:8]}"
        options["libvirt"] = {"uri": f"qemu:///embed?root={root}"}
    if os.geteuid() != 0 and conf.source("network", "enabled") == "default":
        options["network"] = {"enabled": False}
    return options


def _marker(session, uuid: str, marker: str, timeout: float = 120) -> float | None:
    """Seconds until the server's console shows `marker` (None: not within timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        output = session.request("POST", "compute", f"/servers/{uuid}/action",
                                 json={"os-getConsoleOutput": {"length": 100}}).json().get("output", "")
        if marker in output:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def _boot(session, name: str, flavor: str, image_id: str, timeout: float = 120) -> dict:
    # 2.1: no `networks` needed, the cloud's network when it has one.
    server = session.request("POST", "compute", "/servers", microversion="2.1", json={
        "server": {"name": name, "flavorRef": flavor, "imageRef": image_id}}).json()["server"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = session.get("compute", f"/servers/{server['id']}")["server"]
        if found["status"] in ("ACTIVE", "ERROR"):
            return found
        time.sleep(0.2)
    raise TimeoutError(f"server {server['id']} not ACTIVE after {timeout}s")


def _delete(session, uuid: str, timeout: float = 120) -> None:
    from ncloud.cli.cloud.errors import NotFound

    session.request("DELETE", "compute", f"/servers/{uuid}")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            session.get("compute", f"/servers/{uuid}")
        except NotFound:
            return
        time.sleep(0.3)


def _network_to_remove(cloud, conf):
    """The guests' network, when no guest will be left to use it once the cloud stops (none runs,
    or QEMU runs in this process and stops with it): `up` leaves the machine as it found it."""
    drivers = [service.driver for service in cloud.services if getattr(service, "driver", None) is not None]
    network = getattr(drivers[0], "network", None) if drivers else None
    if network is None:
        return None
    embedded = conf.libvirt.uri.startswith("qemu:///embed")
    try:
        return network if embedded or not drivers[0].list_instances() else None
    except Exception:  # the hypervisor is unreachable: leave the network to its guests
        return None


def _existing_image(session, name: str) -> str | None:
    """The id of an active image of that name (an earlier `up` in the same state folder uploaded it)."""
    found = session.get("image", "/images", params={"name": name, "status": "active"}).get("images") or []
    return found[0]["id"] if found else None


def _driver_line(conf) -> str:
    if conf.compute.compute_driver == "fake":
        return "simulated (fake driver)"
    network = f"network {conf.network.label} {conf.network.fixed_range}" if conf.network.enabled else "no network"
    return f"QEMU guests (libvirt driver, {conf.libvirt.uri}); {network}"


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
    driver: str = typer.Option("auto", "--driver", help="Where servers run: libvirt (real QEMU/KVM guests), fake "
                               "(simulated) or auto (libvirt when libvirt-python and QEMU are installed).",
                               case_sensitive=False),
    config_file: Path | None = ConfigFile,
) -> None:
    from rich.console import Console

    from ncloud.cli.cloud.session import password_session
    from ncloud.daemons.allinone import AllInOne
    from ncloud.daemons.compute.virt.driver import VirtError
    from ncloud.daemons.core import config, log
    from ncloud.daemons.core.identity import bootstrap as identity_bootstrap
    from ncloud.daemons.core.identity import keys
    from ncloud.daemons.core.launcher import settle_memory
    from ncloud.daemons.core.service import stop_on_signals, wait_for_signal

    console = Console()
    state_dir = state_dir.expanduser().resolve()
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    base = load_config(config_file)
    clouds_yaml = state_dir / "clouds.yaml"
    passwords = _passwords(clouds_yaml, base.identity.admin_password)
    public = base.identity.public_url or f"http://{'127.0.0.1' if bind_host in ('0.0.0.0', '') else bind_host}:{port}"
    overrides = {
        "DEFAULT": {"state_path": str(state_dir),
                    "log_file": base.default.log_file or str(state_dir / "logs" / "ncloud.log")},
        "api": {"bind_host": bind_host, "bind_port": port},
        "identity": {"admin_password": passwords["admin"], "public_url": public}}
    if driver not in ("auto", "libvirt", "fake"):
        typer.secho(f"error: --driver must be auto, libvirt or fake, not {driver!r}", fg="red", err=True)
        raise typer.Exit(2)
    if driver == "auto" and base.source("compute", "compute_driver") != "default":
        driver = base.compute.compute_driver  # the configuration said
    tiny_image = None
    if driver in ("auto", "libvirt"):
        why_not = libvirt_missing()
        if why_not is None:
            from ncloud.cli import tiny_image as builder

            try:
                with console.status("building the tiny guest image from Debian packages..."):
                    tiny_image = builder.build(state_dir / "images-built" / "ncloud-tiny.qcow2",
                                               state_dir / "images-built" / "packages")
            except builder.BuildError as error:
                why_not = f"the tiny guest image could not be built: {error}"
        if why_not is None:
            for section, values in libvirt_options(state_dir, base).items():
                overrides.setdefault(section, {}).update(values)
        elif driver == "libvirt":
            typer.secho(f"error: --driver libvirt: {why_not}", fg="red", err=True)
            raise typer.Exit(1)
        else:
            console.print(f"[yellow]servers will be simulated (fake driver):[/] {why_not}", soft_wrap=True)
    if tiny_image is None:
        overrides.setdefault("compute", {})["compute_driver"] = "fake"
    try:
        conf = config.load(config_file, overrides=overrides)
    except config.ConfigError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    log.setup(conf.default.debug, conf.default.log_file)
    log.log_effective_config(conf, logging.getLogger("ncloud.up"))
    stop = stop_on_signals()  # from here on Ctrl-C or SIGTERM stops the cloud cleanly, even while it starts
    with console.status("starting the cloud (database, conductor, scheduler, compute, API)..."):
        cloud = AllInOne(conf)
        keys.setup(conf.token_key_repository, conf.identity.max_active_keys)
        identity_bootstrap.bootstrap(cloud.db, conf)
        identity_bootstrap.ensure_user(cloud.db, "demo", passwords["demo"], "demo")
        try:
            cloud.start()
        except VirtError as error:  # the hypervisor or the host's network could not be set up
            cloud.stop()
            typer.secho(f"error: the compute host could not start: {error}", fg="red", err=True)
            raise typer.Exit(1) from None
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
    identity_url = f"{public}/identity/v3"
    image_id, image_name = cloud.defaults["image_id"], cloud.defaults["image_name"]
    if tiny_image is not None:
        from ncloud.cli import tiny_image as builder

        admin = password_session(identity_url, "admin", passwords["admin"], "admin")
        image_name = TINY_IMAGE_NAME
        image_id = _existing_image(admin, TINY_IMAGE_NAME) or builder.upload(admin, tiny_image, TINY_IMAGE_NAME)
    _write_clouds_yaml(clouds_yaml, identity_url, passwords)  # last: its presence says the cloud is ready
    console.print(f"[bold green]ncloud is up[/] (state in {state_dir}, log {conf.default.log_file})")
    console.print(f"  Compute API  {compute_url}")
    console.print(f"  Identity     {identity_url}")
    console.print(f"  clouds.yaml  {clouds_yaml}: clouds 'ncloud' (user admin, administrator) and 'ncloud-demo' "
                  "(user demo, member of project demo), passwords inside", soft_wrap=True)
    console.print(f"  servers      {_driver_line(conf)}", soft_wrap=True)
    console.print(f"  flavors      {', '.join(cloud.defaults['flavors'])};  image {image_name} ({image_id})",
                  soft_wrap=True)
    console.print(f"  try:         OS_CLIENT_CONFIG_FILE={clouds_yaml} openstack --os-cloud ncloud-demo server list",
                  soft_wrap=True)
    status_ok = True
    try:
        if boot_server:
            with console.status(f"booting server {boot_server}..."):
                started = time.monotonic()
                demo = password_session(identity_url, "demo", passwords["demo"], "demo")
                server = _boot(demo, boot_server, "1", image_id)
            status_ok = server["status"] == "ACTIVE"
            colour = "green" if status_ok else "red"
            console.print(f"  server       {server['name']} {server['id']} [{colour}]{server['status']}[/] "
                          f"in {time.monotonic() - started:.2f}s (user demo, project demo)", soft_wrap=True)
            if not status_ok:
                console.print(f"  fault        {server.get('fault', {}).get('message')}")
            elif tiny_image is not None:
                from ncloud.cli.tiny_image import MARKER

                with console.status(f"waiting for {boot_server} to print {MARKER!r} on its console..."):
                    seconds = _marker(demo, server["id"], MARKER)
                status_ok = seconds is not None
                addresses = ", ".join(a["addr"] for net in server.get("addresses", {}).values() for a in net)
                booted = (f"[green]booted[/] in {time.monotonic() - started:.1f}s" if status_ok
                          else "[red]no boot marker on its console[/]")
                console.print(f"  guest        {booted}{'; address ' + addresses if addresses else ''}",
                              soft_wrap=True)
        if boot_server and exit_after_boot:
            if tiny_image is not None:  # a real guest: a smoke run leaves nothing running behind it
                with console.status(f"deleting {boot_server}..."):
                    _delete(demo, server["id"])
        else:
            console.print("Press Ctrl-C to stop.")
            wait_for_signal(stop)
    finally:
        with console.status("stopping..."):
            network = _network_to_remove(cloud, conf)
            cloud.stop()
            if network is not None:
                network.teardown()
        console.print("ncloud stopped.")
    if not status_ok:
        raise typer.Exit(1)


app = typer.Typer(rich_markup_mode=None)
app.command("up", help=__doc__)(up)
