"""Server groups: which hosts a group's servers are on, for the scheduler's policies and the API's views.

Policies, as in Nova: `affinity` (every member on one host), `anti-affinity` (members on
different hosts; the rule `max_server_per_host` allows more than one per host, from 2.64), and
their soft variants, which only weigh hosts and never refuse one.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncloud.daemons.core.db.models import Instance, ServerGroup, ServerGroupMember

AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"
POLICIES = (AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY)


def member_hosts(session: Session, group_uuid: str, excluding: list[str] = ()) -> Counter:
    """How many of the group's servers (other than `excluding`) each host has."""
    rows = session.scalars(
        select(Instance.host).join(ServerGroupMember, ServerGroupMember.instance_uuid == Instance.uuid)
        .join(ServerGroup, ServerGroup.id == ServerGroupMember.group_id)
        .where(ServerGroup.uuid == group_uuid, Instance.deleted.is_(False), Instance.host.is_not(None),
               Instance.uuid.not_in(list(excluding) or [""])))
    return Counter(rows)


def members(session: Session, group_ids: list[int]) -> dict[int, list[str]]:
    """The uuids of each group's servers that exist, oldest first."""
    found: dict[int, list[str]] = {group_id: [] for group_id in group_ids}
    if group_ids:
        for group_id, uuid in session.execute(
                select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid)
                .join(Instance, Instance.uuid == ServerGroupMember.instance_uuid)
                .where(ServerGroupMember.group_id.in_(group_ids), Instance.deleted.is_(False))
                .order_by(Instance.id)):
            found[group_id].append(uuid)
    return found


def groups_of(session: Session, instance_uuids: list[str]) -> dict[str, str]:
    """instance uuid -> the uuid of its group, for the servers that are in one."""
    if not instance_uuids:
        return {}
    return dict(session.execute(
        select(ServerGroupMember.instance_uuid, ServerGroup.uuid)
        .join(ServerGroup, ServerGroup.id == ServerGroupMember.group_id)
        .where(ServerGroupMember.instance_uuid.in_(instance_uuids))).all())


def late_violation(session: Session, group: dict, uuid: str, host: str) -> str | None:
    """Whether building `uuid` on `host` breaks its group's hard policy, as the group is now.

    The scheduler decided on what it read; another scheduler process may have placed a member
    meanwhile. So the compute asks again just before it spawns, as Nova's compute does. Of two
    members that raced onto one host, the one created later gives way (the earlier may already
    run), so exactly one of them is rescheduled.
    """
    policy = group.get("policy")
    if policy not in (AFFINITY, ANTI_AFFINITY):
        return None
    me = session.scalar(select(Instance.id).where(Instance.uuid == uuid))
    rows = session.execute(
        select(Instance.host, Instance.id, Instance.vm_state)
        .join(ServerGroupMember, ServerGroupMember.instance_uuid == Instance.uuid)
        .join(ServerGroup, ServerGroup.id == ServerGroupMember.group_id)
        .where(ServerGroup.uuid == group["uuid"], Instance.deleted.is_(False), Instance.host.is_not(None),
               Instance.uuid != uuid)).all()
    hosts = Counter(other_host for other_host, other_id, vm_state in rows
                    if me is None or other_id < me or vm_state != "building")
    if policy == ANTI_AFFINITY:
        limit = int((group.get("rules") or {}).get("max_server_per_host", 1))
        if hosts[host] >= limit:
            return (f"Anti-affinity instance group policy was violated: server group {group['uuid']} already has "
                    f"{hosts[host]} server(s) on {host} (at most {limit} per host).")
    elif hosts and host not in hosts:
        return (f"Affinity instance group policy was violated: the servers of group {group['uuid']} are on "
                f"{', '.join(sorted(hosts))}, not {host}.")
    return None
