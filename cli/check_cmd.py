"""`ncloud check`: is the cloud healthy? For people (a table), scripts (--format json) and
monitoring (--nagios: one line, perfdata, exit 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN).

Runs where a controller's configuration is (cron on a controller, or `ncloud check` from the
admin workstation through playbooks/check.yml). The exit code is always the worst status found.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, load_config


def check(
    config_file: Path | None = ConfigFile,
    output: str = typer.Option("table", "--format", "-f", help="table or json."),
    nagios: bool = typer.Option(False, "--nagios", help="One line with perfdata, as a Nagios plugin prints."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only this check (repeatable)."),
    deadline: float = typer.Option(5.0, "--deadline", help="Seconds the API and each RPC ping may take."),
    stuck_minutes: float = typer.Option(30.0, "--stuck-minutes", help="A server in a transition longer is stuck."),
    smoke: bool = typer.Option(False, "--smoke", help="Also boot, check and delete a server end to end."),
    smoke_image: str | None = typer.Option(None, "--smoke-image", help="Image for --smoke (default: the newest "
                                                                        "active public image)."),
    smoke_timeout: float = typer.Option(300.0, "--smoke-timeout", help="Seconds the smoke server may take."),
) -> None:
    """Check the API, tokens, database, bus, every daemon, capacity, stuck servers, allocations
    and the image store; exit with the worst status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""
    from ncloud.cli.check import checks, report
    from ncloud.cli.check.findings import Finding, Status, worst
    from ncloud.daemons.core import config

    try:
        conf = config.load(config_file)
    except config.ConfigError as error:
        findings = [Finding("config", Status.UNKNOWN, str(error))]
    else:
        unknown = sorted(set(only or ()) - set(checks.CHECKS))
        if unknown:
            typer.secho(f"error: no check named {', '.join(unknown)} (there are: {', '.join(checks.CHECKS)})",
                        fg="red", err=True)
            raise typer.Exit(int(Status.UNKNOWN))
        cloud = checks.Cloud(conf, checks.Thresholds(deadline=deadline, stuck_minutes=stuck_minutes))
        try:
            findings = checks.run_all(cloud, only)
            if smoke:
                from ncloud.cli.check.smoke import smoke_test

                findings.append(smoke_test(conf, smoke_image, smoke_timeout))
        finally:
            cloud.close()
    if nagios:
        typer.echo(report.nagios(findings))
    elif output == "json":
        typer.echo(report.as_json(findings))
    else:
        report.table(findings)
    raise typer.Exit(int(worst(findings)))


def upgrade_check(config_file: Path | None = ConfigFile,
                  output: str = typer.Option("table", "--format", "-f", help="table or json.")) -> None:
    """Can this cloud be upgraded now? Database and bus reachable, every daemon up and answering,
    no move in progress. Exit 0 ready, 1 warnings (upgrade with care), 2 blocked."""
    from ncloud.cli.check import checks, report
    from ncloud.cli.check.findings import Status, worst
    from ncloud.daemons.core.db import migrate

    conf = load_config(config_file)
    cloud = checks.Cloud(conf)
    try:
        findings = checks.run_all(cloud, checks=checks.UPGRADE_CHECKS)
        found = migrate.status(cloud.db) if findings[0].status == Status.OK else None
    finally:
        cloud.close()
    if found is not None and found.pending:
        findings[0].summary += f"; the upgrade applies {len(found.pending)} migration(s): {', '.join(found.pending)}"
    if output == "json":
        typer.echo(report.as_json(findings))
    else:
        report.table(findings)
    status = worst(findings)
    raise typer.Exit(2 if status in (Status.CRITICAL, Status.UNKNOWN) else int(status))
