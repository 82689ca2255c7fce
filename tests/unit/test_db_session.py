"""The database session layer: what a connection goes back to the pool as."""

from sqlalchemy import text

from ncloud.daemons.core.db.session import Database


def test_a_connection_returned_inside_a_transaction_is_rolled_back(db):
    with db.writer() as session:
        session.execute(text("CREATE TABLE scratch (id INTEGER)"))
    raw = db.engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("BEGIN")  # SQLite connections are in autocommit mode until we begin
    cursor.execute("INSERT INTO scratch VALUES (1)")
    cursor.close()
    raw.close()  # back to the pool with the insert neither committed nor rolled back

    with db.reader() as session:
        assert session.scalar(text("SELECT COUNT(*) FROM scratch")) == 0
    with db.writer() as session:  # the pooled connection holds no lock or snapshot either
        session.execute(text("INSERT INTO scratch VALUES (2)"))
    with db.reader() as session:
        assert session.scalars(text("SELECT id FROM scratch")).all() == [2]


def test_a_committed_transaction_costs_no_extra_rollback_on_mariadb(mariadb_database):
    db = Database(mariadb_database, pool_size=1, max_overflow=0)  # one connection: the one we ask
    try:
        def rollbacks() -> int:
            with db.reader() as session:
                return int(session.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'")).one()[1])

        before = rollbacks()
        for n in range(5):
            with db.writer() as session:
                session.execute(text("SELECT :n"), {"n": n})
        assert rollbacks() == before
    finally:
        db.dispose()
