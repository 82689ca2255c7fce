"""`ncloud keypair ...`: SSH key pairs for servers. `create` makes an ed25519 pair here (the
Compute API stopped generating keys at 2.92, and a private key should never cross the network);
`create --public-key FILE` imports an existing public key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ncloud.cli.cloud.context import connect
from ncloud.cli.options import group
from ncloud.cli.output import Columns, Format, print_list, print_one

app = group("SSH key pairs for servers.")

Keypair = Annotated[str, typer.Argument(help="The key pair's name.", show_default=False)]


def generate() -> tuple[str, str]:
    """(private key in OpenSSH format, public key line) of a new ed25519 pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def display(keypair: dict) -> dict:
    return dict(sorted((key, value) for key, value in keypair.items() if key not in ("public_key", "links")))


@app.command()
def create(
    name: Keypair,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="Import this public key file.",
                                                    exists=True, dir_okay=False)] = None,
    private_key: Annotated[Path | None, typer.Option("--private-key", help="Write the new private key here "
                                                     "(mode 0600; default: print it).", dir_okay=False)] = None,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Create a key pair: a new ed25519 pair made here, or an imported public key."""
    if public_key and private_key:
        raise typer.BadParameter("--private-key is for a new pair; an imported one has its private key already")
    if private_key and private_key.exists():
        raise typer.BadParameter(f"{private_key} exists: choose another file", param_hint="--private-key")
    private = None
    if public_key:
        public = public_key.read_text().strip()
    else:
        private, public = generate()
    keypair = connect().request("POST", "compute", "/os-keypairs", json={"keypair": {
        "name": name, "public_key": public, "type": "ssh"}}).json()["keypair"]
    if private is not None and private_key is not None:
        fd = os.open(private_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private)
    if private is not None and private_key is None:
        typer.echo(private, nl=False)
        return
    print_one(display(keypair), fmt, columns)


@app.command("list")
def list_(fmt: Format = "table", columns: Columns = None) -> None:
    """List your key pairs."""
    keypairs = connect().get("compute", "/os-keypairs")["keypairs"]
    rows = [{"Name": k["keypair"]["name"], "Fingerprint": k["keypair"]["fingerprint"],
             "Type": k["keypair"].get("type", "ssh")} for k in keypairs]
    print_list(rows, ("Name", "Fingerprint", "Type"), fmt, columns)


@app.command()
def show(
    name: Keypair,
    public_key: Annotated[bool, typer.Option("--public-key", help="Print the public key alone.")] = False,
    fmt: Format = "table",
    columns: Columns = None,
) -> None:
    """Show a key pair."""
    keypair = connect().get("compute", f"/os-keypairs/{name}")["keypair"]
    if public_key:
        typer.echo(keypair["public_key"].strip())
        return
    print_one(display(keypair), fmt, columns)


@app.command()
def delete(names: Annotated[list[str], typer.Argument(help="Key pairs.", show_default=False)]) -> None:
    """Delete key pairs."""
    session = connect()
    for name in names:
        session.request("DELETE", "compute", f"/os-keypairs/{name}")
