"""/os-instance_usage_audit_log[/{before_timestamp}] (admins): how Nova's periodic usage audit went.

Nova's compute hosts audit the servers that existed in each past month (`instance_usage_audit`,
off by default) and send the usage as notifications for billing; this API reports which hosts
audited the last finished month. ncloud sends no usage notifications, so no host runs the audit,
and the answer is Nova's for an audit that is off: every compute host listed as not run. The
usage itself is in `os-simple-tenant-usage`.
"""

from __future__ import annotations

import datetime as dt

import falcon
from sqlalchemy import select

from ncloud.daemons.api import policy
from ncloud.daemons.api.errors import Fault
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db.models import Service, utcnow
from ncloud.daemons.core.db.session import Database


def _month_before(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last whole month that ended before `moment` (Nova's default audit period)."""
    end = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    begin = (end - dt.timedelta(days=1)).replace(day=1)
    return begin, end


class _Base:
    def __init__(self, conf: Config, db: Database):
        self.conf = conf
        self.db = db

    def report(self, before: dt.datetime) -> dict:
        begin, end = _month_before(before)
        with self.db.reader() as session:
            hosts = sorted(set(session.scalars(select(Service.host).where(Service.binary == COMPUTE_BINARY))))
        return {"hosts_not_run": hosts, "log": {}, "num_hosts": len(hosts), "num_hosts_done": 0,
                "num_hosts_not_run": len(hosts), "num_hosts_running": 0,
                "overall_status": f"0 of {len(hosts)} hosts done. 0 errors.", "period_beginning": str(begin),
                "period_ending": str(end), "total_errors": 0, "total_instances": 0}


class UsageAuditLogs(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-instance-usage-audit-log:list")
        resp.media = {"instance_usage_audit_logs": self.report(utcnow())}


class UsageAuditLog(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, before_timestamp: str) -> None:
        policy.authorize(req.context.ctx, "os_compute_api:os-instance-usage-audit-log:show")
        for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
            try:
                before = dt.datetime.strptime(before_timestamp, form)
                break
            except ValueError:
                continue
        else:
            raise Fault(400, f"Invalid timestamp for date {before_timestamp}")
        resp.media = {"instance_usage_audit_log": self.report(before)}
