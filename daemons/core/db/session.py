"""The one way ncloud code talks to the database: `with db.writer() as s:` / `with db.reader() as s:`.

Each block is one transaction, committed when the block ends and rolled back if it raises, like
oslo.db's enginefacade reader/writer. On SQLite a writer transaction starts with BEGIN IMMEDIATE,
so two writers queue on the database lock up front instead of deadlocking when they both try to
upgrade a read lock; readers never block thanks to WAL. On MariaDB/PostgreSQL both share one
pooled engine, with pre-ping so a restarted database server is reconnected transparently, and
every backend but SQLite (serializable) at READ COMMITTED.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import orjson
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ncloud.daemons.core import exception

LOG = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30000
# JSON columns (flavors, metadata, request specs) through orjson: parsing them was a fifth of a
# thousand-server list. Non-string keys are written as strings, as json.dumps does.
JSON_CODEC = {"json_serializer": lambda value: orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode(),
              "json_deserializer": orjson.loads}


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached (the API answers 503 with a retry hint)."""


exception.TRANSIENT.extend([DatabaseUnavailable, exc.OperationalError, exc.InterfaceError, exc.DisconnectionError])


def _sqlite_engine(url, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                           pool_size=20, max_overflow=20, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


IDLE_PING_AFTER = 5.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before use, but only if it sat idle for a while.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one extra round trip per transaction,
    a tenth of the conductor's work in a boot. A connection in steady use is known good; one that
    idled may have been cut by a database restart or an idle timeout, and is pinged (and replaced
    if dead) before it is handed out.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _fresh(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_PING_AFTER:
            return
        try:
            dbapi_connection.ping(False) if hasattr(dbapi_connection, "ping") else _select_one(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"connection went away while idle: {error}") from error


def _reset_only_when_needed(engine: Engine) -> None:
    """Roll back a connection returned to the pool only when it is inside a transaction.

    The pool's default resets every returned connection with a ROLLBACK: one more round trip
    after every COMMIT, a sixth of the statements of a boot. The database tells whether a
    transaction is open (MariaDB/MySQL in the status flags of every reply, PostgreSQL in the
    connection's transaction status), so a connection that committed goes back as it is and
    any other still gets its ROLLBACK.
    """

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection, _record, reset_state):
        if not reset_state.terminate_only and _in_transaction(dbapi_connection):
            dbapi_connection.rollback()


MYSQL_SERVER_STATUS_IN_TRANS = 1


def _in_transaction(dbapi_connection) -> bool:
    status = getattr(dbapi_connection, "server_status", None)  # PyMySQL
    if isinstance(status, int):
        return bool(status & MYSQL_SERVER_STATUS_IN_TRANS)
    transaction_status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)  # psycopg
    if transaction_status is not None:
        return transaction_status != 0  # psycopg.pq.TransactionStatus.IDLE
    return True  # a driver that does not say: reset, to be safe


def _select_one(dbapi_connection) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
        dbapi_connection.rollback()  # leave no transaction open behind the ping


class Database:
    """Engines and sessions for one database URL; one instance per process and URL."""

    def __init__(self, url: str, pool_size: int = 10, max_overflow: int = 20, recycle: int = 3600):
        self.url = make_url(url)
        if self.url.get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(self.url, immediate=True)
            self._read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            # READ COMMITTED on MariaDB as on PostgreSQL (its default): every statement sees what
            # was committed before it. Under MariaDB's REPEATABLE READ a transaction keeps reading
            # the snapshot of its first read, so a count made after taking a lock (core/quotas.py)
            # could miss what the lock's previous holder created.
            options = {"isolation_level": "READ COMMITTED"} if self.url.get_backend_name() == "mysql" else {}
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=max_overflow,
                                        pool_recycle=recycle, pool_reset_on_return=None, **options, **JSON_CODEC)
            _ping_when_idle(self.engine)
            _reset_only_when_needed(self.engine)
            self._read_engine = self.engine
        self._writer = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._reader = sessionmaker(bind=self._read_engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextlib.contextmanager
    def writer(self) -> Iterator[Session]:
        """A read-write transaction."""
        with self._writer.begin() as session:
            yield session

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only transaction (never blocks writers on SQLite)."""
        with self._reader.begin() as session:
            yield session

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        try:
            with self._read_engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except exc.SQLAlchemyError as error:
            raise DatabaseUnavailable(str(error.__cause__ or error)) from error

    def wait_until_reachable(self, attempts: int, delay: float = 1.0) -> None:
        for attempt in range(attempts + 1):
            try:
                self.ping()
                return
            except DatabaseUnavailable as error:
                if attempt == attempts:
                    raise
                LOG.warning("database %s unreachable (%s); retrying in %.0fs",
                            self.url.render_as_string(hide_password=True), error, delay)
                time.sleep(delay)

    def warm(self, connections: int) -> None:
        """Open up to `connections` pooled connections now, not during the first requests.

        A burst of requests right after start would otherwise pay for opening them (a TCP and
        authentication handshake each), which is most of the slowest responses of that burst.
        """
        size = self.engine.pool.size() if hasattr(self.engine.pool, "size") else connections
        held = []
        try:
            for _ in range(min(connections, size)):
                held.append(self.engine.connect())
        finally:
            for connection in held:
                connection.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not self.engine:
            self._read_engine.dispose()


def retry_on_deadlock(func: Callable[[], T], attempts: int = 5) -> T:
    """Run a whole transaction again when the database chose it as a deadlock victim."""
    for attempt in range(attempts):
        try:
            return func()
        except exc.OperationalError as error:
            message = str(error.orig).lower()
            transient = "deadlock" in message or "database is locked" in message or "lock wait" in message
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (2 ** attempt))
    raise AssertionError("unreachable")
