"""Compute quotas: what a project (and a user in it) may have, what it has, and a race-free check.

Limits resolve as in Nova's database driver: a user's own limit in the project, else the
project's own (os-quota-sets), else the quota class `default` (os-quota-class-sets), else the
`[quota]` configuration; -1 means no limit. Usage is counted from what exists (servers, their
VCPUs and RAM, key pairs), never kept as a separate counter that could drift.

A transaction that checks and consumes quota first takes the project's row in `quota_locks`
FOR UPDATE (`lock`), then counts, then creates: concurrent boots of one project check one after
the other, so 50 concurrent boots against a quota of 10 leave exactly 10. The lock must be the
transaction's first statement: on MariaDB's REPEATABLE READ a transaction reads from the snapshot
of its first plain read, and counting from a snapshot older than the lock would miss the servers
the previous holder created. (SQLite serializes writer transactions anyway.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Instance, KeyPair, ProjectUserQuota, Quota, QuotaClass, QuotaLock

# Every resource, by its os-quota-sets name, with its [quota] option.
RESOURCES = {
    "instances": "instances", "cores": "cores", "ram": "ram", "metadata_items": "metadata_items",
    "key_pairs": "key_pairs", "server_groups": "server_groups", "server_group_members": "server_group_members",
    "injected_files": "injected_files", "injected_file_content_bytes": "injected_file_content_bytes",
    "injected_file_path_bytes": "injected_file_path_length",
}
# Counted per project (and per user within it) from the servers that exist.
SERVER_RESOURCES = ("instances", "cores", "ram")
DEFAULT_CLASS = "default"
UNLIMITED = -1


class QuotaExceeded(exception.NcloudError):
    """Nova's TooManyInstances: 403, with what was asked, used and allowed."""

    code = 403
    message = "Quota exceeded for {overs}: Requested {req}, but already used {used} of {allowed} {overs}"


@dataclass(frozen=True)
class Usage:
    instances: int = 0
    cores: int = 0
    ram: int = 0


def defaults(conf: Config, session: Session) -> dict[str, int]:
    """The limits of a project that has none of its own: the class `default` over the configuration."""
    limits = {name: int(getattr(conf.quota, option)) for name, option in RESOURCES.items()}
    limits.update(dict(session.execute(select(QuotaClass.resource, QuotaClass.hard_limit)
                                       .where(QuotaClass.class_name == DEFAULT_CLASS)).all()))
    return limits


def class_limits(conf: Config, session: Session, class_name: str) -> dict[str, int]:
    """A quota class's limits; a class without rows of its own has the defaults' (as in Nova)."""
    limits = defaults(conf, session)
    limits.update(dict(session.execute(select(QuotaClass.resource, QuotaClass.hard_limit)
                                       .where(QuotaClass.class_name == class_name)).all()))
    return limits


def project_limits(conf: Config, session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    limits = defaults(conf, session)
    limits.update(dict(session.execute(select(Quota.resource, Quota.hard_limit)
                                       .where(Quota.project_id == project_id)).all()))
    if user_id is not None:
        limits.update(dict(session.execute(
            select(ProjectUserQuota.resource, ProjectUserQuota.hard_limit)
            .where(ProjectUserQuota.project_id == project_id, ProjectUserQuota.user_id == user_id)).all()))
    return limits


def usage(session: Session, project_id: str, user_id: str | None = None) -> Usage:
    query = select(func.count(), func.coalesce(func.sum(Instance.vcpus), 0),
                   func.coalesce(func.sum(Instance.memory_mb), 0)).where(
        Instance.project_id == project_id, Instance.deleted.is_(False))
    if user_id is not None:
        query = query.where(Instance.user_id == user_id)
    count, cores, ram = session.execute(query).one()
    return Usage(int(count), int(cores), int(ram))


def in_use(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """What os-quota-sets/detail and /limits report as used."""
    used = usage(session, project_id, user_id)
    counted = {"instances": used.instances, "cores": used.cores, "ram": used.ram}
    if user_id is not None:
        counted["key_pairs"] = key_pairs_of(session, user_id)
    return counted


def key_pairs_of(session: Session, user_id: str) -> int:
    return session.scalar(select(func.count()).select_from(KeyPair).where(KeyPair.user_id == user_id)) or 0


def project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def lock(session: Session, scope: str) -> None:
    """Hold the lock row of `scope` until the transaction ends, creating it the first time."""
    take = select(QuotaLock.scope).where(QuotaLock.scope == scope).with_for_update()
    if session.execute(take).first() is not None:
        return
    try:
        with session.begin_nested():
            session.add(QuotaLock(scope=scope))
    except sa_exc.IntegrityError:
        pass  # another transaction created it first: it exists now
    session.execute(take)


class TooManyMetadataItems(exception.NcloudError):
    code = 403
    message = "Quota exceeded for metadata items: Maximum number of metadata items exceeds {allowed}"


def servers_allowed(conf: Config, session: Session, project_id: str, user_id: str, min_count: int,
                    max_count: int, vcpus: int, memory_mb: int, metadata_items: int = 0) -> int:
    """How many of `max_count` servers (at least `min_count`) fit the project's quota and the
    user's own quota in it if they have one; QuotaExceeded, naming the first resource short, if
    not even `min_count` fit. The caller holds `lock(session, project_scope(project_id))`."""
    per_server = {"instances": 1, "cores": vcpus, "ram": memory_mb}
    scopes = [(project_limits(conf, session, project_id), usage(session, project_id))]
    allowed_items = scopes[0][0]["metadata_items"]
    if allowed_items != UNLIMITED and metadata_items > allowed_items:
        raise TooManyMetadataItems(allowed=allowed_items)
    if _has_user_limits(session, project_id, user_id):
        scopes.append((project_limits(conf, session, project_id, user_id), usage(session, project_id, user_id)))
    fits = max_count
    for limits, used in scopes:
        for resource in SERVER_RESOURCES:
            limit, taken = limits[resource], getattr(used, resource)
            if limit == UNLIMITED or not per_server[resource]:
                continue
            room = max(0, (limit - taken) // per_server[resource])
            if room < min_count:
                raise QuotaExceeded(overs=resource, req=per_server[resource] * min_count, used=taken, allowed=limit)
            fits = min(fits, room)
    return fits


def _has_user_limits(session: Session, project_id: str, user_id: str) -> bool:
    return session.scalar(select(ProjectUserQuota.id).where(
        ProjectUserQuota.project_id == project_id, ProjectUserQuota.user_id == user_id).limit(1)) is not None


class TooManyKeyPairs(exception.NcloudError):
    code = 403
    message = "Quota exceeded, too many key pairs."


def check_key_pairs(conf: Config, session: Session, user_id: str) -> None:
    """Room for one more key pair of a user (a per-user limit, as in Nova), the user locked."""
    lock(session, f"user:{user_id}")
    limit = defaults(conf, session)["key_pairs"]
    if limit != UNLIMITED and key_pairs_of(session, user_id) >= limit:
        raise TooManyKeyPairs()
