"""Compute quotas: what a project (and a user in it) may have, what it has, and a race-free check.

Limits resolve as in Nova's database driver: a user's own limit in the project, else the
project's own (os-quota-sets), else the quota class `default` (os-quota-class-sets), else the
`[quota]` configuration; -1 means no limit. Usage is counted from what exists (servers, their
VCPUs and RAM, key pairs), never kept as a separate counter that could drift.

A transaction that checks and consumes quota takes the project's row in `quota_locks` FOR UPDATE
(`lock`), then counts, then creates, and commits: concurrent boots of one project check one
after the other, so 50 concurrent boots against a quota of 10 leave exactly 10. Counting after
the lock sees what the previous holder created because every backend reads committed data per
statement (core/db/session.py; SQLite serializes writer transactions anyway). The lock is held
from the count to the commit only, and not at all by a project without limits on servers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, literal, select, union_all
from sqlalchemy import exc as sa_exc
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


class TooManyMetadataItems(exception.NcloudError):
    code = 403
    message = "Quota exceeded for metadata items: Maximum number of metadata items exceeds {allowed}"


@dataclass(frozen=True)
class Usage:
    instances: int = 0
    cores: int = 0
    ram: int = 0


def _configured(conf: Config) -> dict[str, int]:
    return {name: int(getattr(conf.quota, option)) for name, option in RESOURCES.items()}


def defaults(conf: Config, session: Session) -> dict[str, int]:
    """The limits of a project that has none of its own: the class `default` over the configuration."""
    return class_limits(conf, session, DEFAULT_CLASS)


def class_limits(conf: Config, session: Session, class_name: str) -> dict[str, int]:
    """A quota class's limits over the defaults (a class without rows of its own has the defaults')."""
    limits = _configured(conf)
    rows = session.execute(select(QuotaClass.class_name, QuotaClass.resource, QuotaClass.hard_limit).where(
        QuotaClass.class_name.in_((DEFAULT_CLASS, class_name)))).all()
    for _, resource, limit in sorted(rows, key=lambda row: row[0] != DEFAULT_CLASS):
        limits[resource] = limit
    return limits


# Every row that decides a user's limits in a project, by level: 0 the default class, 1 the
# project's own, 2 the user's own. One statement, built once: it runs in every boot.
_LIMIT_ROWS = union_all(
    select(literal(0).label("level"), QuotaClass.resource, QuotaClass.hard_limit)
    .where(QuotaClass.class_name == DEFAULT_CLASS),
    select(literal(1), Quota.resource, Quota.hard_limit).where(Quota.project_id == bindparam("project_id")),
    select(literal(2), ProjectUserQuota.resource, ProjectUserQuota.hard_limit)
    .where(ProjectUserQuota.project_id == bindparam("project_id"), ProjectUserQuota.user_id == bindparam("user_id")))


def limits_of(conf: Config, session: Session, project_id: str,
              user_id: str | None) -> tuple[dict[str, int], dict[str, int] | None]:
    """(the project's limits, the user's in it or None if the user has no limits of their own)."""
    rows = session.connection().execute(_LIMIT_ROWS, {"project_id": project_id, "user_id": user_id or ""}).all()
    project, own = _configured(conf), {}
    for level, resource, limit in sorted(rows, key=lambda row: row[0]):
        if level < 2:
            project[resource] = limit
        else:
            own[resource] = limit
    return project, ({**project, **own} if own else None)


def project_limits(conf: Config, session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """The project's limits, or with `user_id` the user's in the project (theirs over the project's)."""
    project, user = limits_of(conf, session, project_id, user_id)
    return user or project


_USAGE = select(func.count(), func.coalesce(func.sum(Instance.vcpus), 0),
                func.coalesce(func.sum(Instance.memory_mb), 0)).where(
    Instance.project_id == bindparam("project_id"), Instance.deleted.is_(False))
_USER_USAGE = _USAGE.where(Instance.user_id == bindparam("user_id"))


def usage(session: Session, project_id: str, user_id: str | None = None) -> Usage:
    statement, values = (_USAGE, {"project_id": project_id}) if user_id is None else (
        _USER_USAGE, {"project_id": project_id, "user_id": user_id})
    count, cores, ram = session.connection().execute(statement, values).one()
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
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.add(QuotaLock(scope=scope))  # writer transactions are serialized: nobody races us
        session.flush()
        return
    # Created and committed apart: two first-time creators inserting inside their own locking
    # transactions would deadlock on MariaDB.
    with bind.connect() as connection:
        try:
            connection.execute(insert(QuotaLock).values(scope=scope))
            connection.commit()
        except sa_exc.IntegrityError:
            connection.rollback()  # another request created it first
    session.execute(take)


def unlimited_servers(limits: dict[str, int]) -> bool:
    return all(limits[resource] == UNLIMITED for resource in SERVER_RESOURCES)


def servers_allowed(conf: Config, session: Session, project_id: str, user_id: str, min_count: int,
                    max_count: int, vcpus: int, memory_mb: int, metadata_items: int = 0) -> int:
    """How many of `max_count` servers (at least `min_count`) fit the project's quota and the
    user's own quota in it if they have one; QuotaExceeded, naming the first resource short, if
    not even `min_count` fit. Holds the project's lock for the rest of the transaction, which
    should only create the servers and commit."""
    project, user = limits_of(conf, session, project_id, user_id)
    items = (user or project)["metadata_items"]
    if items != UNLIMITED and metadata_items > items:
        raise TooManyMetadataItems(allowed=items)
    if unlimited_servers(project) and (user is None or unlimited_servers(user)):
        return max_count
    lock(session, project_scope(project_id))
    per_server = {"instances": 1, "cores": vcpus, "ram": memory_mb}
    scopes = [(project, usage(session, project_id))]
    if user is not None:
        scopes.append((user, usage(session, project_id, user_id)))
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


def check_growth(conf: Config, session: Session, project_id: str, user_id: str, cores: int, ram: int) -> None:
    """Room for a server to grow by `cores` and `ram` (a resize up); QuotaExceeded if not. Holds the
    project's lock for the rest of the transaction, as `servers_allowed` does."""
    growth = {"cores": max(cores, 0), "ram": max(ram, 0)}
    if not any(growth.values()):
        return
    project, user = limits_of(conf, session, project_id, user_id)
    if unlimited_servers(project) and (user is None or unlimited_servers(user)):
        return
    lock(session, project_scope(project_id))
    scopes = [(project, usage(session, project_id))]
    if user is not None:
        scopes.append((user, usage(session, project_id, user_id)))
    for limits, used in scopes:
        for resource, more in growth.items():
            limit, taken = limits[resource], getattr(used, resource)
            if more and limit != UNLIMITED and taken + more > limit:
                raise QuotaExceeded(overs=resource, req=more, used=taken, allowed=limit)


class TooManyKeyPairs(exception.NcloudError):
    code = 403
    message = "Quota exceeded, too many key pairs."


def check_key_pairs(conf: Config, session: Session, user_id: str) -> None:
    """Room for one more key pair of a user (a per-user limit, as in Nova), the user locked."""
    lock(session, f"user:{user_id}")
    limit = defaults(conf, session)["key_pairs"]
    if limit != UNLIMITED and key_pairs_of(session, user_id) >= limit:
        raise TooManyKeyPairs()
