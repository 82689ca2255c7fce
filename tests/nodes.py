"""Compute hosts on this machine for multi-host tests: each a network namespace with its own
address and a mount namespace with its own libvirtd, virtlogd, sshd and ncloud-compute.

    with NodeNetwork() as lan, Node(lan, 1, workdir) as node1:
        node1.start_compute(config_text)

The nodes hang off the host bridge `ncnodes0` (198.51.100.1/24, TEST-NET-2; nothing leaves the
namespaces the test made), node N at 198.51.100.(10+N), named `nodeN`. In its mount namespace a
node has private /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
/var/cache/libvirt, /var/lib/ncloud (its instances) and /root/.ssh, so two nodes are two
hypervisors as far as libvirt, QEMU and SSH can tell. Their libvirtd listens on TCP (no auth:
the namespaces are private) for live migrations, their sshd takes the test's key for cold
migrations' disk copies. A holder process keeps the namespaces; every daemon of the node is
entered into them with nsenter. Stopping a node destroys its guests and kills its daemons.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.cloud import ProcessCloud
from tests.libvirt_host import QEMU_CONF
from tests.servers import ServerError, _pdeathsig, find_binary

HOST_BRIDGE = "ncnodes0"
HOST_ADDRESS = "198.51.100.1"
PRIVATE = ("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt",
           "/var/lib/ncloud", "/root/.ssh")
# A bare host for deployment tests: besides libvirt's folders, everything the roles install or
# write is its own (ncloud, MariaDB, RabbitMQ, supervisord); /usr, and so the Debian packages
# and Python, stay shared with the machine. The folders in COPIED start as copies of the
# machine's (the configuration the packages installed), the others empty.
DEPLOY_PRIVATE = (*PRIVATE, "/etc/ncloud", "/opt/ncloud", "/var/log/ncloud", "/run/ncloud", "/var/backups",
                  "/etc/mysql", "/var/lib/mysql", "/run/mysqld", "/var/log/mysql",
                  "/etc/rabbitmq", "/var/lib/rabbitmq", "/var/log/rabbitmq",
                  "/etc/postgresql", "/var/lib/postgresql", "/run/postgresql", "/var/log/postgresql",
                  "/etc/supervisor", "/run/supervisor", "/var/log/supervisor")
COPIED = ("/etc/libvirt", "/etc/mysql", "/etc/rabbitmq", "/etc/postgresql", "/var/lib/postgresql")


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise ServerError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


class NodeNetwork:
    """The host bridge the nodes hang off, and the SSH key they trust each other with."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.key = workdir / "id_ed25519"

    def __enter__(self) -> NodeNetwork:
        if os.geteuid() != 0:
            raise ServerError("test nodes need root (network and mount namespaces)")
        _run("ip", "link", "del", HOST_BRIDGE, check=False)
        _run("ip", "link", "add", "name", HOST_BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", HOST_BRIDGE)
        _run("ip", "link", "set", HOST_BRIDGE, "up")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        return self

    def __exit__(self, *exc) -> None:
        _run("ip", "link", "del", HOST_BRIDGE, check=False)


class Node:
    """`bare`: only sshd runs (a host for `ncloud deploy`); else libvirtd and virtlogd too.
    `own`: more folders of its own, copies of the machine's (/var/lib/dpkg: a node whose package
    database can differ)."""

    def __init__(self, network: NodeNetwork, number: int, workdir: Path, bare: bool = False, own: tuple = ()):
        self.network = network
        self.bare = bare
        self.own = own
        self.paths = (*(DEPLOY_PRIVATE if bare else PRIVATE), *own)
        self.number = number
        self.name = f"node{number}"
        self.address = f"198.51.100.{10 + number}"
        self.netns = f"ncloud-test-{self.name}"
        self.root = workdir / self.name
        self.holder: subprocess.Popen | None = None
        self.compute: subprocess.Popen | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def __enter__(self) -> Node:
        try:
            self._network()
            self._folders()
            self._namespaces()
            self._daemons()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _network(self) -> None:
        _run("ip", "netns", "del", self.netns, check=False)
        _run("ip", "netns", "add", self.netns)
        veth = f"ncv{self.number}"
        _run("ip", "link", "del", veth, check=False)
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _run("ip", "link", "set", veth, "master", HOST_BRIDGE, "up")
        for command in (("ip", "addr", "add", f"{self.address}/24", "dev", "eth0"), ("ip", "link", "set", "eth0", "up"),
                        ("ip", "link", "set", "lo", "up"), ("ip", "route", "add", "default", "via", HOST_ADDRESS)):
            _run("ip", "netns", "exec", self.netns, *command)

    def _folders(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        for path in self.paths:
            if (path in COPIED or path in self.own) and Path(path).is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                _run("cp", "-a", path, str(self.private(path)))  # owners too (postgres' data folder)
            else:
                self.private(path).mkdir(parents=True)
        for parent in (self.root, *self.root.parents):  # dnsmasq (user nobody) reads under /var/lib/ncloud
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o005)
        if not self.bare:
            etc = self.private("/etc/libvirt")
            (etc / "qemu.conf").write_text(QEMU_CONF)
            (etc / "libvirtd.conf").write_text(f'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "{self.address}"\n'
                                               'auth_tcp = "none"\n')
            for folder in ("/var/log/libvirt/qemu", "/var/lib/libvirt/qemu", "/var/cache/libvirt/qemu"):
                (self.root / folder.strip("/").split("/qemu")[0].replace("/", "-") / "qemu").mkdir(exist_ok=True)
        # Names resolve locally, as a real cloud's hosts do: a lookup that goes to DNS here times out
        # after 10 s (libvirt and QEMU look up their host's name, the live migration's end waited).
        (self.root / "etc-hosts").write_text("127.0.0.1 localhost\n" + "".join(
            f"198.51.100.{10 + n} node{n}\n" for n in range(1, 10)) + f"{HOST_ADDRESS} controller\n")
        ssh = self.private("/root/.ssh")
        shutil.copy(self.network.key, ssh / "id_ed25519")
        shutil.copy(f"{self.network.key}.pub", ssh / "authorized_keys")
        (ssh / "id_ed25519").chmod(0o600)
        host_key = ssh / "host_ed25519"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        (ssh / "sshd_config").write_text(
            f"ListenAddress {self.address}\nHostKey {host_key}\nPidFile {ssh / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}\nPermitRootLogin prohibit-password\nUsePAM no\n"
            "StrictModes no\nPasswordAuthentication no\n")

    def private(self, path: str) -> Path:
        """The folder of this node that its namespaces see at `path`."""
        return self.root / path.strip("/").replace("/", "-")

    def _namespaces(self) -> None:
        mounts = "; ".join([*(f"mount --bind {self.private(path)} {path}" for path in self.paths),
                            f"mount --bind {self.root / 'etc-hosts'} /etc/hosts"])
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c",
             f"hostname {self.name}; mkdir -p {' '.join(self.paths)}; {mounts} && exec sleep infinity"],
            preexec_fn=_pdeathsig(signal.SIGKILL))
        end = time.monotonic() + 10
        while (Path(f"/proc/{self.holder.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep"
               and self.holder.poll() is None):
            if time.monotonic() > end:
                raise ServerError(f"{self.name}: its namespaces did not come up")
            time.sleep(0.05)
        if self.holder.poll() is not None:
            raise ServerError(f"{self.name}: its namespaces could not be made (bind mounts failed)")

    def enter(self, *command: str) -> list[str]:
        """`command` as run inside this node's namespaces."""
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--net", "--uts", "--", *command]

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(*self.enter(*command), check=check)

    def _daemons(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)
        self.run(find_binary("sshd", package="openssh-server"), "-f", str(self.private("/root/.ssh") / "sshd_config"))
        if self.bare:
            return
        self.run(find_binary("virtlogd", package="libvirt-daemon"), "-d", "-p", "/run/libvirt/virtlogd.pid")
        self.run(find_binary("libvirtd", package="libvirt-daemon"), "-d", "--listen", "-p", "/run/libvirt/libvirtd.pid")
        end = time.monotonic() + 60
        while self.run("virsh", "-c", "qemu:///system", "version", check=False).returncode != 0:
            if time.monotonic() > end:
                raise ServerError(f"{self.name}: libvirtd did not answer within 60s")
            time.sleep(0.3)

    def start_compute(self, config_file: Path, log: Path) -> subprocess.Popen:
        """ncloud-compute as this node (its config file names host, my_ip, the transport, ...)."""
        ncloud_compute = Path(sys.executable).parent / "ncloud-compute"
        with open(log, "ab") as out:
            self.compute = subprocess.Popen(self.enter(str(ncloud_compute), "--config-file", str(config_file)),
                                            stdout=out, stderr=subprocess.STDOUT,
                                            preexec_fn=_pdeathsig(signal.SIGKILL))
        return self.compute

    def kill_compute(self) -> None:
        if self.compute is not None and self.compute.poll() is None:
            self.compute.kill()
            self.compute.wait(30)

    def stop(self) -> None:
        self.kill_compute()
        if self.holder is not None and self.holder.poll() is None:
            names = self.run("virsh", "-c", "qemu:///system", "list", "--all", "--name", check=False).stdout.split()
            for name in names:
                self.run("virsh", "-c", "qemu:///system", "destroy", name, check=False)
            run = self.private("/run/libvirt")
            for pid_file in (run / "libvirtd.pid", run / "virtlogd.pid", self.private("/root/.ssh") / "sshd.pid"):
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            # dnsmasq and the guests' QEMU processes live in the node's network namespace.
            pids = _run("ip", "netns", "pids", self.netns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            self.holder.kill()
            self.holder.wait(10)
        _run("ip", "netns", "del", self.netns, check=False)


@contextlib.contextmanager
def libvirt_cloud(database_url: str, nodes: int = 2, subnet: str = "198.18.8.0/24") -> Iterator[ProcessCloud]:
    """A cloud whose compute hosts are `nodes` Nodes with the libvirt driver: API, conductor and
    scheduler as processes here, RabbitMQ (reachable from the nodes) and the given database; the
    tiny image uploaded (`cloud.image_id`). `cloud.nodes` and `cloud.compute_config` by host name."""
    from ncloud.cli.cloud.session import Session
    from ncloud.cli.tiny_image import upload
    from tests.libvirt_host import tiny_image
    from tests.servers import RabbitMQ

    work = Path("/var/tmp/ncloud-tests") / f"nodes-{os.getpid()}-{time.monotonic_ns()}"
    work.mkdir(parents=True)
    try:
        with contextlib.ExitStack() as stack:
            rabbit = stack.enter_context(RabbitMQ(address="0.0.0.0"))
            lan = stack.enter_context(NodeNetwork(work))
            members = [stack.enter_context(Node(lan, number, work)) for number in range(1, nodes + 1)]
            (work / "controller").mkdir()
            cloud = ProcessCloud(work / "controller", rabbit.url, database_url, options={
                "api": {"bind_host": "0.0.0.0"}, "network": {"fixed_range": subnet},
                "DEFAULT": {"service_down_time": "10"}})
            stack.callback(cloud.stop)
            cloud.nodes = {node.name: node for node in members}
            cloud.compute_config = {}
            cloud.start("api", "ncloud-api", host="ctl")
            cloud.start("conductor", "ncloud-conductor", host="ctl")
            cloud.start("scheduler", "ncloud-scheduler", host="ctl")
            cloud.wait_for_api()
            for node in members:
                config = work / f"{node.name}.conf"
                config.write_text(compute_config(node, rabbit.port, cloud.port, subnet))
                cloud.compute_config[node.name] = config
                node.start_compute(config, work / f"{node.name}-compute.log")
            cloud.wait_for_computes(list(cloud.nodes), timeout=90)
            admin = Session.with_token("admin:admin", {"image": f"http://127.0.0.1:{cloud.port}/image"})
            cloud.image_id = upload(admin, tiny_image(), "ncloud-tiny")
            yield cloud
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compute_config(node: Node, amqp_port: int, api_port: int, subnet: str) -> str:
    """ncloud.conf of a node's compute service: the controller's bus and Image API at the host's
    address, the libvirt driver with live migrations over TCP between the nodes' libvirtds."""
    return f"""[DEFAULT]
host = {node.name}
state_path = /var/lib/ncloud
transport_url = amqp://guest:guest@{HOST_ADDRESS}:{amqp_port}//
report_interval = 1
rpc_response_timeout = 30
[api]
auth_strategy = noauth2
[image]
api_endpoint = http://{HOST_ADDRESS}:{api_port}/image
[compute]
compute_driver = libvirt
my_ip = {node.address}
cpu_allocation_ratio = 16
resource_report_interval = 5
[libvirt]
uri = qemu:///system
live_migration_uri = qemu+tcp://%s/system
shutdown_timeout = 30
vnc_listen = 0.0.0.0
[network]
fixed_range = {subnet}
dhcp_dir = /var/lib/ncloud/dhcp
"""
