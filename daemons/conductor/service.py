"""`ncloud-conductor`: orchestration and the database path of compute hosts. Scales horizontally."""

from __future__ import annotations

from ncloud.daemons.compute.rpcapi import ComputeAPI
from ncloud.daemons.conductor.manager import ConductorManager
from ncloud.daemons.conductor.reconciler import Reconciler
from ncloud.daemons.conductor.rpcapi import TOPIC
from ncloud.daemons.core.service import DatabaseService, Periodic
from ncloud.daemons.scheduler.rpcapi import SchedulerAPI


class ConductorService(DatabaseService):
    binary = "ncloud-conductor"
    topic = TOPIC

    def __init__(self, conf, transport, db, host=None):
        super().__init__(conf, transport, db, host)
        timeout = conf.default.rpc_response_timeout
        self.manager = ConductorManager(conf, db, SchedulerAPI(transport, timeout), ComputeAPI(transport, timeout))
        self.reconciler = Reconciler(conf, db, self.manager.compute)
        self.periodics.append(Periodic("reconcile", conf.conductor.reconcile_interval, self.reconciler.run))

    def endpoint(self) -> object:
        return self.manager


def main(argv: list[str] | None = None) -> None:
    from ncloud.daemons.core.launcher import run_daemon

    run_daemon("ncloud-conductor", argv, lambda conf, transport, db: [ConductorService(conf, transport, db)],
               background=True)
