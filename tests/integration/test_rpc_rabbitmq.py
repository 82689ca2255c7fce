"""The RPC layer over a real RabbitMQ: delivery, acknowledgement after the handler, reconnection."""

import signal
import subprocess
import sys
import time

import pytest

from ncloud.daemons.core import exception, rpc
from ncloud.daemons.core.context import RequestContext
from tests.cloud import wait_until
from tests.servers import _pdeathsig

pytestmark = pytest.mark.slow
CTX = RequestContext(user_id="u", project_id="p")


class Endpoint:
    def __init__(self):
        self.done: list[str] = []

    def echo(self, ctx, value):
        return value

    def work(self, ctx, item):
        self.done.append(item)

    def fail(self, ctx):
        raise exception.InstanceNotFound(instance_id="x")


def test_call_cast_and_remote_errors_over_rabbitmq(rabbitmq):
    transport = rpc.Transport(rabbitmq.url)
    endpoint = Endpoint()
    server = rpc.RPCServer(transport, "t1", "h1", endpoint, workers=2)
    server.start()
    try:
        client = rpc.RPCClient(transport, "t1", timeout=10)
        assert client.call(CTX, "echo", value={"a": [1, 2]}) == {"a": [1, 2]}
        with pytest.raises(exception.InstanceNotFound):
            client.call(CTX, "fail")
        client.cast(CTX, "work", item="one")
        wait_until(lambda: endpoint.done == ["one"], 10, what="cast handled")
    finally:
        server.stop()
        transport.close()


STUCK_SERVER = """
import sys, time, pathlib
from ncloud.daemons.core import rpc

class Endpoint:
    def work(self, ctx, item):
        pathlib.Path(sys.argv[2]).write_text(item)
        time.sleep(3600)

rpc.RPCServer(rpc.Transport(sys.argv[1]), "t2", "h1", Endpoint(), workers=1).start()
time.sleep(3600)
"""


def test_message_is_redelivered_when_its_consumer_dies_before_acknowledging(rabbitmq, tmp_path):
    """Work is acknowledged only after its handler returned: a daemon killed mid-handler leaves
    the message to another server of the topic."""
    marker = tmp_path / "started"
    doomed = subprocess.Popen([sys.executable, "-c", STUCK_SERVER, rabbitmq.url, str(marker)],
                              preexec_fn=_pdeathsig(signal.SIGKILL))
    transport = rpc.Transport(rabbitmq.url)
    try:
        rpc.RPCClient(transport, "t2").cast(CTX, "work", item="important")
        wait_until(marker.exists, 30, what="the first server to start the work")
        doomed.kill()
        doomed.wait(10)
        healthy = Endpoint()
        second = rpc.RPCServer(transport, "t2", "h2", healthy, workers=1)
        second.start()
        try:
            wait_until(lambda: healthy.done == ["important"], 20, what="redelivery to the second server")
        finally:
            second.stop()
    finally:
        if doomed.poll() is None:
            doomed.kill()
        transport.close()


def test_consumers_reconnect_and_queued_work_survives_a_broker_restart(rabbitmq):
    transport = rpc.Transport(rabbitmq.url)
    endpoint = Endpoint()
    server = rpc.RPCServer(transport, "t3", "h1", endpoint, workers=1)
    server.start()
    server.stop()  # nobody consumes while the broker restarts: the message must wait in its durable queue
    rpc.RPCClient(transport, "t3").cast(CTX, "work", item="before-restart")
    rabbitmq.restart()
    server = rpc.RPCServer(transport, "t3", "h1", endpoint, workers=1)
    server.start()
    try:
        wait_until(lambda: "before-restart" in endpoint.done, 30, what="queued cast after restart")
        # the same, long-lived consumer keeps working across a second restart
        rabbitmq.restart()
        started = time.monotonic()
        client = rpc.RPCClient(transport, "t3", timeout=5)
        wait_until(lambda: _answers(client), 60, interval=0.5, what="calls after reconnect")
        assert time.monotonic() - started < 60
    finally:
        server.stop()
        transport.close()


def _answers(client) -> bool:
    try:
        return client.call(CTX, "echo", value=1) == 1
    except (exception.MessagingTimeout, exception.MessagingUnavailable):
        return False
