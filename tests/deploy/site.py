"""A deployment under test: bare nodes (tests/nodes.py), a deployment folder with its inventory
and passwords, and the `ncloud` operator commands run against it as an operator runs them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.nodes import Node, NodeNetwork

BIN = Path(sys.executable).parent


class Site:
    @classmethod
    def open(cls, stack: contextlib.ExitStack, work: Path, computes: int = 0,
             fixed_range: str = "198.18.9.0/24") -> Site:
        """A site whose nodes the stack stops; with `computes`, node1 is the controller, database
        and bus and node2... the computes."""
        site = cls(work, stack.enter_context(NodeNetwork(work)))
        site.stack = stack
        stack.callback(site.stop)
        site.vars = {"ncloud_fixed_range": fixed_range}
        if computes:
            site.add_node(1, "controllers", "database", "messaging")
            for number in range(2, 2 + computes):
                site.add_node(number, "computes")
        return site

    def __init__(self, work: Path, lan: NodeNetwork):
        self.work = work
        self.lan = lan
        self.deploy_dir = work / "deployment"
        self.deploy_dir.mkdir(parents=True, exist_ok=True)
        self.inventory = self.deploy_dir / "inventory.yml"
        self.nodes: dict[str, Node] = {}
        self.groups: dict[str, list[str]] = {"controllers": [], "computes": [], "database": [], "messaging": []}
        self.vars: dict = {}
        self.host_vars: dict[str, dict] = {}
        self.options: list[str] = []  # given to every command from now on (--vault-password-file ...)

    def add_node(self, number: int, *groups: str, **node_options) -> Node:
        node = self.stack.enter_context(Node(self.lan, number, self.work, bare=True, **node_options))
        self.nodes[node.name] = node
        for group in groups:
            self.groups[group].append(node.name)
        self.write_inventory()
        return node

    def write_inventory(self) -> None:
        hosts = {name: {"ansible_host": node.address, **self.host_vars.get(name, {})}
                 for name, node in self.nodes.items()}
        children = {group: {"hosts": {name: hosts[name] for name in names}} for group, names in self.groups.items()}
        inventory = {"all": {"vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.lan.key),
            "ansible_python_interpreter": "/usr/bin/python3",
            "ncloud_virt_type": "qemu",
            **self.vars}, "children": children}}
        self.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))

    def ncloud(self, *args: str, timeout: float = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
        """`ncloud ARGS -i inventory.yml` from the deployment folder; prints its output (the figures)."""
        started = time.monotonic()
        done = subprocess.run([str(BIN / "ncloud"), *args, *self.options, "-i", str(self.inventory)],
                              capture_output=True, text=True, timeout=timeout, cwd=self.deploy_dir,
                              env={**os.environ, "COLUMNS": "200", **(env or {})})
        done.seconds = time.monotonic() - started
        print(f"$ ncloud {' '.join(args)}: rc {done.returncode} in {done.seconds:.1f} s\n{done.stdout}\n{done.stderr}")
        return done

    def changes(self, output: str) -> dict[str, int]:
        """The `changed` column of the run's summary table, per host."""
        rows = re.findall(r"│ (\S+)\s+│\s+(\d+) │\s+(\d+) │", output)
        return {host: int(changed) for host, _ok, changed in rows}

    def clouds_yaml(self) -> Path:
        return self.deploy_dir / "clouds.yaml"

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.stop()
        shutil.rmtree(self.work, ignore_errors=True)
