"""The findings as people and monitoring systems read them: a table, JSON, or a Nagios plugin's
one line with perfdata."""

from __future__ import annotations

import json

from ncloud.cli.check.findings import Finding, Status, worst

STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "red", Status.UNKNOWN: "magenta"}


def table(findings: list[Finding]) -> None:
    from rich.console import Console
    from rich.table import Table

    result = Table(title=f"ncloud check: {worst(findings).name}", title_justify="left")
    result.add_column("check")
    result.add_column("status")
    result.add_column("details", overflow="fold")
    for finding in findings:
        result.add_row(finding.check, f"[{STYLES[finding.status]}]{finding.status.name}[/]", finding.summary)
    Console(highlight=False).print(result)


def as_json(findings: list[Finding]) -> str:
    return json.dumps({"status": worst(findings).name, "checks": [
        {"check": f.check, "status": f.status.name, "summary": f.summary,
         "figures": {name: {"value": value, "unit": unit} for name, (value, unit) in f.figures.items()}}
        for f in findings]}, indent=2)


def _perf_label(name: str) -> str:
    return f"'{name}'" if any(c in name for c in " '=") else name


def nagios(findings: list[Finding]) -> str:
    """`NCLOUD CRITICAL - services: ... | figures`: the problems first, the rest counted."""
    status = worst(findings)
    problems = [f for f in findings if f.status != Status.OK]
    if problems:
        text = "; ".join(f"{f.check} {f.status.name}: {f.summary}" for f in problems)
    else:
        text = f"{len(findings)} checks OK"
    perf = " ".join(f"{_perf_label(name)}={value:g}{unit}"
                    for f in findings for name, (value, unit) in f.figures.items())
    return f"NCLOUD {status.name} - {text}" + (f" | {perf}" if perf else "")
