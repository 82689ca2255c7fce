"""Fixtures for tests of the shared core and the scheduler against a real, migrated database."""

import pytest

from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.session import Database


@pytest.fixture
def db(db_url):
    """A migrated database on each backend (SQLite, MariaDB, PostgreSQL): see tests/conftest.py."""
    database = Database(db_url)
    migrate.sync(database)
    yield database
    database.dispose()
