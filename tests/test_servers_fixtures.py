"""The server fixtures work: SQL on every db_url backend, AMQP through RabbitMQ."""

import kombu
import sqlalchemy as sa

NAMES = ["plain", "ünïcödé", "emoji 😀"]  # the emoji needs utf8mb4 on MariaDB


def _things(metadata):
    return sa.Table(
        "things", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )


def test_db_url_roundtrip(db_url):
    engine = sa.create_engine(db_url)
    try:
        metadata = sa.MetaData()
        things = _things(metadata)
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
            metadata.create_all(conn)
            conn.execute(things.insert(), [{"name": n} for n in NAMES])
        with engine.connect() as conn:
            got = conn.execute(sa.select(things.c.name).order_by(things.c.id)).scalars()
            assert list(got) == NAMES
    finally:
        engine.dispose()


def test_db_url_is_fresh(db_url):
    """Each test gets its own empty database (test_db_url_roundtrip left a table)."""
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def _consume_one(conn, queue, timeout=10):
    """Consume and ack one message from QUEUE; its decoded body."""
    got = []

    def on_message(body, message):
        got.append(body)
        message.ack()

    with conn.Consumer(queue, callbacks=[on_message], accept=["json"]):
        while not got:
            conn.drain_events(timeout=timeout)
    return got[0]


def test_rabbitmq_persistent_message_survives_restart(rabbitmq):
    exchange = kombu.Exchange("fixture-test", type="direct", durable=True)
    queue = kombu.Queue("fixture-test", exchange, routing_key="k", durable=True)

    def publish(conn, body):
        conn.Producer().publish(body, exchange=exchange, routing_key="k", declare=[queue],
                                delivery_mode="persistent", serializer="json", retry=True)

    with kombu.Connection(rabbitmq.url) as conn:
        publish(conn, {"n": 1})
        assert _consume_one(conn, queue) == {"n": 1}
        publish(conn, {"n": 2})  # still queued when the broker goes down

    port = rabbitmq.port
    rabbitmq.restart()
    assert rabbitmq.port == port and rabbitmq.running

    with kombu.Connection(rabbitmq.url) as conn:
        assert _consume_one(conn, queue) == {"n": 2}
        queue(conn.default_channel).delete()
