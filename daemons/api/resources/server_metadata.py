"""A server's metadata (/servers/{id}/metadata[/{key}]), tags (/servers/{id}/tags[/{tag}], 2.26) and
addresses (/servers/{id}/ips).

Metadata changes follow Nova: only while the server is active, paused, suspended or stopped with
no task running, never on a locked server (unless by an admin), within the `metadata_items`
quota. Tags have no state rule; at most 50 per server. Both are database-only: no host is told.
"""

from __future__ import annotations

import falcon
from sqlalchemy import delete, func, select

from ncloud.daemons.api import schemas, server_query, validation
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.server_actions import check_not_locked
from ncloud.daemons.core import fixed_ips, instances, quotas, states
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Instance, InstanceTag
from ncloud.daemons.core.db.session import Database

METADATA_VM_STATES = (states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED)


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def instance(self, session, req: falcon.Request, uuid: str, rule: str) -> Instance:
        return server_query.authorized(session, req.context.ctx, uuid, rule)

    def changeable(self, session, req: falcon.Request, uuid: str, rule: str, action: str) -> Instance:
        instance = self.instance(session, req, uuid, rule)
        check_not_locked(req.context.ctx, instance)
        if instance.vm_state not in METADATA_VM_STATES or instance.task_state is not None:
            attribute, value = (("task_state", instance.task_state) if instance.vm_state in METADATA_VM_STATES
                                else ("vm_state", instance.vm_state))
            raise Fault(409, f"Cannot '{action}' instance {uuid} while it is in {attribute} {value}")
        return instance

    def store(self, session, instance: Instance, metadata: dict) -> dict:
        limits = quotas.project_limits(self.conf, session, instance.project_id)
        allowed = limits["metadata_items"]
        if allowed != quotas.UNLIMITED and len(metadata) > allowed:
            raise quotas.TooManyMetadataItems(allowed=allowed)
        instances.update_state(session, instance.uuid, {"metadata_": metadata})
        return metadata


class ServerMetadata(_Base):
    """GET, POST (merge) and PUT (replace) /servers/{id}/metadata."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        with self.db.reader() as session:
            instance = self.instance(session, req, server_id, "os_compute_api:server-metadata:index")
        resp.media = {"metadata": instance.metadata_ or {}}

    def _change(self, req: falcon.Request, server_id: str, replace: bool) -> dict:
        body = validation.read_json(req)
        schemas.SERVER_METADATA.validate(body)
        rule = "os_compute_api:server-metadata:" + ("update_all" if replace else "create")
        with self.db.writer() as session:
            instance = self.changeable(session, req, server_id, rule, "update_metadata")
            merged = dict(body["metadata"]) if replace else {**(instance.metadata_ or {}), **body["metadata"]}
            return self.store(session, instance, merged)

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        resp.media = {"metadata": self._change(req, server_id, replace=False)}

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        resp.media = {"metadata": self._change(req, server_id, replace=True)}


class ServerMetadataItem(_Base):
    """GET, PUT and DELETE /servers/{id}/metadata/{key}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        with self.db.reader() as session:
            metadata = self.instance(session, req, server_id, "os_compute_api:server-metadata:show").metadata_ or {}
        if key not in metadata:
            raise Fault(404, "Metadata item was not found")
        resp.media = {"meta": {key: metadata[key]}}

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        body = validation.read_json(req)
        schemas.SERVER_METADATA_ITEM.validate(body)
        if key not in body["meta"]:
            raise Fault(400, "Request body and URI mismatch")
        with self.db.writer() as session:
            instance = self.changeable(session, req, server_id, "os_compute_api:server-metadata:update",
                                       "update_metadata")
            self.store(session, instance, {**(instance.metadata_ or {}), key: body["meta"][key]})
        resp.media = {"meta": {key: body["meta"][key]}}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        with self.db.writer() as session:
            instance = self.changeable(session, req, server_id, "os_compute_api:server-metadata:delete",
                                       "delete_metadata")
            metadata = dict(instance.metadata_ or {})
            if key not in metadata:
                raise Fault(404, "Metadata item was not found")
            del metadata[key]
            instances.update_state(session, server_id, {"metadata_": metadata})
        resp.status = 204


def _require_tags(req: falcon.Request) -> None:
    if req.context.version < (2, 26):
        raise Fault(404, "The resource could not be found.")


def _tags(session, uuid: str) -> list[str]:
    return list(session.scalars(select(InstanceTag.tag).where(InstanceTag.instance_uuid == uuid)
                                .order_by(InstanceTag.tag)))


class ServerTags(_Base):
    """GET, PUT (replace) and DELETE /servers/{id}/tags (2.26)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        _require_tags(req)
        with self.db.reader() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:index")
            resp.media = {"tags": _tags(session, server_id)}

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        _require_tags(req)
        body = validation.read_json(req)
        schemas.SERVER_TAGS.validate(body)
        tags = list(dict.fromkeys(body["tags"]))
        with self.db.writer() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:update_all")
            session.execute(delete(InstanceTag).where(InstanceTag.instance_uuid == server_id))
            session.add_all(InstanceTag(instance_uuid=server_id, tag=tag) for tag in tags)
            session.flush()
            resp.media = {"tags": _tags(session, server_id)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        _require_tags(req)
        with self.db.writer() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:delete_all")
            session.execute(delete(InstanceTag).where(InstanceTag.instance_uuid == server_id))
        resp.status = 204


class ServerTag(_Base):
    """GET (204 or 404), PUT (201 new, 204 existing) and DELETE /servers/{id}/tags/{tag} (2.26)."""

    def _exists(self, session, server_id: str, tag: str) -> bool:
        return session.get(InstanceTag, (server_id, tag)) is not None

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        _require_tags(req)
        with self.db.reader() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:show")
            if not self._exists(session, server_id, tag):
                raise Fault(404, f"Tag {tag} could not be found.")
        resp.status = 204

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        _require_tags(req)
        schemas.SERVER_TAG.validate(tag)
        with self.db.writer() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:update")
            if self._exists(session, server_id, tag):
                resp.status = 204
                return
            count = session.scalar(select(func.count()).where(InstanceTag.instance_uuid == server_id))
            if count >= schemas.MAX_TAGS:
                raise Fault(400, f"The number of tags exceeded the per-server limit {schemas.MAX_TAGS}")
            session.add(InstanceTag(instance_uuid=server_id, tag=tag))
        resp.status = 201
        resp.set_header("Location", req.url)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        _require_tags(req)
        with self.db.writer() as session:
            self.instance(session, req, server_id, "os_compute_api:os-server-tags:delete")
            if not self._exists(session, server_id, tag):
                raise Fault(404, f"Tag {tag} could not be found.")
            session.execute(delete(InstanceTag).where(InstanceTag.instance_uuid == server_id,
                                                      InstanceTag.tag == tag))
        resp.status = 204


class ServerIPs(_Base):
    """GET /servers/{id}/ips[/{network}]: the server's fixed IPs (core/fixed_ips.py), by network."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, network: str | None = None) -> None:
        with self.db.reader() as session:
            self.instance(session, req, server_id, "os_compute_api:ips:" + ("show" if network else "index"))
            addresses = fixed_ips.addresses(fixed_ips.of_servers(session, [server_id]).get(server_id))
        if network is None:
            resp.media = {"addresses": addresses}
        elif network in addresses:
            resp.media = {network: addresses[network]}
        else:
            raise Fault(404, "Instance is not a member of specified network")
