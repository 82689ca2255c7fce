"""`ncloud-api`: one API process, or a parent that keeps `[api] workers` of them on one port.

With several workers the parent binds the port (a socket per worker, see `listen`), forks the
workers (each builds its own app, database pool and message bus connections after the fork, so
nothing is shared by accident) and supervises them: a worker that dies is started again,
SIGTERM/SIGINT stops them all. The parent imports only the configuration, so it stays small;
this is how the API uses more than one core (Python runs one thread at a time per process), as
nova-api's `osapi_compute_workers` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time

from ncloud.daemons.core import config, log

LOG = logging.getLogger(__name__)
BINARY = "ncloud-api"
RESTART_DELAY = 1.0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    conf = config.from_command_line(BINARY, argv, "ncloud Compute API (Nova v2.1 compatible).")
    workers = conf.api.workers or len(os.sched_getaffinity(0))
    if workers == 1:
        from ncloud.daemons.api.service import run

        run(argv)
        return
    log.setup(conf.default.debug, conf.default.log_file)
    try:
        listeners = listen(conf.api.bind_host, conf.api.bind_port, workers)
    except OSError as error:
        LOG.error("%s cannot listen on %s:%s: %s", BINARY, conf.api.bind_host, conf.api.bind_port, error)
        raise SystemExit(1) from None
    Supervisor(argv, listeners).run()


def listen(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker on the same port (SO_REUSEPORT): the kernel spreads new
    connections evenly over them.

    With one shared socket, whichever worker wakes first accepts, and a busy worker keeps winning:
    under 20 keep-alive clients one worker ran at full CPU beside a nearly idle one (py-spy
    samples 1107 to 23). The port is first bound alone, without SO_REUSEPORT, so that
    a port already in use (another ncloud-api, say) is still an error rather than a silent
    share of its traffic.
    """
    with socket.create_server((host, port)) as probe:
        port = probe.getsockname()[1]  # port 0: the free port the kernel chose
    return [socket.create_server((host, port), backlog=1024, reuse_port=True) for _ in range(count)]


class Supervisor:
    def __init__(self, argv: list[str], listeners: list[socket.socket]):
        self.argv = argv
        self.listeners = listeners  # one per worker; a restarted worker takes over its predecessor's
        self.workers = len(listeners)
        self.children: dict[int, int] = {}  # pid -> worker number
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        LOG.info("%s: %d workers on %s:%s", BINARY, self.workers, *self.listeners[0].getsockname()[:2])
        for number in range(self.workers):
            self._spawn(number)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            number = self.children.pop(pid, None)
            if number is None or self.stopping:
                continue
            LOG.error("API worker %d (pid %d) exited with status %d; starting it again in %.0fs", number, pid,
                      os.waitstatus_to_exitcode(status), RESTART_DELAY)
            time.sleep(RESTART_DELAY)
            if not self.stopping:
                self._spawn(number)
        LOG.info("%s stopped", BINARY)

    def _stop(self, signum, _frame) -> None:
        LOG.info("received %s, stopping %d workers", signal.Signals(signum).name, len(self.children))
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _spawn(self, number: int) -> None:
        pid = os.fork()
        if pid:
            self.children[pid] = number
            return
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            from ncloud.daemons.api.service import run

            run(self.argv, sockets=[self.listeners[number]])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            LOG.exception("API worker %d failed", number)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)


def _die_with_parent() -> None:
    """A worker whose supervisor is gone (killed) stops too, instead of serving unsupervised."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no such safety net
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
