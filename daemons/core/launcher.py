"""Start-up shared by every daemon's console script: config, logging, database, bus, run, stop."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import sys
from collections.abc import Callable

from ncloud.daemons.core import config, log, rpc
from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.session import Database, DatabaseUnavailable
from ncloud.daemons.core.service import Service, stop_on_signals, stop_services, wait_for_signal

LOG = logging.getLogger(__name__)


def open_database(conf: config.Config) -> Database:
    """Connect (waiting for the server for a while) and refuse an out-of-date schema."""
    db = Database(conf.database_url, pool_size=conf.database.max_pool_size,
                  max_overflow=conf.database.max_overflow, recycle=conf.database.connection_recycle_time)
    db.wait_until_reachable(conf.database.max_retries)
    migrate.require_current(db)
    return db


GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def settle_memory() -> None:
    """Exclude everything allocated at start from garbage collection, and collect the young
    generation less often.

    The long-lived objects of a started daemon (modules, SQLAlchemy's mappers, kombu's entities:
    about 100,000) would otherwise be scanned by every full collection, which then holds every
    thread for about 45 ms (measured on the API process; 0 ms once frozen). A response of a
    thousand servers allocates some 50,000 containers, nearly all freed by reference counting:
    at the default threshold they still cost 26 young collections, 5 ms of a 75 ms request;
    at 10,000, 1.3 ms (bench/server_list.py's request, measured with gc.callbacks).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Two malloc arenas instead of glibc's default of eight per core.

    Each thread that allocates while another holds an arena gets an arena of its own, and freed
    memory stays in it: the API's request threads building large responses grew each API worker
    by about 8 MB that way (bench/boot.py, 500 servers listed). Python holds the GIL while it
    allocates, so two arenas cost no measurable contention. Called before any thread starts;
    a libc without mallopt (not glibc) is left as it is.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)


def lower_priority(niceness: int) -> None:
    """Give this process's CPU to latency-sensitive daemons first (`[DEFAULT] background_nice`).

    Called before any thread starts: on Linux niceness is per thread and new threads inherit
    their creator's.
    """
    if niceness > 0:
        current = os.nice(0)
        os.nice(max(0, niceness - current))
        LOG.info("running at CPU niceness %d ([DEFAULT] background_nice)", os.nice(0))


def run_daemon(name: str, argv: list[str] | None,
               factory: Callable[[config.Config, rpc.Transport, Database | None], list[Service]],
               needs_db: bool = True, publish_retry: dict | None = None, background: bool = False) -> None:
    """Run the services `factory` builds until SIGTERM/SIGINT; exit 2 on bad config, 1 if it cannot start.

    `background`: a daemon whose work waits in the message queue (conductor, scheduler, compute),
    which yields the CPU to the API ([DEFAULT] background_nice).
    """
    conf = config.from_command_line(name, argv)
    if not rpc.Transport.crosses_processes(conf.default.transport_url):
        print(f"{name}: [DEFAULT] transport_url is {conf.default.transport_url}, which only reaches daemons in the "
              "same process (the all-in-one, 'ncloud up'). A daemon of its own needs a message broker: set "
              "transport_url = amqp://USER:PASSWORD@HOST:5672/", file=sys.stderr)
        raise SystemExit(2)
    limit_malloc_arenas()
    log.setup(conf.default.debug, conf.default.log_file)
    LOG.info("%s starting on host %s", name, conf.default.host)
    log.log_effective_config(conf, LOG)
    if background:
        lower_priority(conf.default.background_nice)
    try:
        db = open_database(conf) if needs_db else None
    except (DatabaseUnavailable, migrate.SchemaOutdated) as error:
        LOG.error("%s cannot start: %s", name, error)
        raise SystemExit(1) from None
    transport = rpc.Transport(conf.default.transport_url, publish_retry=publish_retry)
    try:
        services = factory(conf, transport, db)
    except ValueError as error:  # a setting the daemon cannot work with, e.g. a broken policy file
        LOG.error("%s cannot start: %s", name, error)
        raise SystemExit(2) from None
    stop = stop_on_signals()
    try:
        for service in services:
            service.start()
    except OSError as error:  # e.g. the API's port is taken
        LOG.error("%s cannot start: %s", name, error)
        raise SystemExit(1) from None
    settle_memory()
    try:
        wait_for_signal(stop)
    finally:
        stop_services(services, transport, conf.default.graceful_shutdown_timeout)
        transport.close()
        if db is not None:
            db.dispose()
