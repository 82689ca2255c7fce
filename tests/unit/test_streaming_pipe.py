"""The pipe between waitress's socket loop and a request thread (api/streaming.py)."""

import threading

import pytest

from ncloud.daemons.api import streaming
from ncloud.daemons.api.streaming import BodyInterrupted, Pipe


def pipe(timeout: float = 5.0) -> tuple[Pipe, list, list]:
    wakes, releases = [], []
    return Pipe(lambda: wakes.append(1), timeout, lambda: releases.append(1)), wakes, releases


def test_a_read_waits_for_the_bytes_it_asks_for_and_is_short_only_at_the_end():
    body, _, releases = pipe()

    def send():
        for part in (b"ab", b"cde", b"f"):
            body.append(part)
        body.finish()

    threading.Thread(target=send).start()
    assert body.read(4) == b"abcd"  # across chunks, waiting for them
    assert body.read(4) == b"ef"
    assert body.read(4) == b""
    assert releases == [1]  # its streaming slot is given back once


def test_a_failed_body_raises_after_what_arrived_and_a_stalled_one_times_out():
    body, _, _ = pipe()
    body.append(b"xy")
    body.fail("the client closed the connection")
    assert body.read(2) == b"xy"
    with pytest.raises(BodyInterrupted, match="client closed"):
        body.read(1)
    stalled, _, _ = pipe(timeout=0.1)
    with pytest.raises(BodyInterrupted, match="no request data"):
        stalled.read(1)


def test_a_full_pipe_stops_the_socket_loop_until_read_and_a_closed_one_drops_the_rest(monkeypatch):
    monkeypatch.setattr(streaming, "CAPACITY", 4)
    body, wakes, releases = pipe()
    body.append(b"12345")
    assert body.full()
    assert body.read(3) == b"123" and not body.full() and wakes == [1]  # the loop may read again
    body.close()
    body.append(b"more")  # after the application is done: dropped
    assert not body.full() and len(body) == 9 and releases == [1]
