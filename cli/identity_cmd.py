"""`ncloud identity setup-keys|rotate-keys`: the token key repository every controller shares."""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, load_config

app = typer.Typer(help="Identity: token keys.", no_args_is_help=True)


@app.command("setup-keys")
def setup_keys(config_file: Path | None = ConfigFile) -> None:
    """Create the token key repository ([identity] key_repository) unless it has keys already."""
    from ncloud.daemons.core.identity import keys

    conf = load_config(config_file)
    repository = conf.token_key_repository
    try:
        created = keys.setup(repository, conf.identity.max_active_keys)
    except (OSError, keys.KeyRepositoryError) as error:
        typer.echo(f"cannot set up the token keys in {repository}: {error}", err=True)
        raise typer.Exit(1) from None
    numbers = keys.key_numbers(repository)
    typer.echo(f"{'created' if created else 'kept the existing'} token keys in {repository}: "
               f"primary {numbers[-1]}, {len(numbers)} keys")


@app.command("rotate-keys")
def rotate_keys(config_file: Path | None = ConfigFile) -> None:
    """Promote the staged key to primary, stage a new one and drop the oldest beyond max_active_keys.

    Copy the repository to every other controller afterwards; tokens issued with a dropped key are
    no longer valid.
    """
    from ncloud.daemons.core.identity import keys

    conf = load_config(config_file)
    repository = conf.token_key_repository
    try:
        primary = keys.rotate(repository, conf.identity.max_active_keys)
    except (OSError, keys.KeyRepositoryError) as error:
        typer.echo(f"cannot rotate the token keys in {repository}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"token key {primary} is now primary in {repository}; keys: "
               f"{', '.join(map(str, keys.key_numbers(repository)))}")
