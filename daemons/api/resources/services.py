"""GET /os-services (admin): every daemon the cloud runs, where, and whether it is alive.

"Alive" is the services table's verdict (core/servicegroup): a heartbeat younger than
`service_down_time` and not forced down. Compute services are shown in the default availability
zone, every other service in Nova's pseudo-zone `internal`.
"""

from __future__ import annotations

import falcon
from sqlalchemy import select

from ncloud.daemons.api import policy, schemas, validation, views
from ncloud.daemons.core import servicegroup
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Service, utcnow
from ncloud.daemons.core.db.session import Database


class Services:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-services:list")
        params = validation.query(req)
        schemas.SERVICE_LIST_QUERY.validate(params)
        query = select(Service).order_by(Service.id)
        for name, column in (("host", Service.host), ("binary", Service.binary)):
            value = validation.last(params, name)
            if value:
                query = query.where(column == value)
        with self.db.reader() as session:
            rows = list(session.scalars(query))
        now = utcnow()
        down_time = self.conf.default.service_down_time
        zone = self.conf.default.default_availability_zone
        resp.media = {"services": [views.service(row, servicegroup.is_up(row, down_time, now), zone,
                                                 req.context.version) for row in rows]}
