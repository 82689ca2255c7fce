"""`ncloud image ...`: images in the Image API (v2), uploads and downloads streamed with a progress
bar; and `image build-tiny`, the small bootable test guest."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.cloud.errors import CloudError
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one
from ncloud.cli.resources.common import completer, find, key_values, poll

app = group("Images: upload, download, list, share; build the tiny test guest.")
member_app = group("Projects an image is shared with.")
app.add_typer(member_app, name="member")

complete_image = completer("image", "/images?limit=200", "images")
Image = Annotated[str, typer.Argument(help="The image's name or ID.", show_default=False,
                                      autocompletion=complete_image)]
CHUNK = 1 << 20
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ami", "ari", "aki", "ploop")
# Fields of the Image API that are not properties.
CORE = {"id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value", "owner",
        "size", "virtual_size", "min_ram", "min_disk", "disk_format", "container_format", "created_at",
        "updated_at", "tags", "file", "schema", "self", "direct_url", "locations", "os_hidden", "stores"}


def image_find(session, name_or_id: str) -> dict:
    from urllib.parse import quote

    return find(session, "image", "images", name_or_id, key="image", list_path=f"/images?name={quote(name_or_id)}")


def display(image: dict) -> dict:
    shown = {key: value for key, value in image.items() if key in CORE and key not in ("file", "schema", "self")}
    shown["properties"] = {key: value for key, value in image.items() if key not in CORE}
    return dict(sorted(shown.items()))


def wait_active(session, image_id: str, timeout: float) -> dict:
    def settled(image):
        if image["status"] in ("killed", "deleted", "deactivated"):
            raise CloudError(f"image {image_id} ended {image['status']}")
        return image["status"] == "active", image["status"]

    return poll(lambda: session.get("image", f"/images/{image_id}"), settled, f"image {image_id}", timeout)


class _Progress:
    """A progress bar on a terminal (rich), nothing when piped."""

    def __init__(self, label: str, total: int | None):
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def advance(self, size: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, size)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def upload_file(session, image_id: str, path: Path) -> None:
    """Stream `path` into the image (PUT .../file), a progress bar on a terminal."""

    def chunks(handle, progress):
        while chunk := handle.read(CHUNK):
            progress.advance(len(chunk))
            yield chunk

    with path.open("rb") as handle, _Progress(f"uploading {path.name}", path.stat().st_size) as progress:
        session.request("PUT", "image", f"/images/{image_id}/file", content=chunks(handle, progress),
                        headers={"Content-Type": "application/octet-stream"}, timeout=None)


def create_from_file(session, name: str, path: Path, disk_format: str | None = None, visibility: str = "private",
                     extra: dict | None = None) -> dict:
    """A new image holding `path`'s bytes; the image as the API shows it afterwards."""
    if disk_format is None:
        disk_format = "qcow2" if path.suffix == ".qcow2" else "iso" if path.suffix == ".iso" else "raw"
    body = {"name": name, "disk_format": disk_format, "container_format": "bare", "visibility": visibility,
            **(extra or {})}
    image = session.request("POST", "image", "/images", json=body).json()
    try:
        upload_file(session, image["id"], path)
    except BaseException:
        # An image without its data is of no use: remove it rather than leave it queued.
        with contextlib.suppress(CloudError):
            session.request("DELETE", "image", f"/images/{image['id']}")
        raise
    return session.get("image", f"/images/{image['id']}")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The new image's name.")],
    file: Annotated[Path, typer.Option("--file", help="The image data to upload.", exists=True, dir_okay=False)],
    disk_format: Annotated[str | None, typer.Option("--disk-format", help="raw, qcow2, iso, ... (default: from "
                                                                          "the file's suffix).")] = None,
    public: Annotated[bool, typer.Option("--public", help="Visible to every project (admin).")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Visible to the projects it is shared with.")] = False,
    community: Annotated[bool, typer.Option("--community", help="Visible to every project, unlisted.")] = False,
    min_disk: Annotated[int | None, typer.Option("--min-disk", min=0, help="Smallest root disk (GiB).")] = None,
    min_ram: Annotated[int | None, typer.Option("--min-ram", min=0, help="Least memory (MiB).")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeat).")] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat).")] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create an image from a file (streamed, with a progress bar on a terminal)."""
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(DISK_FORMATS)}", param_hint="--disk-format")
    if sum((public, shared, community)) > 1:
        raise typer.BadParameter("give at most one of --public, --shared and --community")
    visibility = "public" if public else "shared" if shared else "community" if community else "private"
    extra = dict(key_values(properties, "--property"))
    if min_disk is not None:
        extra["min_disk"] = min_disk
    if min_ram is not None:
        extra["min_ram"] = min_ram
    if tags:
        extra["tags"] = tags
    image = create_from_file(connect(), name, file, disk_format, visibility, extra)
    print_one(display(image), fmt, columns)


@app.command()
def save(
    image: Image,
    file: Annotated[Path, typer.Option("--file", help="Where to write the data (default: standard output).")] = None,
) -> None:
    """Download an image's data (streamed, with a progress bar on a terminal)."""
    session = connect()
    found = image_find(session, image)
    if file is None and sys.stdout.isatty():
        raise typer.BadParameter("the image's bytes would go to the terminal: give --file or redirect the output")
    response = session.request("GET", "image", f"/images/{found['id']}/file", stream=True, timeout=None)
    try:
        out = file.open("wb") if file else sys.stdout.buffer
        with _Progress(f"downloading {found['name']}", found.get("size")) as progress:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                progress.advance(len(chunk))
        if file:
            out.close()
    finally:
        response.close()


@app.command("list")
def list_(
    public: Annotated[bool, typer.Option("--public", help="Only public images.")] = False,
    private: Annotated[bool, typer.Option("--private", help="Only private images.")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Only images shared with this project.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Only images of this name.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only images in this status.")] = None,
    long: Annotated[bool, typer.Option("--long", help="More columns.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """List the images this project can see."""
    params = {"name": name, "status": status, "limit": 1000,
              "visibility": "public" if public else "private" if private else "shared" if shared else None}
    images = connect().get("image", "/images", params={k: v for k, v in params.items() if v is not None})["images"]
    rows = [{"ID": i["id"], "Name": i.get("name"), "Status": i["status"], "Disk Format": i.get("disk_format"),
             "Size": i.get("size"), "Visibility": i.get("visibility"), "Owner": i.get("owner"),
             "Checksum": i.get("checksum")} for i in images]
    cols = ("ID", "Name", "Disk Format", "Size", "Status", "Visibility", "Owner", "Checksum") if long else \
        ("ID", "Name", "Status")
    print_list(rows, cols, fmt, columns)


@app.command()
def show(image: Image, fmt: Format = "table", columns: Columns = None) -> None:
    """Show an image."""
    print_one(display(image_find(connect(), image)), fmt, columns)


@app.command("set")
def set_(
    image: Image,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    visibility: Annotated[str | None, typer.Option("--visibility", help="public, private, shared or "
                                                                        "community.")] = None,
    min_disk: Annotated[int | None, typer.Option("--min-disk", min=0)] = None,
    min_ram: Annotated[int | None, typer.Option("--min-ram", min=0)] = None,
    protected: Annotated[bool | None, typer.Option("--protected/--unprotected")] = None,
    properties: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeat).")] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="Add a tag (repeat).")] = None,
) -> None:
    """Change an image's name, visibility, properties or tags (a JSON patch)."""
    if visibility is not None and visibility not in ("public", "private", "shared", "community"):
        raise typer.BadParameter("use public, private, shared or community", param_hint="--visibility")
    session = connect()
    found = image_find(session, image)
    changes = {"name": name, "visibility": visibility, "min_disk": min_disk, "min_ram": min_ram,
               "protected": protected, **key_values(properties, "--property")}
    patch = [{"op": "replace" if key in found else "add", "path": f"/{key}", "value": value}
             for key, value in changes.items() if value is not None]
    for tag in tags or []:
        session.request("PUT", "image", f"/images/{found['id']}/tags/{tag}")
    if patch:
        session.request("PATCH", "image", f"/images/{found['id']}", json=patch,
                        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})


@app.command()
def delete(images: Annotated[list[str], typer.Argument(help="Images (names or IDs).", show_default=False)]) -> None:
    """Delete images."""
    session = connect()
    for image in images:
        session.request("DELETE", "image", f"/images/{image_find(session, image)['id']}")


MEMBER_COLUMNS = ("Image ID", "Member ID", "Status")


def _member_row(member: dict) -> dict:
    return {"Image ID": member["image_id"], "Member ID": member["member_id"], "Status": member["status"]}


@member_app.command("list")
def member_list(image: Image, fmt: Format = "table", columns: Columns = None) -> None:
    """List the projects an image is shared with."""
    session = connect()
    members = session.get("image", f"/images/{image_find(session, image)['id']}/members")["members"]
    print_list([_member_row(m) for m in members], MEMBER_COLUMNS, fmt, columns)


@member_app.command("add")
def member_add(image: Image, project: Annotated[str, typer.Argument(help="The project's ID.")],
               fmt: Format = "table", columns: Columns = None) -> None:
    """Share an image (visibility shared) with a project; the project then accepts it."""
    session = connect()
    member = session.request("POST", "image", f"/images/{image_find(session, image)['id']}/members",
                             json={"member": project}).json()
    print_one(_member_row(member), fmt, columns)


@member_app.command("set")
def member_set(
    image: Image,
    project: Annotated[str, typer.Argument(help="The project's ID (yours, to accept or reject).")],
    accept: Annotated[bool, typer.Option("--accept", help="Accept the shared image.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject it.")] = False,
    pending: Annotated[bool, typer.Option("--pending", help="Back to pending.")] = False,
) -> None:
    """Accept or reject an image shared with your project."""
    if sum((accept, reject, pending)) != 1:
        raise typer.BadParameter("give exactly one of --accept, --reject and --pending")
    status = "accepted" if accept else "rejected" if reject else "pending"
    session = connect()
    session.request("PUT", "image", f"/images/{image_find(session, image)['id']}/members/{project}",
                    json={"status": status})


@member_app.command("remove")
def member_remove(image: Image, project: Annotated[str, typer.Argument(help="The project's ID.")]) -> None:
    """Stop sharing an image with a project."""
    session = connect()
    session.request("DELETE", "image", f"/images/{image_find(session, image)['id']}/members/{project}")


@app.command("build-tiny")
def build_tiny(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the image (.qcow2: compressed "
                                                                 "qcow2; otherwise raw).")] = Path("ncloud-tiny.qcow2"),
    cache: Annotated[Path, typer.Option("--cache", help="Where the Debian packages are kept between builds.")] =
        Path("~/.cache/ncloud/tiny-image"),
    upload: Annotated[bool, typer.Option("--upload", help="Upload it to the cloud as a public image (admin).")] =
        False,
    name: Annotated[str, typer.Option("--name", help="The uploaded image's name.")] = "ncloud-tiny",
) -> None:
    """Build a tiny bootable guest from Debian packages (kernel, busybox, syslinux; no internet
    beyond a Debian mirror). It prints `ncloud-tiny: booted` on its serial console, takes its
    address by DHCP, reads its config drive and runs its user data when that is a script."""
    from ncloud.cli import tiny_image

    session = connect() if upload else None
    if session is not None:
        session.login_data  # noqa: B018 - log in first: fail before the build, not after
    try:
        path = tiny_image.build(output.expanduser().resolve(), cache.expanduser())
    except tiny_image.BuildError as error:
        raise CloudError(str(error)) from None
    typer.echo(f"built {path} ({path.stat().st_size // 1024} KiB)")
    if session is not None:
        image = tiny_image.upload(session, path, name)
        typer.echo(f"uploaded as image {name} ({image})")
