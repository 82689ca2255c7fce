"""Where the Ansible content is.

In a source checkout the playbooks and roles sit at the top of the repository, beside `cli/`; in an
installed wheel they are the packages `ncloud.playbooks` and `ncloud.roles`, beside `ncloud.cli`.
The same relative path finds both.
"""

from __future__ import annotations

from pathlib import Path

import ncloud.cli

ROOT = Path(ncloud.cli.__file__).resolve().parent.parent


def playbooks_dir() -> Path:
    return ROOT / "playbooks"


def roles_dir() -> Path:
    return ROOT / "roles"


def playbook(name: str) -> Path:
    path = playbooks_dir() / f"{name}.yml"
    if not path.is_file():
        raise FileNotFoundError(f"no playbook {name}.yml in {playbooks_dir()}")
    return path


def source_checkout() -> Path | None:
    """The repository when ncloud runs from one (an editable install), else None."""
    return ROOT if (ROOT / "pyproject.toml").is_file() and (ROOT / "daemons").is_dir() else None
