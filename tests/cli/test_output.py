"""`-f table|json|yaml|value|csv` and `-c`: what a list and a show print when piped."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from ncloud.cli.output import OutputError, print_list, print_one

ROWS = [{"ID": "a1", "Name": "web", "Networks": {"net": "10.0.0.2"}, "Tags": ["x", "y"]},
        {"ID": "b2", "Name": "db server", "Networks": {}, "Tags": []}]
COLUMNS = ("ID", "Name", "Networks", "Tags")


def shown(function, *args, **kwargs) -> str:
    out = io.StringIO()  # not a terminal: plain text
    function(*args, out=out, **kwargs)
    return out.getvalue()


def test_a_piped_table_is_aligned_plain_text():
    assert shown(print_list, ROWS, COLUMNS).splitlines() == [
        "ID  Name       Networks        Tags",
        "a1  web        net='10.0.0.2'  x, y",
        "b2  db server",
    ]


def test_json_and_yaml_keep_the_api_types():
    assert json.loads(shown(print_list, ROWS, COLUMNS, "json")) == ROWS
    assert yaml.safe_load(shown(print_list, ROWS, COLUMNS, "yaml")) == ROWS


def test_value_and_csv():
    assert shown(print_list, ROWS, COLUMNS, "value", ["Name", "ID"]) == "a1 web\nb2 db server\n"
    assert shown(print_list, ROWS, COLUMNS, "csv", ["name"]) == '"Name"\n"web"\n"db server"\n'


def test_a_show_is_fields_and_values():
    record = {"id": "a1", "status": "ACTIVE", "properties": {"k": "v"}}
    assert shown(print_one, record).splitlines() == ["Field       Value", "id          a1", "status      ACTIVE",
                                                     "properties  k='v'"]
    assert shown(print_one, record, "value", ["status"]) == "ACTIVE\n"
    assert json.loads(shown(print_one, record, "json")) == record


def test_bad_formats_and_columns_say_what_exists():
    with pytest.raises(OutputError, match="unknown format 'xml': use one of table, json, yaml, value, csv"):
        shown(print_list, ROWS, COLUMNS, "xml")
    with pytest.raises(OutputError, match="no column 'Flavor': the columns are ID, Name, Networks, Tags"):
        shown(print_list, ROWS, COLUMNS, "table", ["Flavor"])
