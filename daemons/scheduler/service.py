"""`ncloud-scheduler`: places servers on hosts. Run as many as you like; they share topic `scheduler`."""

from __future__ import annotations

from ncloud.daemons.core.service import DatabaseService
from ncloud.daemons.scheduler.manager import SchedulerManager
from ncloud.daemons.scheduler.rpcapi import TOPIC


class SchedulerService(DatabaseService):
    binary = "ncloud-scheduler"
    topic = TOPIC

    def endpoint(self) -> object:
        return SchedulerManager(self.conf, self.db)


def main(argv: list[str] | None = None) -> None:
    from ncloud.daemons.core.launcher import run_daemon

    run_daemon("ncloud-scheduler", argv, lambda conf, transport, db: [SchedulerService(conf, transport, db)],
               background=True)
