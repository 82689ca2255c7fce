"""The policy engine: oslo.policy's rule language, secure-RBAC defaults, and policy files."""

import pytest

from ncloud.daemons.api.policy import DEFAULTS, Enforcer, PolicyError
from ncloud.daemons.core.context import RequestContext


def ctx(*roles, project="p1", user="u1"):
    return RequestContext(user_id=user, project_id=project, roles=list(roles))


ENFORCER = Enforcer()


@pytest.mark.parametrize("roles, allowed", [
    (("reader",), {"index"}), (("member",), {"index", "create"}), (("manager",), {"index", "create"}),
    (("admin",), {"index", "create", "get_all_tenants"}), ((), set()), (("other",), set()),
])
def test_secure_rbac_defaults_with_implied_roles(roles, allowed):
    rules = {"index": "os_compute_api:servers:index", "create": "os_compute_api:servers:create",
             "get_all_tenants": "os_compute_api:servers:index:get_all_tenants"}
    got = {name for name, rule in rules.items() if ENFORCER.allowed(ctx(*roles), rule, {"project_id": "p1"})}
    assert got == allowed


def test_a_member_of_another_project_is_not_a_member_here():
    assert not ENFORCER.allowed(ctx("member", project="p2"), "os_compute_api:servers:delete", {"project_id": "p1"})
    assert ENFORCER.allowed(ctx("admin", project="p2"), "os_compute_api:servers:delete", {"project_id": "p1"})


@pytest.mark.parametrize("rule, expected", [
    ("", True), ("@", True), ("!", False), ("role:reader", True), ("role:ADMIN", False),
    ("not role:admin", True), ("role:admin or user_id:u1", True), ("role:admin and user_id:u1", False),
    ("(role:admin or role:member) and project_id:%(project_id)s", True),
    ("user_id:%(user_id)s", False), ("project_id:p1 and not (role:admin or !)", True),
])
def test_the_rule_language(rule, expected):
    enforcer = Enforcer({"os_compute_api:servers:index": rule})
    assert enforcer.allowed(ctx("member"), "os_compute_api:servers:index", {"project_id": "p1", "user_id": "u2"}) \
        is expected


@pytest.mark.parametrize("overrides, message", [
    ({"no_such_rule": "@"}, "unknown rule(s): no_such_rule"),
    ({"admin_api": "role:admin and"}, "rule 'admin_api': the rule ends where a check was expected"),
    ({"admin_api": "(role:admin"}, "a parenthesis is not closed"),
    ({"admin_api": "rule:nothing"}, "refers to rule 'nothing', which does not exist"),
    ({"admin_api": "rule:context_is_admin", "context_is_admin": "rule:admin_api"}, "refers to itself"),
    ({"admin_api": "tenant:x"}, "'tenant' is not a field a rule can check"),
    ({"admin_api": 7}, "must be a string"),
])
def test_bad_rules_are_refused_with_the_rule_named(overrides, message):
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Enforcer(overrides)


def test_a_policy_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"os_compute_api:servers:create": "rule:admin_api"\n')
    enforcer = Enforcer.from_file(str(path))
    assert not enforcer.allowed(ctx("member"), "os_compute_api:servers:create")
    assert enforcer.allowed(ctx("member"), "os_compute_api:servers:index")
    assert Enforcer.from_file(str(tmp_path / "missing.yaml")).text == DEFAULTS
    path.write_text("- a list\n")
    with pytest.raises(PolicyError, match="a mapping of rule names"):
        Enforcer.from_file(str(path))
