"""How end-user commands print what they found, the way the `openstack` client does:
`-f table|json|yaml|value|csv` and `-c COLUMN` (repeatable).

A table is a rich table on a terminal and plain aligned text when piped (no colours, no box
characters, so grep and awk work); json and yaml keep the API's types; value prints the values
alone, space-separated, one row per line; csv quotes every field. A list prints rows under
column headers; a show prints one record as Field/Value rows (json and yaml: an object).
rich is imported only to draw a table on a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated

import typer

FORMATS = ("table", "json", "yaml", "value", "csv")

Format = Annotated[str, typer.Option("--format", "-f", help="Output format: table, json, yaml, value or csv.",
                                     show_default=False, metavar="FORMAT")]
Columns = Annotated[list[str] | None, typer.Option("--column", "-c", help="Only this column (repeat for more).",
                                                   show_default=False, metavar="COLUMN")]


class OutputError(Exception):
    """A bad -f or -c: the message names what exists."""


def _check(fmt: str, columns: Sequence[str], selected: Sequence[str] | None) -> list[str]:
    if fmt not in FORMATS:
        raise OutputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not selected:
        return list(columns)
    lowered = {column.lower(): column for column in columns}
    unknown = [name for name in selected if name.lower() not in lowered]
    if unknown:
        raise OutputError(f"no column {', '.join(map(repr, unknown))}: the columns are {', '.join(columns)}")
    wanted = {name.lower() for name in selected}
    return [column for column in columns if column.lower() in wanted]  # the record's order, as cliff keeps it


def text(value) -> str:
    """A value as one line of text: lists joined by commas, mappings as key='value' pairs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return ", ".join(f"{key}='{text(item)}'" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(text(item) for item in value)
    return str(value)


def _dump(data, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    import yaml

    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, allow_unicode=True).rstrip("\n")


def _table(headers: Sequence[str], rows: Iterable[Sequence], out) -> None:
    rows = [[text(value) for value in row] for row in rows]
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, header_style="bold", show_lines=False)
        for row in rows:
            table.add_row(*row)
        Console(file=out).print(table)
        return
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    for row in [list(headers), *rows]:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")


def _csv(headers: Sequence[str], rows: Iterable[Sequence], out) -> None:
    import csv

    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([text(value) for value in row])


def print_list(records: Sequence[dict], columns: Sequence[str], fmt: str = "table",
               selected: Sequence[str] | None = None, out=None) -> None:
    """Rows of `records` (dicts keyed by column name) under `columns`."""
    out = out or sys.stdout
    shown = _check(fmt, columns, selected)
    rows = [[record.get(column) for column in shown] for record in records]
    if fmt in ("json", "yaml"):
        out.write(_dump([dict(zip(shown, row, strict=True)) for row in rows], fmt) + "\n")
    elif fmt == "value":
        for row in rows:
            out.write(" ".join(text(value) for value in row) + "\n")
    elif fmt == "csv":
        _csv(shown, rows, out)
    else:
        _table(shown, rows, out)


def print_one(record: dict, fmt: str = "table", selected: Sequence[str] | None = None, out=None) -> None:
    """One resource: its fields (the record's keys, in order) and values."""
    out = out or sys.stdout
    shown = _check(fmt, list(record), selected)
    if fmt in ("json", "yaml"):
        out.write(_dump({field: record[field] for field in shown}, fmt) + "\n")
    elif fmt == "value":
        for field in shown:
            out.write(text(record[field]) + "\n")
    elif fmt == "csv":
        _csv(shown, [[record[field] for field in shown]], out)
    else:
        _table(("Field", "Value"), [(field, record[field]) for field in shown], out)
