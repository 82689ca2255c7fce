"""Throw-away real servers for tests: MariaDB, PostgreSQL and RabbitMQ.

Each server runs as a *direct child* of the test process (no double fork: PID 1 on
the CI machine does not reap orphans), in its own temporary directory, listening
on 127.0.0.1 on a free port.  Stopping is graceful first, SIGKILL after a deadline.
If the test process dies without stopping them, the kernel sends each server its
stop signal (PR_SET_PDEATHSIG), so nothing is left running.

    with MariaDB() as db:          # or PostgreSQL(), RabbitMQ()
        engine = sqlalchemy.create_engine(db.url)

The binaries come from Debian's packages (mariadb-server, postgresql,
rabbitmq-server); a missing binary or a server that does not come up within its
deadline raises ServerError with the tail of the server's log.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

__all__ = ["MariaDB", "PostgreSQL", "RabbitMQ", "ServerError", "free_port"]


class ServerError(RuntimeError):
    """A test server could not be found, started or used."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str, *globs: str, package: str) -> str:
    """Absolute path of NAME: first match of GLOBS (newest version first), then PATH."""
    for pattern in globs:
        for path in sorted(glob.glob(pattern), reverse=True):
            if os.access(path, os.X_OK):
                return path
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path:
        return path
    raise ServerError(
        f"{name} not found (looked in {', '.join(globs) or 'nothing'} and PATH): "
        f"install it with `apt-get install {package}`"
    )


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _pdeathsig(sig: int):
    """preexec_fn: the child gets SIG when the test process dies.

    The kernel ties this to the *thread* that forks, so it is only armed from the
    main thread (a server started from a short-lived thread would die with it).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None

    def preexec():
        prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG

    return preexec


_LIVE: set[_Server] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):  # best effort at exit
            server.close()


class _Server:
    """Common machinery: temp dir, child processes, readiness polling, stop."""

    name = "server"
    start_timeout = 60.0
    stop_timeout = 30.0

    def __init__(self, base_dir: str | None = None):
        self.dir = tempfile.mkdtemp(prefix=f"ncloud-{self.name}-", dir=base_dir)
        self.log_path = os.path.join(self.dir, f"{self.name}.log")
        self._procs: list[tuple[subprocess.Popen, int]] = []
        self._provisioned = False  # users and databases created (subclasses)
        #: seconds taken by the last start / stop / restart
        self.timings: dict[str, float] = {}

    # -- public API ---------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p, _ in self._procs)

    def start(self):
        if self._procs:
            return self
        t0 = time.monotonic()
        _LIVE.add(self)
        try:
            self._start()
        except BaseException:
            self._stop_procs(graceful=False)
            raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def stop(self, graceful: bool = True) -> None:
        """Stop the server (SIGKILL straight away if not graceful); keep its data."""
        t0 = time.monotonic()
        self._stop_procs(graceful)
        self.timings["stop"] = time.monotonic() - t0

    def restart(self, graceful: bool = True):
        """Stop and start again on the same port(s) with the same data."""
        t0 = time.monotonic()
        self.stop(graceful)
        self.start()
        self.timings["restart"] = time.monotonic() - t0
        return self

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self._stop_procs(graceful=True)
        _LIVE.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {path} ---\n{_tail(path, lines)}" for path in self._log_files()
        )

    # -- for subclasses -----------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _log_files(self) -> list[str]:
        return [self.log_path]

    def _error(self, message: str) -> ServerError:
        return ServerError(f"{self.name} in {self.dir}: {message}\n{self.log_tail()}")

    def _spawn(self, argv, stop_signal=signal.SIGTERM, env=None, user=None):
        with open(self.log_path, "ab") as log:
            log.write(f"\n### {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, user=user, cwd=self.dir,
                start_new_session=True,  # no stray SIGINT from the terminal
                preexec_fn=_pdeathsig(stop_signal),
            )
        self._procs.append((proc, stop_signal))
        return proc

    def _run(self, argv, user=None, env=None, timeout=60.0) -> str:
        """Run a client command to completion; its stdout, or ServerError."""
        try:
            res = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                user=user, env=env, cwd=self.dir, timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise self._error(f"{argv[0]} failed: {e}") from None
        if res.returncode != 0:
            raise self._error(
                f"`{' '.join(argv)}` exited {res.returncode}:\n{res.stdout}{res.stderr}"
            )
        return res.stdout

    def _wait_until(self, ready, what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            for proc, _ in self._procs:
                if proc.poll() is not None:
                    raise self._error(f"{proc.args[0]} exited {proc.returncode} {what}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self._error(f"not ready after {timeout or self.start_timeout:.0f}s {what}")
            time.sleep(0.1)

    def _stop_procs(self, graceful: bool) -> None:
        while self._procs:
            proc, sig = self._procs.pop()
            if proc.poll() is not None:
                continue
            if graceful:
                proc.send_signal(sig)
                try:
                    proc.wait(self.stop_timeout)
                    continue
                except subprocess.TimeoutExpired:
                    pass
            # not yet reaped, so its process group (it and its helpers) still exists
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait()


def _unix_greeting(path: str) -> bytes:
    """First bytes a server sends on its unix socket, b'' if none yet."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(path)
            return s.recv(64)
    except OSError:
        return b""


class MariaDB(_Server):
    """A MariaDB server with database DATABASE owned by USER (password auth over TCP).

    root authenticates over the unix socket; `sql()` runs statements as root.
    Leaves no `test` database and no anonymous accounts matching 127.0.0.1.
    """

    name = "mariadb"

    def __init__(self, base_dir=None, user="ncloud", password=None, database="ncloud"):
        super().__init__(base_dir)
        self.port = free_port()
        self.user = user
        self.password = password or secrets.token_hex(12)
        self.database = database
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "sock")
        self._mariadbd = find_binary("mariadbd", "/usr/sbin/mariadbd", package="mariadb-server")
        self._client = find_binary("mariadb", "/usr/bin/mariadb", package="mariadb-client")

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return (f"mysql+pymysql://{self.user}:{self.password}@127.0.0.1:{self.port}"
                f"/{database}?charset=utf8mb4")

    def sql(self, statements: str, database: str = "") -> str:
        """Run STATEMENTS as root (socket auth); tab-separated rows, no header."""
        # mariadb-install-db gives root and the OS user running it socket-auth accounts
        admin = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        argv = [self._client, "--no-defaults", f"--socket={self.socket}", f"--user={admin}",
                "--batch", "--skip-column-names", "-e", statements]
        return self._run(argv + ([database] if database else []))

    def create_database(self, name: str) -> str:
        """(Re)create an empty database NAME that USER owns; its URL."""
        self.drop_database(name)
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
                 f"GRANT ALL ON `{name}`.* TO '{self.user}'@'127.0.0.1';")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop NAME if it exists, killing connections still using it."""
        ids = self.sql("SELECT id FROM information_schema.processlist "
                       f"WHERE db = '{name}' AND id <> CONNECTION_ID()").split()
        kills = "".join(f"KILL {int(i)};" for i in ids)
        if kills:
            with contextlib.suppress(ServerError):  # one may have ended by itself
                self.sql(kills)
        self.sql(f"SET SESSION lock_wait_timeout = 30; DROP DATABASE IF EXISTS `{name}`;")

    def _start(self) -> None:
        root = os.geteuid() == 0
        common = ["--no-defaults", *(["--user=root"] if root else []),
                  f"--datadir={self.datadir}", "--innodb-log-file-size=8M"]
        if not os.path.isdir(self.datadir):
            install = find_binary("mariadb-install-db", "/usr/bin/mariadb-install-db",
                                  package="mariadb-server")
            with open(self.log_path, "ab") as log:
                res = subprocess.run(
                    [install, *common, "--auth-root-authentication-method=socket",
                     "--skip-test-db"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.dir,
                )
            if res.returncode:
                shutil.rmtree(self.datadir, ignore_errors=True)
                raise self._error(f"mariadb-install-db exited {res.returncode}")
        self._spawn([
            self._mariadbd, *common, f"--socket={self.socket}", f"--port={self.port}",
            "--bind-address=127.0.0.1", "--skip-log-bin", "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0",
            f"--pid-file={os.path.join(self.dir, 'mariadbd.pid')}", f"--tmpdir={self.dir}",
            "--max-connections=500", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ])
        # the server greets on its socket once it accepts connections
        self._wait_until(lambda: len(_unix_greeting(self.socket)) > 4, "waiting for its socket")
        if not self._provisioned:
            self.sql(f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' "
                     f"IDENTIFIED BY '{self.password}';")
            self.create_database(self.database)
            self._provisioned = True


class PostgreSQL(_Server):
    """A PostgreSQL server with database DATABASE owned by USER (password auth over TCP).

    The server refuses to run as root, so as root it runs as OS_USER (default: the
    `postgres` user the Debian package creates, else `nobody`) and the temp dir is
    handed to that user.  The superuser `postgres` connects over the unix socket
    without a password (`psql()`).
    """

    name = "postgresql"

    def __init__(self, base_dir=None, user="ncloud", password=None, database="ncloud",
                 os_user=None):
        super().__init__(base_dir)
        self.port = free_port()
        self.user = user
        self.password = password or secrets.token_hex(12)
        self.database = database
        self.datadir = os.path.join(self.dir, "data")
        pkg = "postgresql"
        self._bin = {name: find_binary(name, f"/usr/lib/postgresql/*/bin/{name}", package=pkg)
                     for name in ("initdb", "postgres", "psql")}
        self.os_user = None
        if os.geteuid() == 0:
            self.os_user = os_user or next(
                u for u in ("postgres", "nobody") if _user_exists(u))
            pw = pwd.getpwnam(self.os_user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return (f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}"
                f"/{database}")

    def psql(self, *statements: str, database: str = "postgres") -> str:
        """Run each statement (own transaction) as superuser; unaligned rows."""
        argv = [self._bin["psql"], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", database]
        for s in statements:
            argv += ["-c", s]
        return self._run(argv)

    def create_database(self, name: str) -> str:
        """(Re)create an empty database NAME owned by USER; its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                  f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop NAME if it exists, ending connections still using it."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _ready(self) -> bool:
        try:
            self.psql("SELECT 1")
            return True
        except ServerError:
            return False

    def _start(self) -> None:
        if not os.path.isdir(self.datadir):
            with open(self.log_path, "ab") as log:
                res = subprocess.run(
                    [self._bin["initdb"], "-D", self.datadir, "-U", "postgres",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                     "--locale=C.UTF-8", "-N"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    user=self.os_user, cwd=self.dir,
                )
            if res.returncode:
                shutil.rmtree(self.datadir, ignore_errors=True)
                raise self._error(f"initdb exited {res.returncode}")
        # SIGINT = "fast shutdown": rolls back open transactions, doesn't wait for clients
        self._spawn([
            self._bin["postgres"], "-D", self.datadir, "-k", self.dir, "-p", str(self.port),
            "-h", "127.0.0.1", "-F", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=300",
        ], stop_signal=signal.SIGINT, user=self.os_user)
        self._wait_until(self._ready, "waiting for `SELECT 1`")
        if not self._provisioned:
            self.psql(f"CREATE ROLE \"{self.user}\" LOGIN PASSWORD '{self.password}'")
            self.create_database(self.database)
            self._provisioned = True


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


_RABBIT_LIB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"


class RabbitMQ(_Server):
    """A RabbitMQ node (guest/guest, vhost /) plus its own private epmd.

    The broker (beam.smp) and epmd are both direct children.  A private epmd on a
    free port keeps the node apart from any other Erlang node on the machine.
    `restart()` keeps ports, node name and data: durable queues and persistent
    messages survive it.
    """

    name = "rabbitmq"
    start_timeout = 120.0

    def __init__(self, base_dir=None, nodename="ncloudtest@localhost", address="127.0.0.1"):
        """`address`: where AMQP listens (0.0.0.0 for test nodes in other network namespaces)."""
        super().__init__(base_dir)
        self.nodename = nodename
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        # Debian's /usr/sbin/rabbitmq-server `su`s to the rabbitmq user (a fork and
        # another HOME): use the real scripts from /usr/lib/rabbitmq.
        pkg = "rabbitmq-server"
        self._server = find_binary("rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server",
                                   f"{_RABBIT_LIB}/rabbitmq-server", package=pkg)
        self._ctl = find_binary("rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl",
                                f"{_RABBIT_LIB}/rabbitmqctl", package=pkg)
        self._epmd = find_binary("epmd", "/usr/lib/erlang/erts-*/bin/epmd", package="erlang-base")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("loopback_users = none\ndisk_free_limit.absolute = 10MB\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        open(os.path.join(self.dir, "rabbitmq-env.conf"), "w").close()
        self.env = dict(
            os.environ,
            HOME=self.dir,  # the Erlang cookie lives here
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=nodename,
            RABBITMQ_NODE_IP_ADDRESS=address,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(self.dir, "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=os.path.join(self.dir, "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=os.path.join(self.dir, "rabbitmq.pid"),
            # exec beam.smp in place of the script, so the broker is our child and
            # SIGTERM reaches it directly (it then shuts down gracefully)
            RABBITMQ_ALLOW_INPUT="1",
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        self.env.pop("NOTIFY_SOCKET", None)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run `rabbitmqctl -n NODE ARGS...` (costs 1-3 s); its stdout."""
        return self._run([self._ctl, "-n", self.nodename, *args], env=self.env,
                         timeout=timeout)

    def _log_files(self) -> list[str]:
        node = self.nodename.split("@")[0]
        return [self.log_path, *glob.glob(os.path.join(self.dir, "log", f"{node}*.log"))[:1]]

    def _amqp_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                # a ready broker answers with a connection.start method frame
                return s.recv(8).startswith((b"\x01\x00\x00", b"AMQP"))
        except OSError:
            return False

    def _start(self) -> None:
        self._spawn([self._epmd, "-port", str(self.epmd_port)], env=self.env)
        self._spawn([self._server, "-noinput"], env=self.env)
        self._wait_until(self._amqp_ready, "waiting for the AMQP handshake")
