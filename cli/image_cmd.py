"""`ncloud image ...`: images for the cloud (the end-user image commands join them with the client)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Images: build the tiny test guest.", no_args_is_help=True)

DEFAULT_CACHE = Path("~/.cache/ncloud/tiny-image")


@app.command("build-tiny")
def build_tiny(
    output: Path = typer.Option(Path("ncloud-tiny.qcow2"), "--output", "-o",
                                help="Where to write the image (.qcow2: compressed qcow2; otherwise raw)."),
    cache: Path = typer.Option(DEFAULT_CACHE, "--cache", help="Where the Debian packages are kept between builds."),
    upload: bool = typer.Option(False, "--upload", help="Upload it to the cloud's Image API as a public image."),
    name: str = typer.Option("ncloud-tiny", "--name", help="The uploaded image's name."),
    cloud: str = typer.Option("", "--os-cloud", envvar="OS_CLOUD",
                              help="The cloud of clouds.yaml to upload to (an administrator: the image is public)."),
) -> None:
    """Build a tiny bootable guest from Debian packages (kernel, busybox, syslinux; no internet
    beyond a Debian mirror). It prints `ncloud-tiny: booted` on its serial console, takes its
    address by DHCP, reads its config drive and runs its user data when that is a script."""
    from ncloud.cli import client, tiny_image

    try:
        session = client.Session.from_cloud(cloud) if upload else None  # log in first: fail before the build
        path = tiny_image.build(output.expanduser().resolve(), cache.expanduser())
        typer.echo(f"built {path} ({path.stat().st_size // 1024} KiB)")
        if session is not None:
            image_id = tiny_image.upload(session.endpoint("image"), session.token, path, name)
            typer.echo(f"uploaded as image {name} ({image_id})")
    except (client.ClientError, tiny_image.BuildError) as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
