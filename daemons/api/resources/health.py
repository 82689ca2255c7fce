"""GET /healthcheck: whether this API process can do its work, for load balancers and `ncloud check`.

It can when the database answers and a message can be published to the bus. The bus probe uses a
connection of its own with a short timeout (the shared publisher retries for most of a minute,
far too long for a probe) and a routing key nothing is bound to, so the broker drops the message.
The body names what failed but not why (it is unauthenticated); the why goes to the log.
"""

from __future__ import annotations

import logging

import falcon
from kombu import Connection

from ncloud.daemons.api.errors import RETRY_AFTER
from ncloud.daemons.core import rpc
from ncloud.daemons.core.db.session import Database, DatabaseUnavailable

LOG = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
PROBE_ROUTING_KEY = "ncloud-api-healthcheck"


def probe_message_bus(transport: rpc.Transport, timeout: float = PROBE_TIMEOUT) -> None:
    """Publish one throw-away message; raises on any failure."""
    with Connection(transport.url, transport_options=transport.options, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        producer = conn.Producer(serializer="json")
        producer.publish({"probe": True}, exchange=transport.exchange, routing_key=PROBE_ROUTING_KEY,
                         declare=[transport.exchange], delivery_mode=1, retry=False, expiration=timeout)


class Health:
    def __init__(self, db: Database, transport: rpc.Transport):
        self.db = db
        self.transport = transport

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = {"database": "ok", "message_bus": "ok"}
        try:
            self.db.ping()
        except DatabaseUnavailable as error:
            LOG.warning("health check: database unavailable: %s", error)
            checks["database"] = "unavailable"
        try:
            probe_message_bus(self.transport)
        except Exception as error:  # kombu raises transport-specific types
            LOG.warning("health check: message bus unavailable: %s: %s", type(error).__name__, error)
            checks["message_bus"] = "unavailable"
        healthy = all(value == "ok" for value in checks.values())
        resp.status = 200 if healthy else 503
        resp.media = {"status": "ok" if healthy else "error", **checks}
        if not healthy:
            resp.set_header("Retry-After", str(RETRY_AFTER))
