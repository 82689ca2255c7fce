"""Schema migrations: `ncloud db sync` brings a database to the newest schema, `ncloud db status` tells.

Every daemon refuses to start against a database whose schema is older than its code, so a
forgotten `db sync` is a clear message at start instead of a strange error at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc, text

from ncloud.daemons.core.db.session import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions, which a test keeps in step: daemons compare the
# database with it at start without importing Alembic, about 10 MB of each daemon's memory.
HEAD = "0013"


def _alembic_config():
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    pending: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


class SchemaOutdated(RuntimeError):
    pass


def status(db: Database) -> SchemaStatus:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    pending = tuple(rev.revision for rev in script.iterate_revisions(head, current))
    return SchemaStatus(current=current, head=head, pending=tuple(reversed(pending)))


def sync(db: Database) -> SchemaStatus:
    from alembic import command

    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return status(db)


def require_current(db: Database) -> None:
    """Raise SchemaOutdated unless the database is at HEAD (Alembic explains the difference)."""
    try:
        with db.reader() as session:
            if session.scalar(text("SELECT version_num FROM alembic_version")) == HEAD:
                return
    except exc.DBAPIError:
        pass  # no alembic_version table: an empty database, which status() reports as such
    found = status(db)
    if not found.up_to_date:
        raise SchemaOutdated(
            f"database schema is at {found.current or 'nothing (empty database)'}, this ncloud needs "
            f"{found.head}: run 'ncloud db sync'")
