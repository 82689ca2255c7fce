"""`ncloud config sample|validate|show`: the configuration file, checked before it bites."""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, group, load_config

app = group("Inspect and check the configuration.")


@app.command()
def sample() -> None:
    """Print a commented configuration file with every option and its default."""
    from ncloud.daemons.core import config

    typer.echo(config.sample())


@app.command()
def validate(file: Path = typer.Argument(..., help="Configuration file to check.", dir_okay=False)) -> None:
    """Check a configuration file: unknown sections or options, wrong types. Exit 0 when valid."""
    load_config(file)
    typer.echo(f"{file}: valid")


@app.command()
def show(config_file: Path | None = ConfigFile) -> None:
    """Print the effective configuration (secrets masked) and where each value comes from."""
    conf = load_config(config_file)
    for section, name, value, source in conf.effective():
        typer.echo(f"[{section}] {name} = {value!r}  ({source})")
