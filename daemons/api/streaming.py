"""Request bodies handed to the application while they arrive: image uploads stream.

waitress reads a whole request body (into memory, then a spool file) before it runs the
application. For an image upload that meant a second copy of every byte on disk, a quota
checked only once the whole image had arrived, and no `saving` status while it did. For the
requests `server.streams(method, path)` selects, this starts the application as soon as the
headers are in, with a bounded `Pipe` as `wsgi.input` that the socket loop fills as data comes:
when the pipe is full the loop stops reading that connection (TCP then holds the client back),
and the reader wakes the loop again once it has made room.

A streaming request holds a request thread for as long as its body takes to arrive, so at most
`stream_slots` of them stream at once; others are read whole first, as any request is.

This builds on waitress's channel and parser classes (`StreamingChannel` is set as the servers'
`channel_class`); tests/api/test_api_server.py checks the behaviour end to end on a real
socket, so a waitress release that changed those classes would be noticed.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import WSGITask

CAPACITY = 4 * 1024 * 1024  # bytes a pipe holds before the socket loop stops reading


class BodyInterrupted(OSError):
    """The request body stopped before its end: the client went away, stalled, or sent garbage."""


class Pipe:
    """A request body between the socket loop (writer) and a request thread (reader).

    Writer side (waitress's receivers call it as their buffer): `append`, `finish`, `fail`,
    `full`, `len()`. Reader side (the WSGI input): `read`, `readline`, iteration.
    """

    def __init__(self, wake, timeout: float, release):
        self._wake = wake  # wakes the socket loop, which then asks `full()` again
        self._timeout = timeout
        self._release = release
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._received = 0
        self._done = False
        self._error: str | None = None
        self._discard = False
        self._condition = threading.Condition()

    # -- the socket loop's side ----------------------------------------------------------------
    def append(self, data: bytes) -> None:
        with self._condition:
            self._received += len(data)
            if self._discard:
                return
            self._chunks.append(bytes(data))
            self._buffered += len(data)
            self._condition.notify()

    def __len__(self) -> int:
        return self._received

    def full(self) -> bool:
        return self._buffered >= CAPACITY and not self._discard

    def finish(self) -> None:
        self._end(None)

    def fail(self, reason: str) -> None:
        self._end(reason)

    def _end(self, error: str | None) -> None:
        with self._condition:
            if not self._done:
                self._done, self._error = True, error
                self._condition.notify_all()
        self._give_back()

    # -- what waitress's parser calls it -------------------------------------------------------
    def getfile(self):
        return self

    def close(self) -> None:
        """The application is done with the body: whatever still arrives is dropped."""
        with self._condition:
            self._discard = True
            self._chunks.clear()
            self._buffered = 0
            if not self._done:
                self._done, self._error = True, "the application stopped reading"
            self._condition.notify_all()
        self._give_back()
        self._wake()

    def _give_back(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    # -- the application's side ----------------------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        """`size` bytes (all of the rest when negative), fewer only at the end of the body, as a
        file reads: WSGI frameworks count what they asked for, not what they got."""
        parts, wanted = [], size
        while wanted != 0:
            part = self._read_some(wanted)
            if not part:
                break
            parts.append(part)
            wanted = wanted - len(part) if wanted > 0 else wanted
        return b"".join(parts)

    def _read_some(self, size: int) -> bytes:
        """What is there now, up to `size`, waiting for the first bytes; b"" at the end."""
        with self._condition:
            deadline = time.monotonic() + self._timeout
            while not self._chunks and not self._done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BodyInterrupted(f"no request data for {self._timeout:.0f} s")
                self._condition.wait(left)
            if not self._chunks:
                if self._error is not None:
                    raise BodyInterrupted(self._error)
                return b""
            was_full = self._buffered >= CAPACITY
            taken = self._take(size)
        if was_full and not self.full():
            self._wake()
        return taken

    def _take(self, size: int) -> bytes:
        if size is None or size < 0:
            data = b"".join(self._chunks)
            self._chunks.clear()
        else:
            parts, wanted = [], size
            while self._chunks and wanted > 0:
                chunk = self._chunks.popleft()
                if len(chunk) > wanted:
                    self._chunks.appendleft(chunk[wanted:])
                    chunk = chunk[:wanted]
                parts.append(chunk)
                wanted -= len(chunk)
            data = b"".join(parts)
        self._buffered -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        line = b""
        while not line.endswith(b"\n") and (size < 0 or len(line) < size):
            byte = self._read_some(1)
            if not byte:
                break
            line += byte
        return line

    def __iter__(self):
        return iter(lambda: self._read_some(64 * 1024), b"")


class StreamingParser(HTTPRequestParser):
    pipe: Pipe | None = None
    dispatched = False  # handed to a request thread before its body completed

    def __init__(self, adj, channel: StreamingChannel):
        super().__init__(adj)
        self.channel = channel

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        server = self.channel.server
        if (self.body_rcv is not None and server.streams(self.command, self.path)
                and server.stream_slots.acquire(blocking=False)):
            self.pipe = Pipe(server.pull_trigger, self.adj.channel_timeout, server.stream_slots.release)
            self.body_rcv.buf = self.pipe  # waitress's receivers write to `.buf`

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed and self.pipe is not None:
            if self.error is not None:
                self.pipe.fail(str(self.error))
            else:
                self.pipe.finish()
            if self.dispatched:
                self.empty = True  # already queued: the channel must not queue it a second time
        return consumed

    def get_body_stream(self):
        return self.pipe if self.pipe is not None else super().get_body_stream()


class StreamingTask(WSGITask):
    def build_response_header(self):
        """An answer given before the body's end (a refused upload) ends the connection: the
        client is told so (`Connection: close`) and need not send the rest."""
        request = self.request
        if isinstance(request, StreamingParser) and request.dispatched and not request.completed:
            self.set_close_on_finish()
        return super().build_response_header()


class StreamingChannel(HTTPChannel):
    task_class = StreamingTask

    def parser_class(self, adj) -> StreamingParser:  # waitress calls self.parser_class(adj)
        return StreamingParser(adj, self)

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        request = self.request
        if isinstance(request, StreamingParser) and request.pipe is not None and not request.dispatched \
                and request.headers_finished and not request.completed:
            request.dispatched = True
            with self.requests_lock:
                self.requests.append(request)
                first = len(self.requests) == 1
            if first:
                self.server.add_task(self)
        return result

    def readable(self) -> bool:
        request = self.request
        if isinstance(request, StreamingParser) and request.dispatched:
            return not (self.will_close or self.close_when_flushed or request.pipe.full())
        return super().readable()

    def handle_close(self) -> None:
        request = self.request
        if isinstance(request, StreamingParser) and request.pipe is not None and not request.completed:
            request.pipe.fail("the client closed the connection before the end of the body")
        super().handle_close()


def enable(servers, streams, slots: int) -> None:
    """Stream the bodies of the requests `streams(method, path)` selects on these waitress
    servers (one per listening socket), at most `slots` at once."""
    semaphore = threading.BoundedSemaphore(slots)
    for server in servers:
        server.channel_class = StreamingChannel
        server.streams = streams
        server.stream_slots = semaphore
