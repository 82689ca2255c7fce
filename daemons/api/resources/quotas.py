"""os-quota-sets, os-quota-class-sets and /limits: what a project may have and what it has.

The limits themselves live in core/quotas.py. Per microversion the bodies lose what left Nova:
the network quotas (fixed_ips, floating_ips, security_groups, security_group_rules) at 2.36 (2.50
for quota classes, which gained server_groups and server_group_members then), the injected-file
quotas at 2.57; /limits loses the matching absolute limits at 2.36, maxImageMeta at 2.39 and
maxPersonality* at 2.57. Network quotas belong to the networking service: shown as -1.
"""

from __future__ import annotations

import falcon
from sqlalchemy import delete, select

from ncloud.daemons.api import policy, schemas, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.core import quotas
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import ProjectUserQuota, Quota, QuotaClass
from ncloud.daemons.core.db.session import Database

NETWORK_QUOTAS = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
INJECTED_FILE_QUOTAS = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
SERVER_GROUP_QUOTAS = ("server_groups", "server_group_members")


def shown_resources(version: APIVersion, quota_class: bool = False) -> list[str]:
    """The resources a quota set (or quota class set) has at `version`."""
    names = [name for name in quotas.RESOURCES if name not in INJECTED_FILE_QUOTAS or version < (2, 57)]
    network_until = (2, 50) if quota_class else (2, 36)
    if quota_class and version < (2, 50):
        names = [name for name in names if name not in SERVER_GROUP_QUOTAS]
    if version < network_until:
        names += NETWORK_QUOTAS
    return names


def _view(limits: dict[str, int], names: list[str]) -> dict:
    return {name: limits.get(name, quotas.UNLIMITED) for name in names}


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db


def _user(req: falcon.Request) -> str | None:
    """The `?user_id=` of a quota set: that user's limits within the project."""
    params = validation.query(req)
    schemas.QUOTA_QUERY.validate(params)
    return validation.last(params, "user_id")


def _store(session, model, limit: int, **keys) -> None:
    """Set one limit row (of Quota, ProjectUserQuota or QuotaClass), creating it if need be."""
    row = session.scalars(select(model).filter_by(**keys)).first()
    if row is None:
        session.add(model(**keys, hard_limit=limit))
    else:
        row.hard_limit = limit


class QuotaSet(_Base):
    """GET, PUT (admin) and DELETE (admin) /os-quota-sets/{project_id}[?user_id=]."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        user_id = _user(req)
        policy.authorize(ctx, "os_compute_api:os-quota-sets:show", {"project_id": project_id})
        with self.db.reader() as session:
            limits = quotas.project_limits(self.conf, session, project_id, user_id)
        resp.media = {"quota_set": {"id": project_id, **_view(limits, shown_resources(req.context.version))}}

    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        user_id = _user(req)
        policy.authorize(ctx, "os_compute_api:os-quota-sets:update", {"project_id": project_id})
        body = validation.read_json(req)
        schemas.QUOTA_SET_UPDATE.validate(version, body)
        wanted = {name: int(value) for name, value in body["quota_set"].items() if name in quotas.RESOURCES}
        force = validation.to_bool(body["quota_set"].get("force", False), "force")
        with self.db.writer() as session:
            quotas.lock(session, quotas.project_scope(project_id))
            used = quotas.in_use(session, project_id, user_id)
            project = quotas.project_limits(self.conf, session, project_id)
            for name, limit in wanted.items():
                if not force and limit != quotas.UNLIMITED and limit < used.get(name, 0):
                    raise Fault(400, f"Quota limit {limit} for {name} must be greater than or equal to already "
                                     f"used and reserved {used.get(name, 0)}.")
                if user_id is not None and project[name] != quotas.UNLIMITED and (
                        limit == quotas.UNLIMITED or limit > project[name]):
                    raise Fault(400, f"Quota limit {limit} for {name} must be less than or equal to "
                                     f"{project[name]}, the project's.")
                if user_id is None:
                    _store(session, Quota, limit, project_id=project_id, resource=name)
                else:
                    _store(session, ProjectUserQuota, limit, project_id=project_id, user_id=user_id, resource=name)
            limits = quotas.project_limits(self.conf, session, project_id, user_id)
        resp.media = {"quota_set": _view(limits, shown_resources(version))}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        """Back to the defaults (the user's own limits only, with user_id)."""
        user_id = _user(req)
        policy.authorize(req.context.ctx, "os_compute_api:os-quota-sets:delete", {"project_id": project_id})
        with self.db.writer() as session:
            if user_id is None:
                session.execute(delete(Quota).where(Quota.project_id == project_id))
                session.execute(delete(ProjectUserQuota).where(ProjectUserQuota.project_id == project_id))
            else:
                session.execute(delete(ProjectUserQuota).where(ProjectUserQuota.project_id == project_id,
                                                               ProjectUserQuota.user_id == user_id))
        resp.status = 202


class QuotaSetDefaults(_Base):
    """GET /os-quota-sets/{project_id}/defaults"""

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-quota-sets:defaults")
        with self.db.reader() as session:
            limits = quotas.defaults(self.conf, session)
        resp.media = {"quota_set": {"id": project_id, **_view(limits, shown_resources(req.context.version))}}


class QuotaSetDetail(_Base):
    """GET /os-quota-sets/{project_id}/detail[?user_id=]: limit, in_use and reserved (always 0)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        user_id = _user(req)
        policy.authorize(req.context.ctx, "os_compute_api:os-quota-sets:detail", {"project_id": project_id})
        with self.db.reader() as session:
            limits = quotas.project_limits(self.conf, session, project_id, user_id)
            used = quotas.in_use(session, project_id, user_id)
        body = {name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
                for name, limit in _view(limits, shown_resources(req.context.version)).items()}
        resp.media = {"quota_set": {"id": project_id, **body}}


class QuotaClassSet(_Base):
    """GET and PUT (admin) /os-quota-class-sets/{class_name}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, class_name: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-quota-class-sets:show")
        with self.db.reader() as session:
            limits = quotas.class_limits(self.conf, session, class_name)
        names = shown_resources(req.context.version, quota_class=True)
        resp.media = {"quota_class_set": {"id": class_name, **_view(limits, names)}}

    def on_put(self, req: falcon.Request, resp: falcon.Response, class_name: str) -> None:
        version: APIVersion = req.context.version
        policy.authorize(req.context.ctx, "os_compute_api:os-quota-class-sets:update")
        body = validation.read_json(req)
        schemas.QUOTA_CLASS_SET_UPDATE.validate(version, body)
        with self.db.writer() as session:
            for name, value in body["quota_class_set"].items():
                if name not in quotas.RESOURCES:
                    continue  # a network quota of old versions: accepted, and not compute's to keep
                _store(session, QuotaClass, int(value), class_name=class_name, resource=name)
            limits = quotas.class_limits(self.conf, session, class_name)
        # Nova's update answer has no id.
        resp.media = {"quota_class_set": _view(limits, shown_resources(version, quota_class=True))}


class Limits(_Base):
    """GET /limits: the caller's project's absolute limits and usage (an admin may name a project)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.LIMITS_QUERY.validate(version, params)
        project_id = validation.last(params, "tenant_id") or ctx.project_id
        policy.authorize(ctx, "os_compute_api:limits", {"project_id": project_id})
        if project_id != ctx.project_id:
            policy.authorize(ctx, "os_compute_api:limits:other_project", {"project_id": project_id})
        with self.db.reader() as session:
            limits = quotas.project_limits(self.conf, session, project_id)
            used = quotas.usage(session, project_id)
        absolute = {
            "maxTotalInstances": limits["instances"], "maxTotalCores": limits["cores"],
            "maxTotalRAMSize": limits["ram"], "maxServerMeta": limits["metadata_items"],
            "maxTotalKeypairs": limits["key_pairs"], "maxServerGroups": limits["server_groups"],
            "maxServerGroupMembers": limits["server_group_members"],
            "totalInstancesUsed": used.instances, "totalCoresUsed": used.cores, "totalRAMUsed": used.ram,
            "totalServerGroupsUsed": 0,
        }
        if version < (2, 36):
            absolute.update(maxSecurityGroups=-1, maxSecurityGroupRules=-1, maxTotalFloatingIps=-1,
                            totalFloatingIpsUsed=0, totalSecurityGroupsUsed=0)
        if version < (2, 39):
            absolute["maxImageMeta"] = limits["metadata_items"]
        if version < (2, 57):
            absolute.update(maxPersonality=limits["injected_files"],
                            maxPersonalitySize=limits["injected_file_content_bytes"])
        resp.media = {"limits": {"rate": [], "absolute": absolute}}
