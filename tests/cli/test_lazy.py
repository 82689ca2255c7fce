"""The `ncloud` command loads only what runs: the listing in `ncloud --help` comes from the
registry of cli/main.py, which must agree with the command modules it names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ncloud.cli import lazy
from ncloud.cli.main import RootGroup


@pytest.mark.parametrize("name", sorted(RootGroup.entries))
def test_every_entry_loads_and_its_help_is_the_commands_own(name):
    entry = RootGroup.entries[name]
    command = lazy.load(name, entry)
    assert command.name == name
    own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    assert own == entry.help, f"{name}: the registry says {entry.help!r}, the command {own!r}"


def loaded_after(*argv: str) -> set[str]:
    """The ncloud.cli command modules imported by `ncloud ARGV`."""
    code = ("import sys\nfrom ncloud.cli import main\nsys.argv = ['ncloud', *sys.argv[1:]]\ntry:\n"
            "    main.main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in sys.modules if m.startswith('ncloud.cli.resources.')"
            " or m.endswith('_cmd') or m == 'ncloud.cli.up'))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return set(done.stdout.split("\n")[-2].split())


def test_the_help_loads_no_command_module():
    assert loaded_after("--help") == set()


def test_a_command_loads_its_module_alone():
    assert loaded_after("flavor", "list", "--help") == {"ncloud.cli.resources.flavor", "ncloud.cli.resources.common"}


def test_every_subcommand_resolves_with_its_help():
    """Groups convert their subcommands on demand (lazy.OnDemandGroup): each one must still be found."""

    def walk(command, path):
        if not hasattr(command, "list_commands"):
            assert (command.help or "").strip(), f"ncloud {path} has no help"
            return 1
        found = 0
        for name in command.list_commands(None):
            sub = command.get_command(None, name)
            assert sub is not None, f"ncloud {path} {name} does not resolve"
            found += walk(sub, f"{path} {name}")
        return found

    total = sum(walk(lazy.load(name, entry), name) for name, entry in RootGroup.entries.items())
    assert total > 120
