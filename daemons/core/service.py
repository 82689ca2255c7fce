"""A daemon's life cycle: register, consume its topic, prove it is alive, run periodic tasks, stop.

Every ncloud daemon is a `Service` (or several: the all-in-one and the fake driver's simulated
hosts run many in one process). Concurrency is threads throughout (see
docs/decisions/0003-concurrency.md): one RPC consumer thread per worker, one thread per periodic
task, and the API's request threads.

A heartbeat is a message the service sends to its own `<topic>.<host>.heartbeat` queue every
`report_interval`; only when its consumer loop handles it is the service recorded as alive. A
daemon whose socket is open but whose process is wedged therefore goes down, as it should; one
whose workers are merely all busy does not (the heartbeat queue has a consumer of its own).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from ncloud.daemons.core import rpc
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import admin_context

LOG = logging.getLogger(__name__)


class Periodic:
    """Runs `func` every `interval` seconds in its own thread until stopped; errors are logged."""

    def __init__(self, name: str, interval: float, func: Callable[[], object], initial_delay: float | None = None):
        self.name = name
        self.interval = interval
        self.func = func
        self.initial_delay = interval if initial_delay is None else initial_delay
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"periodic-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        if self._stop.wait(self.initial_delay):
            return
        while True:
            try:
                self.func()
            except Exception:
                LOG.exception("periodic task %s failed; it runs again in %ss", self.name, self.interval)
            if self._stop.wait(self.interval):
                return


class Service:
    """One daemon role on one host: an RPC server for `topic`, heartbeats and periodic tasks.

    Subclasses set `binary` and `topic`, give the endpoint (the object whose methods are the RPC
    API), and implement `register()` / `report_alive()` (directly in the database, or through the
    conductor for computes, which never touch the database).
    """

    binary = "ncloud-service"
    topic = "service"

    def __init__(self, conf: Config, transport: rpc.Transport, host: str | None = None):
        self.conf = conf
        self.transport = transport
        self.host = host or conf.default.host
        self.periodics: list[Periodic] = []
        self.rpcserver: rpc.RPCServer | None = None
        self._heartbeat_queue = rpc.heartbeat_queue(self.topic, self.host)

    # -- hooks -------------------------------------------------------------------------------
    def endpoint(self) -> object:
        raise NotImplementedError

    def register(self) -> None:
        """Create or refresh this service's row in the services table."""

    def report_alive(self) -> None:
        """Record a heartbeat that went through the consumer loop."""

    def on_start(self) -> None:
        """Work to do after registering, before consuming (e.g. reconcile state)."""

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.register()
        # Settle leftovers of a previous life before consuming: a redelivered message then finds
        # its instance already settled instead of racing with the settling.
        self.on_start()
        self.rpcserver = rpc.RPCServer(self.transport, self.topic, self.host, self.endpoint(),
                                       workers=self.conf.default.rpc_workers, on_heartbeat=self.report_alive,
                                       binary=self.binary)
        self.rpcserver.start()
        self.periodics.insert(0, Periodic("heartbeat", self.conf.default.report_interval, self._send_heartbeat,
                                          initial_delay=0))
        for periodic in self.periodics:
            periodic.start()
        LOG.info("%s started on host %s (topic %s)", self.binary, self.host, self.topic)

    def _send_heartbeat(self) -> None:
        # Non-persistent with a TTL: heartbeats queued while the consumer is stuck must not later
        # make a long-dead service look alive.
        ttl = max(self.conf.default.report_interval, 1.0)
        self.transport.publish(
            {"method": "heartbeat", "args": {}, "version": rpc.VERSION, "context": admin_context().to_dict()},
            self._heartbeat_queue, declare=[self.transport.queue(self._heartbeat_queue)], persistent=False,
            expiration=ttl)

    def request_stop(self) -> None:
        """Stop taking work: no new message, no further periodic run."""
        for periodic in self.periodics:
            periodic.stop()
        if self.rpcserver is not None:
            self.rpcserver.request_stop()

    def wait(self, deadline: float) -> bool:
        """Whether the work in progress ended before `deadline` (time.monotonic())."""
        return self.rpcserver is None or self.rpcserver.wait(deadline)

    def on_stop(self) -> None:
        """Release what the service holds once its work has ended."""

    def stop(self) -> None:
        stop_services([self], self.transport, self.conf.default.graceful_shutdown_timeout)


# Once the calls still waiting are abandoned, the seconds their handlers get to unwind.
UNWIND_TIME = 2.0


def stop_services(services: list[Service], transport: rpc.Transport, grace: float) -> None:
    """Stop `services` together: the operations in progress get `grace` seconds in all.

    Together, not one after the other: a compute process simulating ten hosts would otherwise
    give each host its own grace period. Handlers still blocked at the deadline, typically in a
    call to a daemon that has stopped first, have their calls abandoned; they return without
    acknowledging their messages, which the broker then hands to the next consumer.
    """
    for service in services:
        service.request_stop()
    deadline = time.monotonic() + grace
    busy = [service for service in services if not service.wait(deadline)]
    if busy:
        LOG.warning("operations still running on %s after %gs ([DEFAULT] graceful_shutdown_timeout); abandoning "
                    "their calls, their messages go back to the queue", ", ".join(s.host for s in busy), grace)
        transport.interrupt_calls()
        deadline = time.monotonic() + UNWIND_TIME
        for service in busy:
            service.wait(deadline)
    for service in services:
        service.on_stop()
        LOG.info("%s on host %s stopped", service.binary, service.host)


def stop_on_signals() -> threading.Event:
    """An event that SIGINT or SIGTERM sets from now on.

    Installed before a daemon starts its services, so that a stop asked for while it starts
    (a service manager's quick restart) is honoured once it has started, not lost to the
    signal's default action killing it half way.
    """
    stop = threading.Event()

    def _handler(signum, _frame):
        LOG.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGINT/SIGTERM (or `stop` is set)."""
    stop = stop or stop_on_signals()
    while not stop.wait(0.5):
        pass


class DatabaseService(Service):
    """A service that owns a database connection (api side: scheduler, conductor) and records
    its own registration and heartbeats there."""

    def __init__(self, conf: Config, transport: rpc.Transport, db, host: str | None = None):
        super().__init__(conf, transport, host)
        self.db = db

    def register(self) -> None:
        from ncloud.daemons.core import servicegroup

        servicegroup.register(self.db, self.host, self.binary, self.topic)

    def report_alive(self) -> None:
        from ncloud.daemons.core import servicegroup

        with self.db.writer() as session:
            servicegroup.heartbeat(session, self.host, self.binary)
