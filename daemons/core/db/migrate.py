"""Schema migrations: `ncloud db sync` brings a database to the newest schema, `ncloud db status` tells.

Every daemon refuses to start against a database whose schema is older than its code, so a
forgotten `db sync` is a clear message at start instead of a strange error at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ncloud.daemons.core.db.session import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
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
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    pending = tuple(rev.revision for rev in script.iterate_revisions(head, current))
    return SchemaStatus(current=current, head=head, pending=tuple(reversed(pending)))


def sync(db: Database) -> SchemaStatus:
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return status(db)


def require_current(db: Database) -> None:
    found = status(db)
    if not found.up_to_date:
        raise SchemaOutdated(
            f"database schema is at {found.current or 'nothing (empty database)'}, this ncloud needs "
            f"{found.head}: run 'ncloud db sync'")
