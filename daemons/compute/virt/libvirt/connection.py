"""The compute host's connection to libvirt: opened once, reopened after libvirtd restarts, with
libvirt's event loop running in a thread so domain lifecycle events arrive as they happen.

Guests do not depend on this connection: libvirtd (or, under qemu:///embed, this process)
runs them, and a libvirtd restart leaves them running. Only the next call notices the connection
died; it reconnects and registers the lifecycle callback again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import libvirt

from ncloud.daemons.compute.virt.driver import VirtError

LOG = logging.getLogger(__name__)
_loop_lock = threading.Lock()
_loop_started = False

# QEMU run as root with no cgroups, namespaces or security driver: what works on a host (or in a
# container) without systemd, measured in MACHINE-NOTES.md. libvirtd's qemu.conf there.
PLAIN_QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
cgroup_controllers = []
"""
# Embedded in this process, QEMU also writes its guests' console logs itself (no virtlogd).
EMBED_QEMU_CONF = PLAIN_QEMU_CONF + 'stdio_handler = "file"\n'


# QEMU's monitor socket goes to <root>/lib/qemu/domain-<id>-<20 characters of the name>/monitor.sock.
EMBED_ROOT_MAX = 50


def start_event_loop() -> None:
    """libvirt's default event loop, once per process, before the first connection is opened."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.registerErrorHandler(lambda _ctx, _error: None, None)  # errors are raised, not printed
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def prepare_embed_root(uri: str) -> None:
    """qemu:///embed?root=DIR: give the embedded driver its qemu.conf unless the operator wrote one."""
    parsed = urlparse(uri)
    if not (parsed.scheme == "qemu" and parsed.path == "/embed"):
        return
    root = parse_qs(parsed.query).get("root", [""])[0]
    if not root:
        raise VirtError(f"{uri}: qemu:///embed needs a root folder (qemu:///embed?root=/var/lib/ncloud/qemu)")
    if len(root) > EMBED_ROOT_MAX:
        raise VirtError(f"{uri}: the root folder's path is {len(root)} characters long; QEMU's sockets go under it "
                        f"and a socket's path has 108 at most: use one of {EMBED_ROOT_MAX} characters or fewer")
    conf = Path(root) / "etc" / "qemu.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(EMBED_QEMU_CONF)
    # The embedded driver logs in this process: its warnings go to a file, not the terminal.
    os.environ.setdefault("LIBVIRT_LOG_OUTPUTS", f"3:file:{Path(root) / 'libvirt.log'}")


class Connection:
    """One libvirt connection, (re)opened on demand. `on_lifecycle(uuid, event, detail)` is called
    from libvirt's event thread: keep it short."""

    def __init__(self, uri: str, on_lifecycle: Callable[[str, int, int], None] | None = None):
        self.uri = uri
        self.on_lifecycle = on_lifecycle
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    def get(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
                LOG.warning("the connection to %s was lost (libvirtd restarted?): reconnecting", self.uri)
                self._conn = None
            self._conn = self._open()
            return self._conn

    def _open(self) -> libvirt.virConnect:
        start_event_loop()
        prepare_embed_root(self.uri)
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as error:
            raise VirtError(f"cannot connect to the hypervisor at {self.uri}: {error.get_error_message()}") from None
        if self.on_lifecycle is not None:
            try:
                conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)
            except libvirt.libvirtError as error:
                LOG.warning("%s sends no lifecycle events (%s): power states are synced periodically only",
                            self.uri, error.get_error_message())
        LOG.info("connected to %s (libvirt %s)", self.uri, _version(conn.getLibVersion()))
        return conn

    def _event(self, _conn, domain, event: int, detail: int, _opaque) -> None:
        try:
            self.on_lifecycle(domain.UUIDString(), event, detail)
        except Exception:  # never let an exception into libvirt's event loop
            LOG.exception("handling a lifecycle event of domain %s failed", domain.name())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None


def _version(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"
