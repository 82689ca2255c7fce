"""This host's side of the flat network (what nova-network's FlatDHCP did, in multi-host mode).

Every host has a Linux bridge (`[network] bridge`) holding the network's gateway address (the
subnet's first address: the same on every host, so a guest keeps its gateway wherever it moves),
a dnsmasq answering DHCP on it with static leases only (one line per guest of this host, from the
addresses the database allocated), and NAT for the guests' outbound traffic. libvirt creates
each guest's tap and joins it to the bridge. A guest's request for 169.254.169.254 leaves through
the gateway like any other, which is where the metadata service's redirect will hook in.

dnsmasq outlives the compute service (guests renew their leases while it restarts); a restart
finds it through its pid file, and SIGHUP makes it reread the leases.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

from ncloud.daemons.compute.virt.driver import VirtError
from ncloud.daemons.core import fixed_ips

LOG = logging.getLogger(__name__)
LEASE_TIME = "1h"


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise VirtError(f"{command[0]} is not installed on this host (the flat network needs iproute2, "
                        "dnsmasq-base and iptables)") from None
    if check and done.returncode != 0:
        raise VirtError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


class FlatNetwork:
    def __init__(self, conf):
        network = conf.network
        self.subnet = ipaddress.ip_network(network.fixed_range)
        self.gateway = fixed_ips.gateway(self.subnet)
        self.bridge = network.bridge
        self.mtu = network.mtu
        self.nat = network.nat
        self.dns = list(network.dns_servers)
        self.dir = Path(network.dhcp_dir)
        self.hosts_file = self.dir / f"{self.bridge}.hosts"
        self.pid_file = self.dir / f"{self.bridge}.dnsmasq.pid"
        self._lock = threading.Lock()

    # -- the host ------------------------------------------------------------------------------
    def setup(self, leases: dict[str, dict]) -> None:
        """Bridge, gateway address, forwarding, NAT and dnsmasq serving `leases` (uuid -> fixed IP of
        each guest of this host); safe to run again (every service start)."""
        if os.geteuid() != 0:
            raise VirtError("the flat network needs root (a bridge, dnsmasq and iptables): run ncloud-compute as "
                            "root, or set [network] enabled = false")
        self._check_overlap()
        self.dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.dir, *self.dir.parents):  # dnsmasq reads it as nobody
            if folder.stat().st_mode & 0o005 != 0o005:
                raise VirtError(f"dnsmasq (user nobody) cannot reach {self.dir}: {folder} is not world-readable "
                                "and searchable; choose another [network] dhcp_dir")
            if folder == Path("/"):
                break
        with self._lock:
            self._write({uuid: self._line(uuid, fixed_ip) for uuid, fixed_ip in leases.items()}, reload=False)
        if _run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            _run("ip", "link", "add", "name", self.bridge, "type", "bridge")
            LOG.info("created bridge %s", self.bridge)
        _run("ip", "link", "set", self.bridge, "mtu", str(self.mtu), "up")
        address = f"{self.gateway}/{self.subnet.prefixlen}"
        if address not in _run("ip", "-o", "-4", "addr", "show", "dev", self.bridge).stdout:
            _run("ip", "addr", "add", address, "dev", self.bridge)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        if self.nat:
            self._nat_rules()
        self._dnsmasq()

    def _check_overlap(self) -> None:
        """Refuse a fixed_range this host already reaches another way: its bridge would capture the
        traffic (to a mirror, a DNS server, a neighbour's network) and cut the host off from it."""
        for line in _run("ip", "-o", "-4", "route", "show", "table", "all").stdout.splitlines():
            words = line.split()
            if words and words[0] in ("local", "broadcast", "unicast", "unreachable", "blackhole", "prohibit"):
                words = words[1:]
            if not words or words[0] == "default":
                continue
            device = words[words.index("dev") + 1] if "dev" in words else ""
            if device in (self.bridge, "lo"):
                continue
            try:
                routed = ipaddress.ip_network(words[0], strict=False)
            except ValueError:
                continue
            if routed.version == 4 and routed.overlaps(self.subnet):
                raise VirtError(f"[network] fixed_range {self.subnet} overlaps {routed} on {device}, which this "
                                "host routes already: choose a range it does not use")
        resolv = Path("/etc/resolv.conf")
        for line in resolv.read_text().splitlines() if resolv.exists() else ():
            words = line.split()
            if len(words) == 2 and words[0] == "nameserver":
                try:
                    if ipaddress.ip_address(words[1]) in self.subnet:
                        raise VirtError(f"[network] fixed_range {self.subnet} contains this host's DNS server "
                                        f"{words[1]}: choose another range")
                except ValueError:
                    continue

    def _nat_rules_spec(self) -> list[tuple[str, str, list[str]]]:
        subnet, comment = str(self.subnet), ["-m", "comment", "--comment", f"ncloud {self.bridge}"]
        return [("nat", "POSTROUTING", ["-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE", *comment]),
                ("filter", "FORWARD", ["-i", self.bridge, "-j", "ACCEPT", *comment]),
                ("filter", "FORWARD", ["-o", self.bridge, "-j", "ACCEPT", *comment])]

    def _nat_rules(self) -> None:
        for table, chain, rule in self._nat_rules_spec():
            if _run("iptables", "-w", "-t", table, "-C", chain, *rule, check=False).returncode != 0:
                _run("iptables", "-w", "-t", table, "-I", chain, *rule)

    def _dnsmasq_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            if "dnsmasq" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
        except (OSError, ValueError):
            pass
        return None

    def _strays(self) -> list[int]:
        """Other dnsmasqs serving this bridge in this network namespace (an earlier dhcp_dir's):
        they would answer with leases this host no longer has."""
        mine, found = self._dnsmasq_pid(), []
        here = os.readlink("/proc/self/ns/net")
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if not (argv and argv[0].endswith(b"dnsmasq") and f"--interface={self.bridge}".encode() in argv):
                    continue
                if int(proc.name) != mine and os.readlink(proc / "ns" / "net") == here:
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def _dnsmasq(self) -> None:
        for pid in self._strays():
            LOG.warning("stopping dnsmasq %d: it serves bridge %s from another state path", pid, self.bridge)
            os.kill(pid, signal.SIGTERM)
        if self._dnsmasq_pid() is not None:
            self._reload()
            return
        command = ["dnsmasq", "--conf-file=", "--strict-order", "--bind-interfaces", f"--interface={self.bridge}",
                   "--except-interface=lo", f"--listen-address={self.gateway}", "--port=0",
                   f"--pid-file={self.pid_file}", f"--dhcp-hostsfile={self.hosts_file}", "--leasefile-ro",
                   "--dhcp-no-override", "--dhcp-authoritative",
                   f"--dhcp-range={self.subnet[2]},static,{self.subnet.netmask},{LEASE_TIME}",
                   f"--dhcp-option=option:router,{self.gateway}", f"--dhcp-option=option:mtu,{self.mtu}",
                   f"--log-facility={self.dir / (self.bridge + '.dnsmasq.log')}", "--log-dhcp"]
        if self.dns:
            command.append(f"--dhcp-option=option:dns-server,{','.join(self.dns)}")
        _run(*command)  # it forks into the background and returns once it listens
        LOG.info("dnsmasq serves DHCP on %s (pid %s)", self.bridge, self._dnsmasq_pid())

    def _reload(self) -> None:
        pid = self._dnsmasq_pid()
        if pid is None:
            self._dnsmasq()
        else:
            os.kill(pid, signal.SIGHUP)

    def teardown(self) -> None:
        """Remove this host's network: dnsmasq, the NAT rules, the bridge (a host leaving the cloud,
        and tests). A service stop leaves all of it serving the guests."""
        pid = self._dnsmasq_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        for table, chain, rule in self._nat_rules_spec():
            while _run("iptables", "-w", "-t", table, "-D", chain, *rule, check=False).returncode == 0:
                pass
        _run("ip", "link", "del", self.bridge, check=False)

    # -- guests --------------------------------------------------------------------------------
    def leases(self) -> dict[str, str]:
        """The static leases dnsmasq serves: instance uuid -> line."""
        entries = {}
        for line in self.hosts_file.read_text().splitlines() if self.hosts_file.exists() else ():
            parts = line.split(",")
            if len(parts) >= 3:
                entries[parts[2].removeprefix("ncloud-")] = line
        return entries

    def plug(self, uuid: str, fixed_ip: dict) -> None:
        """Serve the guest its address: `mac,address,ncloud-<uuid>` in the leases file."""
        with self._lock:
            entries = self.leases()
            entries[uuid] = self._line(uuid, fixed_ip)
            self._write(entries)

    def unplug(self, uuid: str) -> None:
        with self._lock:
            entries = self.leases()
            if entries.pop(uuid, None) is not None:
                self._write(entries)

    @staticmethod
    def _line(uuid: str, fixed_ip: dict) -> str:
        return f"{fixed_ip['mac']},{fixed_ip['address']},ncloud-{uuid}"

    def _write(self, entries: dict[str, str], reload: bool = True) -> None:
        temporary = self.hosts_file.with_suffix(".tmp")
        temporary.write_text("".join(f"{line}\n" for line in entries.values()))
        temporary.chmod(0o644)
        temporary.replace(self.hosts_file)
        if reload:
            self._reload()
