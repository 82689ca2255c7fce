"""Shared pytest fixtures: real throw-away servers (see tests/servers.py).

rabbitmq, mariadb, postgresql
    Session-scoped servers, started the first time a test asks for one (RabbitMQ
    takes 7-10 s, the databases about 1 s) and stopped at the end of the session.
db_url
    A fresh, empty database URL for one test, once per backend in NCLOUD_TEST_DBS
    (default "sqlite,mariadb,postgresql"; NCLOUD_TEST_DBS=sqlite needs no server).
    SQLite: a file in tmp_path.  MariaDB/PostgreSQL: a new database with a unique
    name, dropped after the test (connections still open to it are killed).
"""

import os
import uuid

import pytest

from tests.servers import MariaDB, PostgreSQL, RabbitMQ

DB_BACKENDS = [b.strip() for b in
               os.environ.get("NCLOUD_TEST_DBS", "sqlite,mariadb,postgresql").split(",")
               if b.strip()]
if not set(DB_BACKENDS) <= {"sqlite", "mariadb", "postgresql"}:
    raise pytest.UsageError(f"NCLOUD_TEST_DBS: unknown backend in {DB_BACKENDS}")


@pytest.fixture(scope="session")
def rabbitmq():
    """A RabbitMQ broker: .url (amqp://guest:guest@127.0.0.1:PORT//), .restart()."""
    with RabbitMQ() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb():
    """A MariaDB server: .url (database `ncloud`), .create_database(name)."""
    with MariaDB() as server:
        yield server


@pytest.fixture(scope="session")
def postgresql():
    """A PostgreSQL server: .url (database `ncloud`), .create_database(name)."""
    with PostgreSQL() as server:
        yield server


@pytest.fixture(params=DB_BACKENDS)
def db_url(request, tmp_path):
    """SQLAlchemy URL of an empty database of this test's own (see module doc)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    server = request.getfixturevalue(request.param)
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def mariadb_database(mariadb):
    """A fresh, empty MariaDB database URL for one test (for the production-path tests)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = mariadb.create_database(name)
    yield url
    mariadb.drop_database(name)


@pytest.fixture
def transport():
    """The in-process message transport (memory://), closed after the test."""
    from ncloud.daemons.core import rpc

    transport = rpc.Transport("memory://")
    yield transport
    transport.close()
