"""/os-server-groups: groups of servers the scheduler places by a policy (core/server_groups.py).

A server joins a group at boot (scheduler hint `group`) and leaves it when deleted. Per
microversion: 2.13 `project_id` and `user_id`; 2.15 the soft policies; 2.64 one `policy` with
`rules` (`max_server_per_host` for anti-affinity) instead of a `policies` list, and no `metadata`.
Both the number of groups of a project and of servers in a group are quotas.
"""

from __future__ import annotations

import uuid as uuidlib

import falcon
from sqlalchemy import func, select

from ncloud.daemons.api import policy, schemas, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.core import quotas, server_groups
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import ServerGroup
from ncloud.daemons.core.db.session import Database


def view(group: ServerGroup, members: list[str], version: APIVersion) -> dict:
    body = {"id": group.uuid, "name": group.name, "members": members}
    if version >= (2, 64):
        body.update(policy=group.policy, rules=group.rules or {})
    else:
        body.update(policies=[group.policy], metadata={})
    if version >= (2, 13):
        body.update(project_id=group.project_id, user_id=group.user_id)
    return body


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db


class ServerGroups(_Base):
    """GET (own project's; an admin's `all_projects`) and POST /os-server-groups."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        params = validation.query(req)
        schemas.SERVER_GROUP_LIST_QUERY.validate(version, params)
        policy.authorize(ctx, "os_compute_api:os-server-groups:index", {"project_id": ctx.project_id})
        query = select(ServerGroup).order_by(ServerGroup.id)
        all_projects = validation.to_bool(validation.last(params, "all_projects", "false"), "all_projects")
        if not (all_projects and policy.allowed(ctx, "os_compute_api:os-server-groups:index:all_projects")):
            query = query.where(ServerGroup.project_id == ctx.project_id)
        offset = int(validation.last(params, "offset", "0"))
        limit = min(int(validation.last(params, "limit", str(self.conf.api.max_limit))), self.conf.api.max_limit)
        with self.db.reader() as session:
            groups = list(session.scalars(query.offset(offset).limit(limit)))
            members = server_groups.members(session, [group.id for group in groups])
        resp.media = {"server_groups": [view(group, members[group.id], version) for group in groups]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: RequestContext = req.context.ctx
        version: APIVersion = req.context.version
        policy.authorize(ctx, "os_compute_api:os-server-groups:create", {"project_id": ctx.project_id})
        body = validation.read_json(req)
        schemas.SERVER_GROUP_CREATE.validate(version, body)
        spec = body["server_group"]
        group_policy = spec["policy"] if version >= (2, 64) else spec["policies"][0]
        rules = {key: int(value) for key, value in (spec.get("rules") or {}).items()}
        if rules and group_policy != server_groups.ANTI_AFFINITY:
            raise Fault(400, f"Only the anti-affinity policy supports rules; '{group_policy}' does not.")
        group = ServerGroup(uuid=str(uuidlib.uuid4()), name=spec["name"], project_id=ctx.project_id,
                            user_id=ctx.user_id, policy=group_policy, rules=rules)
        with self.db.writer() as session:
            quotas.lock(session, quotas.project_scope(ctx.project_id))
            limit = quotas.project_limits(self.conf, session, ctx.project_id, ctx.user_id)["server_groups"]
            count = session.scalar(select(func.count()).select_from(ServerGroup)
                                   .where(ServerGroup.project_id == ctx.project_id))
            if limit != quotas.UNLIMITED and count >= limit:
                raise Fault(403, "Quota exceeded, too many server groups.")
            session.add(group)
        resp.media = {"server_group": view(group, [], version)}


class ServerGroupItem(_Base):
    """GET and DELETE /os-server-groups/{id}."""

    def _get(self, session, req: falcon.Request, group_id: str, rule: str) -> ServerGroup:
        ctx: RequestContext = req.context.ctx
        group = session.scalars(select(ServerGroup).where(ServerGroup.uuid == group_id)).first()
        if group is None or not (group.project_id == ctx.project_id or ctx.is_admin):
            raise Fault(404, f"Instance group {group_id} could not be found.")
        policy.authorize(ctx, rule, {"project_id": group.project_id})
        return group

    def on_get(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        with self.db.reader() as session:
            group = self._get(session, req, group_id, "os_compute_api:os-server-groups:show")
            members = server_groups.members(session, [group.id])[group.id]
        resp.media = {"server_group": view(group, members, req.context.version)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        """The group goes; its servers stay, placed where they are."""
        with self.db.writer() as session:
            session.delete(self._get(session, req, group_id, "os_compute_api:os-server-groups:delete"))
        resp.status = 204
