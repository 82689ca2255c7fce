"""The --os-* options, --insecure and --debug are taken wherever they stand on the line, as the
`openstack` client takes them; everything else is left to the command."""

from __future__ import annotations

import pytest

from ncloud.cli.cloud import context
from ncloud.cli.main import take_globals


@pytest.fixture(autouse=True)
def fresh_globals(monkeypatch):
    monkeypatch.setattr(context, "GLOBALS", context.Globals())
    yield context.GLOBALS


def test_options_anywhere_in_both_spellings(fresh_globals):
    rest = take_globals(["server", "list", "--os-cloud", "work", "-f", "json", "--os-password=pw", "--debug",
                         "--os-project-domain-id", "default", "--insecure", "--os-compute-api-version", "2.79"])
    assert rest == ["server", "list", "-f", "json"]
    assert fresh_globals.cloud == "work" and fresh_globals.debug is True
    assert fresh_globals.options == {"auth": {"password": "pw", "project_domain_id": "default"}, "insecure": True,
                                     "compute_api_version": "2.79"}


def test_after_a_double_dash_nothing_is_taken(fresh_globals):
    assert take_globals(["server", "create", "--", "--os-cloud"]) == ["server", "create", "--", "--os-cloud"]
    assert fresh_globals.cloud is None


def test_a_missing_value_is_left_for_the_usage_error(fresh_globals):
    assert take_globals(["server", "list", "--os-cloud"]) == ["server", "list", "--os-cloud"]
