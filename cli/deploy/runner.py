"""One way to run a playbook: ansible-runner with the operator's inventories, secrets and options.

The deployment folder is the folder of the first inventory: the passwords file, the admin's
clouds.yaml and the runs' artifacts (`artifacts/<time>-<playbook>/`: the events, stdout, the
command line) live there, so one folder describes one cloud. Every event is handed to a display
as it arrives; the run's stats decide the exit code.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ncloud.cli.deploy import content

KEEP_ARTIFACTS = 50


@dataclass
class Options:
    """What the operator asked for on the command line."""

    inventories: list[Path]
    passwords: Path | None = None
    limit: str | None = None
    tags: str | None = None
    check: bool = False
    diff: bool = False
    extra_vars: list[str] = field(default_factory=list)
    vault_password_file: Path | None = None
    vault_password: str | None = None  # answered to ansible-playbook's prompt (--ask-vault-pass)
    verbosity: int = 0

    @property
    def deploy_dir(self) -> Path:
        return self.inventories[0].resolve().parent

    def passwords_file(self) -> Path:
        return self.passwords or self.deploy_dir / "passwords.yml"


@dataclass
class Result:
    rc: int
    status: str
    stats: dict
    artifacts: Path

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.status == "successful"

    def total(self, what: str) -> int:
        return sum((self.stats or {}).get(what, {}).values())


def _command_line(options: Options, extravars_files: list[Path]) -> list[str]:
    args: list[str] = []
    for path in extravars_files:
        args += ["-e", f"@{path}"]
    for value in options.extra_vars:
        args += ["-e", value]
    if options.check:
        args.append("--check")
    if options.diff:
        args.append("--diff")
    if options.vault_password_file is not None:
        args += ["--vault-password-file", str(options.vault_password_file.resolve())]
    if options.vault_password is not None:
        args.append("--ask-vault-pass")
    return args


def _prune(artifacts: Path) -> None:
    runs = sorted((p for p in artifacts.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in runs[:-KEEP_ARTIFACTS]:
        shutil.rmtree(old, ignore_errors=True)


def run(playbook: str, options: Options, on_event: Callable[[dict], None],
        extravars: dict | None = None) -> Result:
    """Run playbooks/<playbook>.yml; blocks until it ends. `extravars`: the command's own variables."""
    import ansible_runner

    for inventory in options.inventories:
        if not inventory.exists():
            raise FileNotFoundError(f"inventory {inventory} does not exist")
    files = []
    passwords = options.passwords_file()
    if passwords.exists():
        files.append(passwords.resolve())
    elif options.passwords is not None:
        raise FileNotFoundError(f"passwords file {passwords} does not exist (create it with `ncloud genpwd`)")
    deploy_dir = options.deploy_dir
    artifacts = deploy_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    private = deploy_dir / ".ansible-runner"
    private.mkdir(mode=0o700, exist_ok=True)
    ident = f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{playbook}"
    bin_dir = str(Path(sys.executable).parent)  # ansible-playbook comes from ncloud's environment
    runner = ansible_runner.run(
        private_data_dir=str(private),
        artifact_dir=str(artifacts),
        ident=ident,
        playbook=str(content.playbook(playbook)),
        inventory=[str(path.resolve()) for path in options.inventories],
        limit=options.limit,
        tags=options.tags,
        verbosity=options.verbosity or None,
        extravars={"ncloud_credentials_dir": str(deploy_dir), **(extravars or {})},
        cmdline=shlex.join(_command_line(options, files)),
        envvars={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(content.playbooks_dir() / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(content.roles_dir()),
            "ANSIBLE_FORCE_COLOR": "0",
        },
        # The vault password goes to ansible-playbook's prompt, never to a file or the command line.
        passwords={r"^Vault password:\s*?$": options.vault_password} if options.vault_password is not None else None,
        suppress_env_files=True,
        quiet=True,
        event_handler=lambda event: on_event(event) or True,
    )
    _prune(artifacts)
    return Result(rc=runner.rc, status=runner.status, stats=runner.stats or {}, artifacts=artifacts / ident)

