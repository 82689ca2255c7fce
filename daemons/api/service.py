"""The `ncloud-api` daemon: the Compute API served by waitress in threads of this process.

`APIServer` is what embeds it (the all-in-one, the tests):

    server = APIServer(conf, db, transport)      # port 0 in conf.api.bind_port: any free port
    server.start()                               # listening when this returns; server.port is bound
    ...
    server.stop()                                # closes the sockets, joins the worker threads

`run()` is one API process: configuration, logging, database and schema checks, the message
bus, the API's own row in the services table with a heartbeat every `report_interval` (written
straight to the database: the API consumes no RPC topic that could carry one), then serve until
SIGTERM or SIGINT. The console script (api/main.py) runs one, or `[api] workers` of them.
Figures behind waitress and threads: bench/webstack.py.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import exc as sa_exc
from waitress import buffers, wasyncore
from waitress.server import BaseWSGIServer, create_server
from waitress.trigger import trigger

from ncloud.daemons.api import streaming
from ncloud.daemons.api.app import create_app
from ncloud.daemons.api.image import resources as image
from ncloud.daemons.core import config, rpc, servicegroup
from ncloud.daemons.core.db.session import Database, DatabaseUnavailable
from ncloud.daemons.core.service import Periodic

LOG = logging.getLogger(__name__)

BINARY = "ncloud-api"


class APIServer:
    """The WSGI app on a waitress server running in a background thread."""

    def __init__(self, conf: config.Config, db: Database, transport: rpc.Transport,
                 host: str | None = None, port: int | None = None, sockets: list | None = None):
        self.conf = conf
        self.app = create_app(conf, db, transport)
        self.host = conf.api.bind_host if host is None else host
        self.requested_port = conf.api.bind_port if port is None else port
        self.sockets = sockets  # already bound and listening (API workers share their parent's)
        self.port: int | None = None
        self._map: dict = {}  # our own socket map: stop() closes exactly what this server opened
        self._server = None
        self._trigger = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        _spool_to(self.conf.api_spool_path)
        where = {"sockets": self.sockets} if self.sockets else {"host": self.host, "port": self.requested_port}
        # poll(2), not select(2): no limit of 1024 descriptors, and less work per loop turn.
        self._server = create_server(self.app, map=self._map, threads=self.conf.api.threads, ident="ncloud-api",
                                     expose_tracebacks=False, clear_untrusted_proxy_headers=True,
                                     asyncore_use_poll=True,
                                     # image uploads: the Image API's own limit answers 413 with a reason
                                     max_request_body_size=self.conf.image.max_image_size + 1024 * 1024,
                                     recv_bytes=65536, **where)
        # Image uploads reach the Image API while they arrive (api/streaming.py), a request
        # thread each: half the threads at most, so that uploads never take the API whole.
        streaming.enable([channel for channel in self._map.values() if isinstance(channel, BaseWSGIServer)],
                         image.streams_body, slots=max(1, self.conf.api.threads // 2))
        listen = getattr(self._server, "effective_listen", None) or [
            (self._server.effective_host, self._server.effective_port)]
        self.port = int(listen[0][1])  # waitress reports it as a string
        # Wakes the socket loop from another thread: stop() runs its closes inside the loop. A
        # single-socket server has one already; a multi-socket one (a host name with several
        # addresses) gets ours.
        self._trigger = getattr(self._server, "trigger", None) or trigger(self._map)
        self._thread = threading.Thread(target=self._server.run, name="api-http", daemon=True)
        self._thread.start()
        LOG.info("%s listening on %s with %d threads", BINARY,
                 ", ".join(f"http://{host}:{port}/compute/v2.1" for host, port in listen), self.conf.api.threads)

    @property
    def serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (bounded), then close every socket.

        Handlers commit before they answer, so a request cut off by the timeout has either
        happened or not; only its response is lost.
        """
        if self._server is None:
            return
        dispatcher = self._server.task_dispatcher
        self._in_loop(self._close_listeners)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _busy(dispatcher):
            time.sleep(0.01)
        self._in_loop(lambda: wasyncore.close_all(self._map))
        self._thread.join(timeout)
        dispatcher.shutdown(timeout=timeout)
        self._server = None
        LOG.info("%s stopped", BINARY)

    def _in_loop(self, thunk) -> None:
        """Run `thunk` in the socket loop's thread, or here if the loop's trigger is already gone
        (seen once when a signal arrived during shutdown)."""
        try:
            self._trigger.pull_trigger(thunk)
        except OSError:
            thunk()

    def _close_listeners(self) -> None:
        # The plain dispatcher close: waitress's own also closes the trigger stop() still needs.
        for channel in list(self._map.values()):
            if isinstance(channel, BaseWSGIServer):
                wasyncore.dispatcher.close(channel)


def _spool_to(path: Path) -> None:
    """Keep waitress's buffer files (a request body over 512 KiB, such as an image upload, or a
    large response) under `path` instead of /tmp, which may be a tmpfs holding them in memory.

    waitress reads a whole body before the API sees it and has no setting for where: this
    replaces the one method that creates its buffer files (tests/api/test_api_server.py checks
    that an upload really lands here, so a waitress that changed this would be noticed).
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    buffers.TempfileBasedBuffer.newfile = lambda _buffer: tempfile.TemporaryFile("w+b", dir=path)  # noqa: SIM115 - waitress closes it


def _busy(dispatcher) -> bool:
    """Requests being handled or queued (waitress keeps no public figure; absent means idle)."""
    return bool(getattr(dispatcher, "active_count", 0) or getattr(dispatcher, "queue", ()))


class ServiceRecord:
    """The API's row in the services table, so `os-services` and `ncloud check` see it alive."""

    def __init__(self, conf: config.Config, db: Database, host: str | None = None):
        self.db = db
        self.host = host or conf.default.host
        self.periodic = Periodic("api-heartbeat", conf.default.report_interval, self.heartbeat, initial_delay=0)

    def start(self) -> None:
        servicegroup.register(self.db, self.host, BINARY, None)
        self.periodic.start()

    def heartbeat(self) -> None:
        try:
            with self.db.writer() as session:
                servicegroup.heartbeat(session, self.host, BINARY)
        except (DatabaseUnavailable, sa_exc.OperationalError) as error:
            LOG.warning("heartbeat not recorded, database unavailable: %s", error)

    def stop(self) -> None:
        self.periodic.stop()


class APIService:
    """The API server and its services row, started and stopped together (the life cycle of
    core/service.py's `Service`, which `stop_services` drives)."""

    binary = BINARY

    def __init__(self, conf: config.Config, db: Database, transport: rpc.Transport, sockets: list | None = None):
        self.conf, self.db, self.transport = conf, db, transport
        self.server = APIServer(conf, db, transport, sockets=sockets)
        self.record = ServiceRecord(conf, db)
        self.host = self.record.host

    def start(self) -> None:
        # One database connection and one publisher per request thread, opened before the first
        # request rather than by it (measured: they made the slowest 2% of a burst after start).
        self.db.warm(self.conf.api.threads)
        self.transport.warm(self.conf.api.threads)
        self.server.start()
        self.record.start()

    def stop(self) -> None:
        self.record.stop()
        self.server.stop()

    request_stop = stop  # waitress finishes the requests in progress as it closes

    def wait(self, deadline: float) -> bool:
        return True

    def on_stop(self) -> None:
        pass


def run(argv: list[str] | None = None, sockets: list | None = None) -> None:
    """One API process (a worker when `sockets` come from the parent): see api/main.py."""
    from ncloud.daemons.core.launcher import run_daemon

    run_daemon(BINARY, argv, lambda conf, transport, db: [APIService(conf, db, transport, sockets=sockets)],
               publish_retry=rpc.FAIL_FAST_RETRY)
