"""The RPC layer on the embedded transport: call, cast, fanout, errors, timeouts, ping, heartbeat."""

import threading
import time

import pytest

from ncloud.daemons.core import exception, rpc
from ncloud.daemons.core.context import RequestContext


class Recorder:
    def __init__(self):
        self.casts = []
        self.event = threading.Event()

    def add(self, ctx, a, b):
        return a + b

    def whoami(self, ctx):
        return {"user": ctx.user_id, "project": ctx.project_id, "request_id": ctx.request_id}

    def remember(self, ctx, value):
        self.casts.append(value)
        self.event.set()

    def missing_flavor(self, ctx):
        raise exception.FlavorNotFound(flavor_id="42")

    def bug(self, ctx):
        return {}["nope"]

    def slow(self, ctx, seconds):
        time.sleep(seconds)


@pytest.fixture
def server(transport):
    endpoint = Recorder()
    server = rpc.RPCServer(transport, "demo", "host1", endpoint, workers=2)
    server.start()
    yield endpoint
    server.stop()


CTX = RequestContext(user_id="alice", project_id="p1", roles=["member"])


def test_call_returns_the_result(transport, server):
    assert rpc.RPCClient(transport, "demo").call(CTX, "add", a=2, b=3) == 5


def test_context_travels_with_the_message(transport, server):
    seen = rpc.RPCClient(transport, "demo").call(CTX, "whoami")
    assert seen == {"user": "alice", "project": "p1", "request_id": CTX.request_id}


def test_cast_is_delivered(transport, server):
    rpc.RPCClient(transport, "demo").cast(CTX, "remember", value="x")
    assert server.event.wait(5)
    assert server.casts == ["x"]


def test_known_remote_error_comes_back_with_its_type_and_message(transport, server):
    with pytest.raises(exception.FlavorNotFound, match="Flavor 42 could not be found."):
        rpc.RPCClient(transport, "demo").call(CTX, "missing_flavor")


def test_unexpected_remote_error_comes_back_as_remote_error(transport, server):
    with pytest.raises(exception.RemoteError, match="KeyError 'nope'"):
        rpc.RPCClient(transport, "demo").call(CTX, "bug")


def test_unknown_method_is_refused(transport, server):
    with pytest.raises(exception.Invalid, match="demo has no RPC method 'drop_tables'"):
        rpc.RPCClient(transport, "demo").call(CTX, "drop_tables")


def _send(transport, version: str, **args):
    """A call as a daemon of another release sends it."""
    client = rpc.RPCClient(transport, "demo", version=version)
    return client.call(CTX, "add", **args)


def test_a_newer_release_s_added_arguments_are_dropped(transport, server):
    """One release of skew during a rolling upgrade: 1.1 added an optional argument."""
    assert _send(transport, "1.1", a=2, b=3, c=4) == 5


def test_the_same_release_s_unknown_argument_is_an_error(transport, server):
    with pytest.raises(exception.RemoteError, match="unexpected keyword argument 'c'"):
        _send(transport, rpc.VERSION, a=2, b=3, c=4)


def test_another_major_version_is_refused(transport, server):
    with pytest.raises(exception.Invalid, match=r"unsupported RPC version 2.0 \(this demo speaks 1.0\): upgrade"):
        _send(transport, "2.0", a=2, b=3)


def test_call_times_out_with_method_and_topic(transport, server):
    with pytest.raises(exception.MessagingTimeout, match=r"0.2s waiting for a reply to slow on demo"):
        rpc.RPCClient(transport, "demo", timeout=0.2).call(CTX, "slow", seconds=1)


def test_ping_reaches_one_host(transport, server):
    assert rpc.RPCClient(transport, "demo", server="host1").call(CTX, "ping") == {
        "host": "host1", "topic": "demo", "binary": "ncloud-demo", "version": rpc.VERSION}


def test_heartbeat_runs_the_callback_in_the_consumer(transport):
    beats = threading.Event()
    server = rpc.RPCServer(transport, "beat", "h", object(), workers=1, on_heartbeat=beats.set)
    server.start()
    try:
        rpc.RPCClient(transport, "beat", server="h").cast(CTX, "heartbeat")
        assert beats.wait(5)
    finally:
        server.stop()


def test_fanout_reaches_every_server_of_the_topic(transport):
    endpoints = [Recorder(), Recorder()]
    servers = [rpc.RPCServer(transport, "fan", f"h{i}", ep, workers=1) for i, ep in enumerate(endpoints)]
    for server in servers:
        server.start()
    try:
        rpc.RPCClient(transport, "fan").fanout(CTX, "remember", value="all")
        for endpoint in endpoints:
            assert endpoint.event.wait(5)
            assert endpoint.casts == ["all"]
    finally:
        for server in servers:
            server.stop()


def test_cast_to_a_host_not_yet_running_waits_in_its_queue(transport):
    rpc.RPCClient(transport, "later", server="h").cast(CTX, "remember", value="queued")
    endpoint = Recorder()
    server = rpc.RPCServer(transport, "later", "h", endpoint, workers=1)
    server.start()
    try:
        assert endpoint.event.wait(5)
        assert endpoint.casts == ["queued"]
    finally:
        server.stop()
