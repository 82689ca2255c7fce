"""`ncloud identity bootstrap|setup-keys|rotate-keys`: the first identity, and the shared token keys."""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, group, load_config

app = group("Identity: bootstrap, token keys.")


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


@app.command()
def bootstrap(config_file: Path | None = ConfigFile) -> None:
    """Create the domain Default, the roles, the admin project and user, the catalog and the token keys.

    Idempotent: run it again after changing [identity] admin_password or the endpoint URLs.
    """
    from ncloud.daemons.core.db.session import Database
    from ncloud.daemons.core.identity import bootstrap as identity_bootstrap
    from ncloud.daemons.core.identity import keys

    conf = load_config(config_file)
    try:
        keys.setup(conf.token_key_repository, conf.identity.max_active_keys)
        found = identity_bootstrap.bootstrap(Database(conf.database_url), conf)
    except (OSError, keys.KeyRepositoryError, identity_bootstrap.BootstrapError) as error:
        typer.echo(f"identity bootstrap failed: {error}", err=True)
        raise typer.Exit(1) from None
    urls = identity_bootstrap.base_urls(conf)
    typer.echo(f"user {conf.identity.admin_user} ({found['user_id']}) is admin of project "
               f"{conf.identity.admin_project} ({found['project_id']}); identity at {urls['public']}/identity/v3")
    typer.echo(f"created or updated: {', '.join(found['changed'])}" if found["changed"] else "(unchanged)")
