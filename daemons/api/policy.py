"""Who may do what, named with Nova's policy rules so operators recognise the 403 messages.

For now every rule is either "anyone authenticated" or "admin only"; a configurable policy file
is a later issue. Keeping the checks behind `authorize(ctx, rule)` is what lets that change land
in one module.
"""

from __future__ import annotations

from ncloud.daemons.api.errors import Fault
from ncloud.daemons.core.context import RequestContext

ADMIN_ONLY = frozenset({
    "os_compute_api:os-services:list",
    "os_compute_api:os-hypervisors:list",
    "os_compute_api:os-hypervisors:list-detail",
    "os_compute_api:os-hypervisors:show",
    "os_compute_api:os-flavor-manage:create",
    "os_compute_api:os-flavor-manage:delete",
    "os_compute_api:servers:index:get_all_tenants",
    "os_compute_api:servers:detail:get_all_tenants",
    "os_compute_api:servers:create:forced_host",
})


def allowed(ctx: RequestContext, rule: str) -> bool:
    return ctx.is_admin or rule not in ADMIN_ONLY


def authorize(ctx: RequestContext, rule: str) -> None:
    """Raise 403 forbidden with Nova's message unless the caller may use `rule`."""
    if not allowed(ctx, rule):
        raise Fault(403, f"Policy doesn't allow {rule} to be performed.")
