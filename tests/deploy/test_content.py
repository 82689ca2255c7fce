"""The playbooks and roles as Ansible and ansible-lint read them: syntax, the production profile,
and the shape every role keeps (typed inputs, a README, tasks split by concern)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ncloud.cli.deploy import content

ROOT = content.source_checkout()
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(path.name for path in content.playbooks_dir().glob("*.yml"))
ROLES = sorted(path.name for path in content.roles_dir().iterdir() if path.is_dir())
ENV = {**os.environ, "ANSIBLE_CONFIG": str(content.playbooks_dir() / "ansible.cfg"), "NO_COLOR": "1"}


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_passes_the_syntax_check(playbook):
    done = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(ROOT / "inventory.example"),
                           str(content.playbooks_dir() / playbook)], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr


def test_awx_runs_the_playbooks_from_the_repository_root_with_its_settings():
    """AWX and Tower run a project from its root, where ansible.cfg (a link to the playbooks') is read."""
    env = {key: value for key, value in ENV.items() if key != "ANSIBLE_CONFIG"}
    version = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert f"config file = {ROOT / 'ansible.cfg'}\n" in version.stdout, version.stdout + version.stderr
    done = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory.example",
                           "playbooks/site.yml"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr  # the roles are found through roles_path


@pytest.mark.slow
def test_ansible_lint_passes_with_the_production_profile():
    done = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--profile", "production", "--format", "pep8",
                           "playbooks", "roles"], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stderr


@pytest.mark.parametrize("role", ROLES)
def test_every_role_declares_typed_inputs_and_has_a_readme(role):
    folder = content.roles_dir() / role
    specs = yaml.safe_load((folder / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert "main" in specs
    for entry in specs.values():
        for name, option in entry.get("options", {}).items():
            assert option.get("type"), f"{role}: {name} has no type"
            assert option.get("description"), f"{role}: {name} is not described"
    assert (folder / "README.md").read_text().startswith(f"# {role}")
    main = yaml.safe_load((folder / "tasks" / "main.yml").read_text())
    assert all(next(iter(k for k in task if k.startswith("ansible.builtin."))).split(".")[-1]
               in ("import_tasks", "include_tasks") for task in main), f"{role}: tasks/main.yml only includes"


def test_the_inventory_example_has_every_group_and_an_all_in_one_variant():
    text = (ROOT / "inventory.example").read_text()
    groups = yaml.safe_load(text)["all"]["children"]
    assert set(groups) == {"controllers", "computes", "database", "messaging"}
    assert "ansible_connection: local" in text
