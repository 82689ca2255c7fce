"""POST /servers/{id}/action: one handler per action, the work in api/server_actions.py (on one
host), api/server_moves.py (between hosts) and api/server_images.py (images of the server).

The body is one key, the action's name, validated against that action's schema at the request's
microversion. Each handler sets the status and body Nova answers with (202 and no body unless
said otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import falcon

from ncloud.daemons.api import (
    boot,
    delete,
    schemas,
    server_actions,
    server_images,
    server_moves,
    server_query,
    validation,
    views,
)
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.api.resources import remote_consoles
from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import instances
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.rpc import Transport

# Actions that exist only from a microversion on (a 404 before it, as in Nova), and those that
# went away (replaced by /servers/{id}/remote-consoles at 2.6).
SINCE = {"trigger_crash_dump": (2, 17)}
UNTIL = {"os-getVNCConsole": (2, 5), "os-getSPICEConsole": (2, 5), "os-getSerialConsole": (2, 5)}


class ServerAction:
    def __init__(self, conf: Config, db: Database, transport: Transport):
        self.conf = conf
        self.db = db
        self.compute = ComputeAPI(transport)
        self.conductor = ConductorAPI(transport)
        power = {name: self._power(name, action) for name, action in server_actions.POWER_ACTIONS.items()}
        self.handlers: dict[str, Callable] = {
            **power,
            "reboot": self._reboot, "lock": self._lock, "unlock": self._unlock, "changePassword": self._password,
            "trigger_crash_dump": self._crash_dump, "os-resetState": self._reset_state,
            "os-getConsoleOutput": self._console_output, "rescue": self._rescue,
            "unrescue": self._power("unrescue", server_actions.UNRESCUE), "rebuild": self._rebuild,
            "restore": self._restore, "forceDelete": self._force_delete,
            "resize": self._resize, "confirmResize": self._confirm_resize, "revertResize": self._revert_resize,
            "migrate": self._migrate, "os-migrateLive": self._live_migrate, "evacuate": self._evacuate,
            "createImage": self._create_image, "createBackup": self._create_backup, "shelve": self._shelve,
            "shelveOffload": self._shelve_offload, "unshelve": self._unshelve,
            "os-getVNCConsole": self._console("vnc"), "os-getSPICEConsole": self._console("spice"),
            "os-getSerialConsole": self._console("serial"),
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = req.context.version
        body = validation.read_json(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise Fault(400, "Malformed request body: an action is an object with exactly one key, the action's name.")
        name = next(iter(body))
        schema, handler = schemas.SERVER_ACTIONS.get(name), self.handlers.get(name)
        if schema is None or handler is None:
            raise Fault(400, f"There is no such action: {name}")
        if version < SINCE.get(name, (2, 1)):
            raise Fault(404, "The resource could not be found.")
        if version > UNTIL.get(name, version):
            raise Fault(400, f"There is no such action: {name}")
        schema.validate(version, body)
        resp.status = 202
        handler(req, resp, server_id, body[name])

    # -- on the server's host ------------------------------------------------------------------
    def _power(self, name: str, action: server_actions.PowerAction):
        def handler(req, resp, server_id, value):
            server_actions.power(self.db, self.compute, req.context.ctx, server_id, name, action)
        return handler

    def _reboot(self, req, resp, server_id, value):
        action = server_actions.HARD_REBOOT if value["type"].upper() == "HARD" else server_actions.SOFT_REBOOT
        server_actions.power(self.db, self.compute, req.context.ctx, server_id, "reboot", action)

    def _lock(self, req, resp, server_id, value):
        server_actions.lock(self.db, req.context.ctx, server_id, server_actions.lock_reason(req.context.version, value))

    def _unlock(self, req, resp, server_id, value):
        server_actions.unlock(self.db, req.context.ctx, server_id)

    def _password(self, req, resp, server_id, value):
        server_actions.change_password(self.db, self.compute, req.context.ctx, server_id, value["adminPass"])

    def _crash_dump(self, req, resp, server_id, value):
        server_actions.trigger_crash_dump(self.db, self.compute, req.context.ctx, server_id)

    def _reset_state(self, req, resp, server_id, value):
        server_actions.reset_state(self.db, req.context.ctx, server_id, value["state"])

    def _console_output(self, req, resp, server_id, value):
        length = (value or {}).get("length")
        length = None if length is None or int(length) == -1 else int(length)
        resp.status = 200
        resp.media = {"output": server_actions.console_output(self.db, self.compute, req.context.ctx, server_id,
                                                              length)}

    def _rescue(self, req, resp, server_id, value):
        server_actions.rescue(self.db, self.compute, req.context.ctx, server_id, value)
        resp.status = 200
        resp.media = {"adminPass": boot.admin_password((value or {}).get("adminPass"))}

    def _rebuild(self, req, resp, server_id, value):
        ctx, version = req.context.ctx, req.context.version

        def answer() -> dict:
            with self.db.reader() as session:
                row = instances.get(session, server_id)
                page = server_query.page_of(session, [row], ctx, version, self.conf.default.service_down_time,
                                            with_groups=True)
            urls = views.Urls.for_request(req, self.conf.api.public_endpoint)
            return views.server_rebuilt(row, urls, ctx, self.conf.default.default_availability_zone, version, page,
                                        boot.admin_password(value.get("adminPass")))

        resp.media = {"server": server_actions.rebuild(self.conf, self.db, self.compute, ctx, server_id, value,
                                                       answer)}

    def _restore(self, req, resp, server_id, value):
        server_actions.power(self.db, self.compute, req.context.ctx, server_id, "restore", server_actions.RESTORE,
                             changes={"deleted_at": None})

    def _force_delete(self, req, resp, server_id, value):
        delete.delete(self.conf, self.db, self.compute, req.context.ctx, server_id, force=True)

    def _console(self, protocol: str):
        def handler(req, resp, server_id, value):
            url = remote_consoles.console_url(self.conf, self.db, self.compute, req.context.ctx, server_id, protocol,
                                              value["type"])
            resp.status = 200
            resp.media = {"console": {"type": value["type"], "url": url}}
        return handler

    # -- images of the server (api/server_images.py) ----------------------------------------------
    def _image_created(self, req, resp, image_id: str) -> None:
        """From 2.45 the image's id in the body; before, its address in Location only."""
        if req.context.version >= (2, 45):
            resp.media = {"image_id": image_id}
        else:
            root = views.Urls.for_request(req, self.conf.api.public_endpoint).root
            resp.set_header("Location", f"{root}/image/images/{image_id}")

    def _create_image(self, req, resp, server_id, value):
        image_id = server_images.create_image(self.conf, self.db, self.compute, req.context.ctx, server_id, value)
        self._image_created(req, resp, image_id)

    def _create_backup(self, req, resp, server_id, value):
        image_id = server_images.create_backup(self.conf, self.db, self.compute, req.context.ctx, server_id, value)
        self._image_created(req, resp, image_id)

    def _shelve(self, req, resp, server_id, value):
        server_images.shelve(self.conf, self.db, self.compute, req.context.ctx, server_id)

    def _shelve_offload(self, req, resp, server_id, value):
        server_images.shelve_offload(self.db, self.compute, req.context.ctx, server_id)

    def _unshelve(self, req, resp, server_id, value):
        server_images.unshelve(self.conf, self.db, self.compute, self.conductor, req.context.ctx, server_id, value)

    # -- between hosts ---------------------------------------------------------------------------
    def _resize(self, req, resp, server_id, value):
        server_moves.resize(self.conf, self.db, self.conductor, req.context.ctx, server_id, value["flavorRef"])

    def _confirm_resize(self, req, resp, server_id, value):
        server_moves.confirm_resize(self.conf, self.db, self.compute, req.context.ctx, server_id)
        resp.status = 204

    def _revert_resize(self, req, resp, server_id, value):
        server_moves.revert_resize(self.conf, self.db, self.compute, req.context.ctx, server_id)

    def _migrate(self, req, resp, server_id, value):
        server_moves.migrate(self.db, self.conductor, req.context.ctx, server_id, (value or {}).get("host"))

    def _live_migrate(self, req, resp, server_id, value):
        server_moves.live_migrate(self.db, self.conductor, req.context.ctx, server_id, value, req.context.version)

    def _evacuate(self, req, resp, server_id, value):
        password = server_moves.evacuate(self.conf, self.db, self.conductor, req.context.ctx, server_id, value,
                                         req.context.version)
        resp.status = 200
        if password is not None:
            resp.media = {"adminPass": password}
