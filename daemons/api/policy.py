"""Who may do what: one policy engine for the Compute, Identity and Image APIs.

Rules are written as oslo.policy writes them, so an operator's policy.yaml for Nova or Keystone
reads the same here:

    "os_compute_api:servers:create": "rule:project_member_or_admin"
    "project_member_api": "role:member and project_id:%(project_id)s"

A check is `role:NAME`, `rule:NAME`, `@` (always), `!` (never), `FIELD:VALUE` comparing one of
the caller's `user_id`, `project_id`, `domain_id` (= `token.domain.id`, the domain of a
domain-scoped token) or `token.project.domain.id` with a literal or with a field of the target
(`%(project_id)s`, `%(target.user.domain_id)s`), or `'LITERAL':%(field)s` comparing a target's
field with a literal; checks combine with `and`, `or`, `not` and parentheses; an empty rule
allows everyone. The defaults are OpenStack's secure RBAC: reader, member and manager of the
target's project, Keystone's domain manager (role `manager` on a domain: that domain's users,
projects and their member/reader/manager roles), and admin. Roles imply each other as
Keystone's bootstrap makes them: admin > manager > member > reader.

`[api] policy_file` (YAML) overrides any rule; a rule it names that does not exist, or a rule
that does not parse, stops the API at start with the file and the rule named.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.core.context import RequestContext

LOG = logging.getLogger(__name__)

IMPLIED_ROLES = {"admin": ("manager", "member", "reader"), "manager": ("member", "reader"), "member": ("reader",)}

BASE = {
    "context_is_admin": "role:admin",
    "admin_api": "role:admin",
    "project_reader_api": "role:reader and project_id:%(project_id)s",
    "project_member_api": "role:member and project_id:%(project_id)s",
    "project_manager_api": "role:manager and project_id:%(project_id)s",
    "project_reader_or_admin": "rule:project_reader_api or rule:context_is_admin",
    "project_member_or_admin": "rule:project_member_api or rule:context_is_admin",
    "project_manager_or_admin": "rule:project_manager_api or rule:context_is_admin",
    # Keystone's domain manager persona: the roles a domain manager may grant and revoke.
    "domain_managed_role": "'manager':%(role.name)s or 'member':%(role.name)s or 'reader':%(role.name)s",
    "domain_manager_grant": "role:manager and token.domain.id:%(user.domain_id)s and "
                            "(token.domain.id:%(project.domain_id)s or token.domain.id:%(domain.id)s)",
}

# Rules the code checks, with their defaults (Nova's and Keystone's names).
DEFAULTS = {
    **BASE,
    "os_compute_api:servers:index": "rule:project_reader_or_admin",
    "os_compute_api:servers:detail": "rule:project_reader_or_admin",
    "os_compute_api:servers:show": "rule:project_reader_or_admin",
    "os_compute_api:servers:create": "rule:project_member_or_admin",
    "os_compute_api:servers:delete": "rule:project_member_or_admin",
    "os_compute_api:servers:update": "rule:project_member_or_admin",
    **{rule: "rule:project_member_or_admin" for rule in (
        "os_compute_api:servers:stop", "os_compute_api:servers:start", "os_compute_api:servers:reboot",
        "os_compute_api:os-pause-server:pause", "os_compute_api:os-pause-server:unpause",
        "os_compute_api:os-suspend-server:suspend", "os_compute_api:os-suspend-server:resume",
        "os_compute_api:os-lock-server:lock", "os_compute_api:os-lock-server:unlock",
        "os_compute_api:os-console-output", "os_compute_api:os-admin-password",
        "os_compute_api:servers:trigger_crash_dump", "os_compute_api:servers:resize",
        "os_compute_api:servers:confirm_resize", "os_compute_api:servers:revert_resize",
        "os_compute_api:servers:rebuild", "os_compute_api:os-rescue", "os_compute_api:os-unrescue",
        "os_compute_api:os-deferred-delete:restore", "os_compute_api:os-deferred-delete:force",
        "os_compute_api:servers:create_image", "os_compute_api:os-create-backup", "os_compute_api:os-shelve:shelve",
        "os_compute_api:os-shelve:unshelve", "os_compute_api:os-remote-consoles")},
    "os_compute_api:server-topology:index": "rule:project_reader_or_admin",
    **{rule: "rule:admin_api" for rule in (
        "os_compute_api:os-migrate-server:migrate", "os_compute_api:os-migrate-server:migrate:host",
        "os_compute_api:os-migrate-server:migrate_live", "os_compute_api:os-evacuate",
        "os_compute_api:os-migrations:index", "os_compute_api:servers:migrations:index",
        "os_compute_api:servers:migrations:show", "os_compute_api:servers:migrations:delete",
        "os_compute_api:servers:migrations:force_complete", "os_compute_api:os-server-diagnostics",
        "os_compute_api:server-topology:host:index", "os_compute_api:os-shelve:shelve_offload",
        "compute:aggregates:images", "os_compute_api:os-instance-usage-audit-log:list",
        "os_compute_api:os-instance-usage-audit-log:show",
        "os_compute_api:os-shelve:unshelve_to_host")},
    "os_compute_api:os-admin-actions:reset_state": "rule:admin_api",
    "os_compute_api:os-lock-server:unlock:unlock_override": "rule:admin_api",
    "os_compute_api:os-server-groups:create": "rule:project_member_or_admin",
    "os_compute_api:os-server-groups:delete": "rule:project_member_or_admin",
    "os_compute_api:os-server-groups:index": "rule:project_reader_or_admin",
    "os_compute_api:os-server-groups:index:all_projects": "rule:admin_api",
    "os_compute_api:os-server-groups:show": "rule:project_reader_or_admin",
    "os_compute_api:os-simple-tenant-usage:list": "rule:admin_api",
    "os_compute_api:os-simple-tenant-usage:show": "rule:project_reader_or_admin",
    "os_compute_api:os-instance-actions:list": "rule:project_reader_or_admin",
    "os_compute_api:os-instance-actions:show": "rule:project_reader_or_admin",
    "os_compute_api:os-instance-actions:events": "rule:admin_api",
    "os_compute_api:os-instance-actions:events:details": "rule:admin_api",
    **{f"os_compute_api:server-metadata:{action}": "rule:project_member_or_admin"
       for action in ("create", "update_all", "update", "delete")},
    **{f"os_compute_api:os-server-tags:{action}": "rule:project_member_or_admin"
       for action in ("update_all", "update", "delete_all", "delete")},
    **{rule: "rule:project_reader_or_admin" for rule in (
        "os_compute_api:server-metadata:index", "os_compute_api:server-metadata:show",
        "os_compute_api:os-server-tags:index", "os_compute_api:os-server-tags:show",
        "os_compute_api:ips:index", "os_compute_api:ips:show")},
    "os_compute_api:servers:index:get_all_tenants": "rule:admin_api",
    "os_compute_api:servers:allow_all_filters": "rule:admin_api",
    "os_compute_api:servers:detail:get_all_tenants": "rule:admin_api",
    "os_compute_api:servers:create:forced_host": "rule:admin_api",
    "compute:servers:create:requested_destination": "rule:admin_api",
    "os_compute_api:os-extended-server-attributes": "rule:admin_api",
    "os_compute_api:servers:show:host_status": "rule:admin_api",
    "os_compute_api:os-flavor-extra-specs:index": "rule:project_reader_or_admin",
    "os_compute_api:os-flavor-extra-specs:show": "rule:project_reader_or_admin",
    **{f"os_compute_api:os-flavor-extra-specs:{action}": "rule:admin_api" for action in ("create", "update", "delete")},
    "os_compute_api:os-flavor-access": "rule:admin_api",
    "os_compute_api:os-flavor-access:add_tenant_access": "rule:admin_api",
    "os_compute_api:os-flavor-access:remove_tenant_access": "rule:admin_api",
    **{f"os_compute_api:os-keypairs:{action}": "rule:admin_api or user_id:%(user_id)s"
       for action in ("index", "create", "show", "delete")},
    "os_compute_api:os-quota-sets:show": "rule:project_reader_or_admin",
    "os_compute_api:os-quota-sets:detail": "rule:project_reader_or_admin",
    "os_compute_api:os-quota-sets:defaults": "",
    "os_compute_api:os-quota-sets:update": "rule:admin_api",
    "os_compute_api:os-quota-sets:delete": "rule:admin_api",
    "os_compute_api:os-quota-class-sets:show": "rule:admin_api",
    "os_compute_api:os-quota-class-sets:update": "rule:admin_api",
    "os_compute_api:limits": "",
    "os_compute_api:limits:other_project": "rule:admin_api",
    "os_compute_api:os-flavor-manage:create": "rule:admin_api",
    "os_compute_api:os-flavor-manage:delete": "rule:admin_api",
    "os_compute_api:os-flavor-manage:update": "rule:admin_api",
    **{f"os_compute_api:os-aggregates:{action}": "rule:admin_api" for action in (
        "index", "create", "show", "update", "delete", "add_host", "remove_host", "set_metadata")},
    "os_compute_api:os-services:list": "rule:admin_api",
    "os_compute_api:os-services:update": "rule:admin_api",
    "os_compute_api:os-services:delete": "rule:admin_api",
    "os_compute_api:os-availability-zone:list": "",
    "os_compute_api:os-availability-zone:detail": "rule:admin_api",
    "os_compute_api:os-hypervisors:list": "rule:admin_api",
    "os_compute_api:os-hypervisors:list-detail": "rule:admin_api",
    "os_compute_api:os-hypervisors:show": "rule:admin_api",
    # Image (Glance's names): members add and change their project's images; only an admin makes one public.
    "get_images": "rule:project_reader_or_admin",
    "get_image": "rule:project_reader_or_admin",
    "download_image": "rule:project_reader_or_admin",
    "add_image": "rule:project_member_or_admin",
    "upload_image": "rule:project_member_or_admin",
    "modify_image": "rule:project_member_or_admin",
    "delete_image": "rule:project_member_or_admin",
    "publicize_image": "rule:admin_api",
    "deactivate": "rule:admin_api",
    "reactivate": "rule:admin_api",
    # Identity: an admin administers; a domain manager administers their domain's users and
    # projects; anyone reads their own user, project and domain.
    **{f"identity:{action}": "rule:admin_api" for action in (
        "create_domain", "update_domain", "delete_domain", "create_role", "update_role", "delete_role")},
    **{f"identity:{action}": "rule:admin_api or (role:manager and token.domain.id:%(domain_id)s)"
       for action in ("list_domains", "list_projects", "list_users")},
    **{f"identity:{action}": "rule:admin_api or (role:manager and token.domain.id:%(project.domain_id)s)"
       for action in ("create_project", "update_project", "delete_project")},
    **{f"identity:{action}": "rule:admin_api or (role:manager and token.domain.id:%(user.domain_id)s)"
       for action in ("create_user", "update_user", "delete_user")},
    "identity:get_domain": "rule:admin_api or token.domain.id:%(domain_id)s or token.project.domain.id:%(domain_id)s",
    "identity:get_project": "rule:admin_api or (role:manager and token.domain.id:%(project.domain_id)s) "
                            "or project_id:%(project_id)s",
    "identity:get_user": "rule:admin_api or (role:manager and token.domain.id:%(user.domain_id)s) "
                         "or user_id:%(user_id)s",
    "identity:list_user_projects": "rule:admin_api or (role:manager and token.domain.id:%(user.domain_id)s) "
                                   "or user_id:%(user_id)s",
    "identity:list_roles": "rule:admin_api or role:manager",
    "identity:get_role": "rule:admin_api or (role:manager and rule:domain_managed_role)",
    "identity:list_grants": "rule:admin_api or rule:domain_manager_grant",
    "identity:check_grant": "rule:admin_api or rule:domain_manager_grant",
    "identity:create_grant": "rule:admin_api or (rule:domain_manager_grant and rule:domain_managed_role)",
    "identity:revoke_grant": "rule:admin_api or (rule:domain_manager_grant and rule:domain_managed_role)",
    # The catalog (read-only here) and unified limits: Keystone's defaults.
    **{f"identity:{action}": "rule:admin_api" for action in (
        "list_services", "get_service", "list_endpoints", "get_endpoint", "create_registered_limit",
        "update_registered_limit", "delete_registered_limit", "create_limit", "update_limit", "delete_limit")},
    **{f"identity:{action}": "" for action in (
        "list_regions", "get_region", "list_registered_limits", "get_registered_limit", "get_limit_model")},
    # Listing and reading limits: anyone, but the API shows a non-admin their own project's only.
    "identity:list_limits": "",
    "identity:get_limit": "",
    "identity:list_role_assignments": "rule:admin_api or (role:manager and token.domain.id:%(domain_id)s) "
                                      "or user_id:%(user_id)s",
    "identity:change_password": "user_id:%(user_id)s",
    **{f"identity:{action}_application_credential": "user_id:%(user_id)s"
       for action in ("create", "get", "list", "delete")},
    "identity:list_application_credentials": "user_id:%(user_id)s",
}


class PolicyError(ValueError):
    """A policy file or rule that cannot be used."""


Check = Callable[[dict, Mapping[str, Any], "Enforcer"], bool]


class Enforcer:
    """The rules in force: the defaults, overridden by a policy file."""

    def __init__(self, overrides: Mapping[str, str] | None = None, source: str = "defaults"):
        unknown = sorted(set(overrides or {}) - set(DEFAULTS))
        if unknown:
            raise PolicyError(f"{source}: unknown rule(s): {', '.join(unknown)}")
        self.text = {**DEFAULTS, **(overrides or {})}
        self.rules: dict[str, Check] = {}
        for name, text in self.text.items():
            if not isinstance(text, str):
                raise PolicyError(f"{source}: rule {name!r} must be a string, not {type(text).__name__}")
            try:
                self.rules[name] = _parse(text)
            except PolicyError as error:
                raise PolicyError(f"{source}: rule {name!r}: {error}") from None
        for name in self.rules:
            self._check_references(name, [])

    @classmethod
    def from_file(cls, path: str) -> Enforcer:
        """The defaults and the rules of `path` (YAML); no file there means the defaults."""
        file = Path(path)
        if not path or not file.exists():
            return cls()
        import yaml

        try:
            overrides = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise PolicyError(f"{path}: cannot read the policy file: {error}") from None
        if not isinstance(overrides, dict):
            raise PolicyError(f"{path}: a policy file is a mapping of rule names to rules")
        LOG.info("policy: %d rule(s) from %s override the defaults", len(overrides), path)
        return cls(overrides, source=path)

    def allowed(self, ctx: RequestContext, rule: str, target: Mapping[str, Any] | None = None) -> bool:
        domain_id = getattr(ctx, "domain_id", None)
        creds = {"user_id": ctx.user_id, "project_id": ctx.project_id, "domain_id": domain_id,
                 "token.domain.id": domain_id, "token.project.domain.id": getattr(ctx, "project_domain_id", None),
                 "roles": _with_implied(ctx.roles)}
        return self.rules[rule](creds, target if target is not None else {"project_id": ctx.project_id}, self)

    def _check_references(self, name: str, path: list[str]) -> None:
        if name in path:
            raise PolicyError(f"rule {name!r} refers to itself through {' -> '.join(path)}")
        for referred in re.findall(r"rule:([\w:.-]+)", self.text[name]):
            if referred not in self.rules:
                raise PolicyError(f"rule {name!r} refers to rule {referred!r}, which does not exist")
            self._check_references(referred, [*path, name])


def allowed(ctx: RequestContext, rule: str, target: Mapping[str, Any] | None = None) -> bool:
    return getattr(ctx, "policy", DEFAULT_ENFORCER).allowed(ctx, rule, target)


def authorize(ctx: RequestContext, rule: str, target: Mapping[str, Any] | None = None) -> None:
    """Raise 403 forbidden with Nova's message unless the caller may use `rule` on `target`."""
    if not allowed(ctx, rule, target):
        raise Fault(403, f"Policy doesn't allow {rule} to be performed.")


def _with_implied(roles: list[str]) -> set[str]:
    result = set(roles)
    for role in roles:
        result.update(IMPLIED_ROLES.get(role, ()))
    return result


# -- the rule language ---------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    """Words split on spaces, with parentheses peeled off their ends (as oslo.policy reads them:
    the parentheses inside `%(project_id)s` stay)."""
    tokens: list[str] = []
    for word in text.split():
        inner = word.lstrip("(")
        tokens.extend("(" * (len(word) - len(inner)))
        core = inner.rstrip(")")
        if core:
            tokens.append(core)
        tokens.extend(")" * (len(inner) - len(core)))
    return tokens


def _parse(text: str) -> Check:
    tokens = _tokens(text)
    if not tokens:
        return lambda creds, target, enforcer: True
    check, rest = _or(tokens)
    if rest:
        raise PolicyError(f"unexpected {rest[0]!r}")
    return check


def _or(tokens: list[str]) -> tuple[Check, list[str]]:
    left, tokens = _and(tokens)
    while tokens and tokens[0] == "or":
        right, tokens = _and(tokens[1:])
        left = (lambda a, b: lambda c, t, e: a(c, t, e) or b(c, t, e))(left, right)
    return left, tokens


def _and(tokens: list[str]) -> tuple[Check, list[str]]:
    left, tokens = _not(tokens)
    while tokens and tokens[0] == "and":
        right, tokens = _not(tokens[1:])
        left = (lambda a, b: lambda c, t, e: a(c, t, e) and b(c, t, e))(left, right)
    return left, tokens


def _not(tokens: list[str]) -> tuple[Check, list[str]]:
    if tokens and tokens[0] == "not":
        inner, tokens = _not(tokens[1:])
        return (lambda c, t, e: not inner(c, t, e)), tokens
    return _atom(tokens)


def _atom(tokens: list[str]) -> tuple[Check, list[str]]:
    if not tokens:
        raise PolicyError("the rule ends where a check was expected")
    token, rest = tokens[0], tokens[1:]
    if token == "(":
        inner, rest = _or(rest)
        if not rest or rest[0] != ")":
            raise PolicyError("a parenthesis is not closed")
        return inner, rest[1:]
    if token == "@":
        return (lambda c, t, e: True), rest
    if token == "!":
        return (lambda c, t, e: False), rest
    kind, colon, match = token.partition(":")
    if not colon or not kind or not match:
        raise PolicyError(f"{token!r} is not a check (role:NAME, rule:NAME, FIELD:VALUE, @ or !)")
    literal = re.fullmatch(r"'([^']*)'", kind)
    if literal:
        field = re.fullmatch(_TARGET_FIELD, match)
        if not field:
            raise PolicyError(f"{token!r}: a quoted literal is compared with a target field, as 'x':%(field)s")
        return (lambda c, t, e: str(_target(t, field.group(1))) == literal.group(1)), rest
    if kind == "role":
        return (lambda c, t, e: match.lower() in {r.lower() for r in c["roles"]}), rest
    if kind == "rule":
        return (lambda c, t, e: e.rules[match](c, t, e)), rest
    if kind not in CREDENTIAL_FIELDS:
        raise PolicyError(f"{kind!r} is not a field a rule can check ({', '.join(CREDENTIAL_FIELDS)})")
    field = re.fullmatch(_TARGET_FIELD, match)
    if field:
        return (lambda c, t, e: c[kind] is not None and str(_target(t, field.group(1))) == str(c[kind])), rest
    return (lambda c, t, e: c[kind] is not None and c[kind] == match), rest


CREDENTIAL_FIELDS = ("user_id", "project_id", "domain_id", "token.domain.id", "token.project.domain.id")
_TARGET_FIELD = r"%\(([\w.]+)\)s"


def _target(target: Mapping[str, Any], name: str) -> Any:
    """A target's field by its name, `target.` prefix or not (oslo.policy's rules use both)."""
    return target.get(name.removeprefix("target."))


DEFAULT_ENFORCER = Enforcer()  # when a request carries no policy (tests of parts, the defaults)
