"""Moves of servers between hosts, as records: GET /os-migrations (admins) and the live migrations
of one server, /servers/{id}/migrations[/{id}] (list, show, abort; force_complete).

Per microversion: 2.22 force_complete; 2.23 `migration_type`, the links of live migrations in
progress and the server's own list; 2.24 abort; 2.59 `uuid`, paging by uuid (`limit`, `marker`)
and `changes-since`; 2.65 aborting a queued or preparing one too; 2.66 `changes-before`; 2.80
`user_id`/`project_id` shown and filtered on. Newest first.
"""

from __future__ import annotations

import falcon
from sqlalchemy import func, or_, select

from ncloud.daemons.api import paging, policy, schemas, server_query, validation, views
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.core import exception, instances, migrations
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Migration
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport

_ORDER = [(Migration.created_at, False), (Migration.id, False)]
_NOT_FOUND = "The resource could not be found."


def _migration(row: Migration, urls: views.Urls, version: APIVersion) -> dict:
    body = {"id": row.id, "status": row.status, "instance_uuid": row.instance_uuid,
            "source_node": row.source_node, "source_compute": row.source_compute, "dest_node": row.dest_node,
            "dest_compute": row.dest_compute, "dest_host": row.dest_host,
            "old_instance_type_id": row.old_instance_type_id, "new_instance_type_id": row.new_instance_type_id,
            "created_at": views.strtime(row.created_at), "updated_at": views.strtime(row.updated_at)}
    if version >= (2, 23):
        body["migration_type"] = row.migration_type
        if row.migration_type == migrations.LIVE and row.status in migrations.LIVE_IN_PROGRESS:
            body["links"] = urls.links(f"servers/{row.instance_uuid}/migrations", str(row.id))
    if version >= (2, 59):
        body["uuid"] = row.uuid
    if version >= (2, 80):
        body["user_id"], body["project_id"] = row.user_id, row.project_id
    return body


def _live(row: Migration, version: APIVersion) -> dict:
    """A live migration under way, as /servers/{id}/migrations shows it (progress is not measured)."""
    body = {"id": row.id, "server_uuid": row.instance_uuid, "status": row.status,
            "source_compute": row.source_compute, "source_node": row.source_node, "dest_compute": row.dest_compute,
            "dest_node": row.dest_node, "dest_host": row.dest_host, "created_at": views.strtime(row.created_at),
            "updated_at": views.strtime(row.updated_at), "memory_total_bytes": None,
            "memory_processed_bytes": None, "memory_remaining_bytes": None, "disk_total_bytes": None,
            "disk_processed_bytes": None, "disk_remaining_bytes": None}
    if version >= (2, 59):
        body["uuid"] = row.uuid
    if version >= (2, 80):
        body["user_id"], body["project_id"] = row.user_id, row.project_id
    return body


class Migrations:
    """GET /os-migrations."""

    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        version: APIVersion = req.context.version
        policy.authorize(req.context.ctx, "os_compute_api:os-migrations:index")
        params = validation.query(req)
        schemas.MIGRATIONS_QUERY.validate(version, params)
        query = select(Migration)
        for name in ("instance_uuid", "source_compute", "status", "migration_type") + (
                ("user_id", "project_id") if version >= (2, 80) else ()):
            value = validation.last(params, name)
            if value:
                query = query.where(getattr(Migration, name) == value)
        host = validation.last(params, "host")
        if host:
            query = query.where(or_(Migration.source_compute == host, Migration.dest_compute == host))
        limit = None
        with self.db.reader() as session:
            if version >= (2, 59):
                query = server_query.changes_window(query, params, version,
                                                    func.coalesce(Migration.updated_at, Migration.created_at))
                query, limit = paging.page(session, query, _ORDER, params, self.conf.api.max_limit,
                                           lambda marker: Migration.uuid == marker)
            rows = list(session.scalars(paging.ordered(query, _ORDER))) if limit != 0 else []
        urls = views.Urls.for_request(req, self.conf.api.public_endpoint)
        body: dict = {"migrations": [_migration(row, urls, version) for row in rows]}
        if limit and len(rows) == limit:
            body["migrations_links"] = urls.next_link("os-migrations", params, rows[-1].uuid)
        resp.media = body


class _ServerMigrationsBase:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.compute = ComputeAPI(transport)

    @staticmethod
    def _since_223(req: falcon.Request) -> None:
        if req.context.version < (2, 23):
            raise Fault(404, _NOT_FOUND)

    def _in_progress(self, session, req: falcon.Request, server_id: str, migration_id: str, rule: str):
        """The server and its live migration `migration_id` (404 unless it is under way)."""
        instance = server_query.authorized(session, req.context.ctx, server_id, rule)
        try:
            number = int(migration_id)
        except ValueError:
            raise Fault(404, f"Migration {migration_id} could not be found for instance {server_id}.") from None
        row = session.scalars(select(Migration).where(Migration.id == number,
                                                      Migration.instance_uuid == server_id)).first()
        if row is None or row.migration_type != migrations.LIVE:
            raise Fault(404, f"Migration {migration_id} could not be found for instance {server_id}.")
        return instance, row


class ServerMigrations(_ServerMigrationsBase):
    """GET /servers/{id}/migrations: its live migrations under way (2.23)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        self._since_223(req)
        with self.db.reader() as session:
            server_query.authorized(session, req.context.ctx, server_id, "os_compute_api:servers:migrations:index")
            rows = session.scalars(select(Migration).where(
                Migration.instance_uuid == server_id, Migration.migration_type == migrations.LIVE,
                Migration.status.in_(migrations.LIVE_IN_PROGRESS)).order_by(Migration.id.desc())).all()
        resp.media = {"migrations": [_live(row, req.context.version) for row in rows]}


class ServerMigration(_ServerMigrationsBase):
    """GET (2.23) and DELETE (abort, 2.24) /servers/{id}/migrations/{id}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, migration_id: str) -> None:
        self._since_223(req)
        with self.db.reader() as session:
            _, row = self._in_progress(session, req, server_id, migration_id, "os_compute_api:servers:migrations:show")
            if row.status not in migrations.LIVE_IN_PROGRESS:
                raise Fault(404, f"In-progress live migration {migration_id} is not found for server {server_id}.")
        resp.media = {"migration": _live(row, req.context.version)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str, migration_id: str) -> None:
        if req.context.version < (2, 24):
            raise Fault(404, _NOT_FOUND)
        with self.db.reader() as session:
            instance, row = self._in_progress(session, req, server_id, migration_id,
                                              "os_compute_api:servers:migrations:delete")
            abortable = ("running", "queued", "preparing") if req.context.version >= (2, 65) else ("running",)
            if row.status not in abortable:
                raise Fault(400, f"Migration {migration_id} state of instance {server_id} is {row.status}. Cannot "
                                 "abort live migration.")
            host, payload = row.source_compute, instances.to_dict(instance)
        _ask(lambda: self.compute.live_migration_abort(req.context.ctx, host, payload), migration_id)
        resp.status = 202


class ServerMigrationAction(_ServerMigrationsBase):
    """POST /servers/{id}/migrations/{id}/action {"force_complete": null} (2.22)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str, migration_id: str) -> None:
        if req.context.version < (2, 22):
            raise Fault(404, _NOT_FOUND)
        schemas.SERVER_MIGRATION_ACTION.validate(validation.read_json(req))
        with self.db.reader() as session:
            instance, row = self._in_progress(session, req, server_id, migration_id,
                                              "os_compute_api:servers:migrations:force_complete")
            if row.status != "running":
                raise Fault(400, f"Migration {migration_id} state of instance {server_id} is {row.status}. Cannot "
                                 "force_complete while the migration is in this state.")
            host, payload = row.source_compute, instances.to_dict(instance)
        _ask(lambda: self.compute.live_migration_force_complete(req.context.ctx, host, payload), migration_id)
        resp.status = 202


def _ask(call, migration_id: str) -> None:
    """Ask the source host; a migration that ended meanwhile is a 400, not a 500."""
    try:
        call()
    except exception.RemoteError as error:
        raise Fault(400, f"Migration {migration_id}: {error.value}") from None
    except exception.MessagingTimeout:
        raise Fault(409, f"Migration {migration_id}: its source host did not answer.") from None
