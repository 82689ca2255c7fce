"""The operator commands: each runs one playbook through ansible-runner and shows it live.

    ncloud genpwd -i inventory.yml        # the secrets, once
    ncloud deploy -i inventory.yml        # bootstrap, prechecks, deploy, post-deploy: see `site`
    ncloud add-compute node4 -i inventory.yml

Every command takes the same Ansible options (-i, layered; --limit, --tags, --check, --diff,
-e, --vault-password-file, -v) and exits 0 when the run succeeded, 2 when a host failed or was
unreachable, 1 when the run itself could not start. Heavy imports (ansible-runner, rich) happen
when a command runs, so `ncloud --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli import check_cmd
from ncloud.cli.deploy.commands import PLAYBOOK_COMMANDS

INVENTORY_HELP = "Inventory file (repeat to layer several); its folder holds passwords.yml and the run artifacts."
VaultPasswordFile = typer.Option(None, "--vault-password-file", envvar="NCLOUD_VAULT_PASSWORD_FILE",
                                 help="Decrypts a vault-encrypted passwords file (which stays encrypted).")


def _options(inventory: list[Path], passwords: Path | None, limit: str | None, tags: str | None, check: bool,
             diff: bool, extra_vars: list[str] | None, vault_password_file: Path | None, verbose: int,
             ask_vault_pass: bool = False):
    from ncloud.cli.deploy.runner import Options

    vault_password = None
    if ask_vault_pass:
        import getpass
        import os

        vault_password = os.environ.get("NCLOUD_VAULT_PASSWORD") or getpass.getpass("Vault password: ")
    return Options(inventories=inventory, passwords=passwords, limit=limit, tags=tags, check=check, diff=diff,
                   extra_vars=list(extra_vars or []), vault_password_file=vault_password_file,
                   vault_password=vault_password, verbosity=verbose)


def run_playbook(playbook: str, title: str, options, extravars: dict | None = None, wheels: bool = False) -> None:
    """Run it with the live display; exit non-zero when anything failed. `wheels`: the playbook
    installs ncloud, build the wheelhouse first."""
    from ncloud.cli.deploy import runner, wheelhouse
    from ncloud.cli.deploy.display import RunDisplay

    variables = dict(extravars or {})
    if wheels:
        try:
            folder = wheelhouse.build(log=lambda line: typer.echo(line))
            variables["ncloud_wheelhouse_archive"] = str(wheelhouse.archive(folder))
        except wheelhouse.WheelhouseError as error:
            typer.secho(f"error: {error}", fg="red", err=True)
            raise typer.Exit(1) from None
    display = RunDisplay(title)
    try:
        with display:
            result = runner.run(playbook, options, display, variables)
    except FileNotFoundError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    display.summary(result.stats, result.artifacts, failed=not result.ok)
    if not result.ok:
        failed = result.total("failures") + result.total("dark")
        what = f"{failed} host failure(s)" if failed else f"ansible-playbook ended {result.status} (rc {result.rc})"
        typer.secho(f"{title} failed: {what}; see above and {result.artifacts}", fg="red", err=True)
        raise typer.Exit(2 if failed else 1)
    typer.secho(f"{title}: done, {result.total('changed')} change(s)", fg="green")


def playbook_command(app: typer.Typer, name: str, spec) -> None:
    """Register `ncloud NAME` running spec.playbook (with a HOST argument when it takes one)."""

    def command(
        inventory: list[Path] = typer.Option(..., "--inventory", "-i", envvar="NCLOUD_INVENTORY", help=INVENTORY_HELP),
        passwords: Path | None = typer.Option(None, "--passwords", help="Passwords file (default: passwords.yml "
                                                                        "beside the first inventory)."),
        limit: str | None = typer.Option(None, "--limit", "-l", help="Only these hosts (Ansible pattern)."),
        tags: str | None = typer.Option(None, "--tags", "-t", help="Only tasks with these tags."),
        check: bool = typer.Option(False, "--check", help="Say what would change, change nothing."),
        diff: bool = typer.Option(False, "--diff", help="Show the changes made to files."),
        extra_vars: list[str] | None = typer.Option(None, "--extra-vars", "-e", help="Extra variables (k=v or @file)."),
        vault_password_file: Path | None = VaultPasswordFile,
        ask_vault_pass: bool = typer.Option(False, "--ask-vault-pass", help="Ask for the vault password (or take "
                                                                            "NCLOUD_VAULT_PASSWORD)."),
        verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Ansible's verbosity (-vvv)."),
        host: str | None = None,
    ) -> None:
        options = _options(inventory, passwords, limit, tags, check, diff, extra_vars, vault_password_file, verbose,
                           ask_vault_pass)
        variables = dict(spec.extravars)
        if spec.host_argument is not None:
            variables[spec.host_argument] = host
        run_playbook(spec.playbook, f"ncloud {name}" + (f" {host}" if host else ""), options, variables,
                     spec.wheels)

    if spec.host_argument is not None:
        import inspect

        signature = inspect.signature(command)
        parameters = [p.replace(default=typer.Argument(..., help="The host, as named in the inventory."))
                      if p.name == "host" else p for p in signature.parameters.values()]
        command.__signature__ = signature.replace(parameters=parameters)
    command.__doc__ = spec.help
    app.command(name, help=spec.help)(command)


def destroy(
    yes_i_really_mean_it: bool = typer.Option(False, "--yes-i-really-mean-it",
                                              help="Confirm: every server, image and database row is lost."),
    inventory: list[Path] = typer.Option(..., "--inventory", "-i", envvar="NCLOUD_INVENTORY", help=INVENTORY_HELP),
    passwords: Path | None = typer.Option(None, "--passwords"),
    limit: str | None = typer.Option(None, "--limit", "-l"),
    vault_password_file: Path | None = VaultPasswordFile,
) -> None:
    """Remove ncloud from every host: daemons, guests, configuration, data, database, bus vhost."""
    if not yes_i_really_mean_it:
        typer.secho("error: destroy deletes every server, image and database row of the cloud; "
                    "run it again with --yes-i-really-mean-it", fg="red", err=True)
        raise typer.Exit(1)
    options = _options(inventory, passwords, limit, None, False, False, None, vault_password_file, 0)
    run_playbook("destroy", "ncloud destroy", options, {"ncloud_destroy_confirm": "yes-i-really-mean-it"})


def _vault_password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip()
    except OSError as error:
        typer.secho(f"error: cannot read the vault password file: {error}", fg="red", err=True)
        raise typer.Exit(1) from None


def genpwd(
    passwords: Path | None = typer.Option(
        None, "--passwords", "-p", help="The passwords file to fill in (default: passwords.yml beside the inventory, "
                                        "or here)."),
    inventory: Path | None = typer.Option(None, "--inventory", "-i", envvar="NCLOUD_INVENTORY",
                                          help="The deployment's inventory: its folder holds passwords.yml."),
    vault_password_file: Path | None = VaultPasswordFile,
) -> None:
    """Fill in every missing secret of the passwords file; existing values are never changed."""
    from ncloud.cli.deploy import passwords as secrets

    if passwords is None:
        passwords = (inventory.resolve().parent if inventory else Path.cwd()) / "passwords.yml"
    try:
        added = secrets.generate(passwords, _vault_password(vault_password_file))
    except secrets.PasswordsError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    if added:
        typer.echo(f"{passwords}: added {', '.join(added)}")
    else:
        typer.echo(f"{passwords}: every secret already set, nothing changed")


def mergepwd(
    old: Path = typer.Option(..., "--old", help="The passwords file in use."),
    new: Path = typer.Option(..., "--new", help="A new release's passwords file (from `ncloud genpwd`)."),
    final: Path = typer.Option(..., "--final", help="Where to write the merge (may be --old)."),
    clean: bool = typer.Option(False, "--clean", help="Drop secrets the new file does not have."),
    vault_password_file: Path | None = VaultPasswordFile,
) -> None:
    """Merge for an upgrade: the new file's names, the old file's values wherever it has them."""
    from ncloud.cli.deploy import passwords as secrets

    try:
        found = secrets.merge(old, new, final, clean, _vault_password(vault_password_file))
    except secrets.PasswordsError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{final}: kept {len(found['kept'])} secret(s) from {old}; new: {', '.join(found['new']) or 'none'}; "
               f"dropped: {', '.join(found['dropped']) or 'none'}")


app = typer.Typer(rich_markup_mode=None)
for _name, _spec in PLAYBOOK_COMMANDS.items():
    playbook_command(app, _name, _spec)
app.command("destroy")(destroy)
app.command("genpwd")(genpwd)
app.command("mergepwd")(mergepwd)
app.command("check")(check_cmd.check)
app.command("upgrade-check")(check_cmd.upgrade_check)
