"""The schema: what the migrations build is what the models describe, on every backend."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.models import Base
from ncloud.daemons.core.db.session import Database


def test_the_migrated_schema_matches_the_models(db):
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_head_daemons_check_is_the_newest_migration():
    assert ScriptDirectory.from_config(migrate._alembic_config()).get_current_head() == migrate.HEAD


def test_daemons_refuse_an_empty_database_and_accept_a_migrated_one(db_url):
    db = Database(db_url)
    try:
        with pytest.raises(migrate.SchemaOutdated, match=r"at nothing \(empty database\).*run 'ncloud db sync'"):
            migrate.require_current(db)
        migrate.sync(db)
        migrate.require_current(db)
    finally:
        db.dispose()
