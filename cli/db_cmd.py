"""`ncloud db sync|status|seed`: bring the schema up to date, tell whether it is, add the default data."""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, group, load_config

app = group("Database schema (sync, status) and default data (seed).")


def _database(config_file: Path | None):
    from ncloud.daemons.core.db.session import Database

    conf = load_config(config_file)
    return Database(conf.database_url)


@app.command()
def sync(config_file: Path | None = ConfigFile) -> None:
    """Apply every pending migration."""
    from ncloud.daemons.core.db import migrate

    found = migrate.sync(_database(config_file))
    typer.echo(f"database schema at {found.current} (newest)")


@app.command()
def status(config_file: Path | None = ConfigFile) -> None:
    """Say whether migrations are pending. Exit 0 when current, 1 when not."""
    from ncloud.daemons.core.db import migrate

    found = migrate.status(_database(config_file))
    if found.up_to_date:
        typer.echo(f"database schema at {found.current}: up to date")
        return
    typer.echo(f"database schema at {found.current or 'nothing (empty database)'}; "
               f"{len(found.pending)} migration(s) pending: {', '.join(found.pending)}. Run 'ncloud db sync'.")
    raise typer.Exit(1)


@app.command()
def seed(
    config_file: Path | None = ConfigFile,
    flavors_only: bool = typer.Option(False, "--flavors-only", help="Not the demo image (it has no data: it "
                                                                    "boots on the fake driver only)."),
) -> None:
    """Create the default flavors (m1.tiny, m1.small, m1.medium) and the demo image if missing."""
    from ncloud.daemons.core import bootstrap

    found = bootstrap.ensure_defaults(_database(config_file), demo_image=not flavors_only)
    typer.echo(f"flavors: {', '.join(found['flavors'])}"
               + ("" if flavors_only else f"; demo image {found['image_name']} ({found['image_id']})"))
    typer.echo(f"created {', '.join(found['created'])}" if found["created"] else "created nothing")
