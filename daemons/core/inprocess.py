"""kombu's `memory://` transport, woken by arriving messages instead of polling.

kombu's virtual transports poll: a consumer with nothing to do sleeps `polling_interval`, wakes,
looks at its queues, and sleeps again. With the all-in-one's thirty-odd consumer threads that
costs a fifth of a core while the cloud does nothing, and adds up to a polling interval to every
hop (docs/decisions/0004-in-process-transport.md has the figures). Here a consumer registers a
wake-up event on each queue it consumes and sleeps until a message is put on one of them.

Everything else (exchanges, bindings, acknowledgement, fanout) is kombu's memory transport as is;
`rpc.Transport` uses this class for `memory://` URLs.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from queue import Empty
from time import monotonic

from kombu.transport import memory

_waiters: dict[str, set[threading.Event]] = defaultdict(set)
_waiters_lock = threading.Lock()


def _announce(queue: str) -> None:
    with _waiters_lock:
        for event in _waiters.get(queue, ()):
            event.set()


class Channel(memory.Channel):
    def _put(self, queue, message, **kwargs):
        super()._put(queue, message, **kwargs)
        _announce(queue)

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs):
        for queue in self._lookup(exchange, routing_key):
            self._queue_for(queue).put(message)
            _announce(queue)


class Transport(memory.Transport):
    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        self._wakeup = threading.Event()

    def drain_events(self, connection, timeout=None):
        deadline = None if timeout is None else monotonic() + timeout
        queues = {queue for channel in self.channels for queue in channel._active_queues}
        with _waiters_lock:
            for queue in queues:
                _waiters[queue].add(self._wakeup)
        try:
            while True:
                # Cleared before looking: a message put after the look sets it again, so the wait
                # below cannot miss it.
                self._wakeup.clear()
                try:
                    self.cycle.get(self._deliver, timeout=timeout)
                    return
                except Empty:
                    pass
                remaining = None if deadline is None else deadline - monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError()
                self._wakeup.wait(remaining)
        finally:
            with _waiters_lock:
                for queue in queues:
                    _waiters[queue].discard(self._wakeup)
