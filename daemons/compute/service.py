"""`ncloud-compute`: one per hypervisor host (or many simulated hosts with the fake driver)."""

from __future__ import annotations

import logging
import time

from ncloud.daemons.compute.manager import ComputeManager
from ncloud.daemons.compute.rpcapi import BINARY, TOPIC
from ncloud.daemons.compute.virt import driver as virt
from ncloud.daemons.conductor.rpcapi import ConductorAPI
from ncloud.daemons.core import exception, rpc
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.context import admin_context
from ncloud.daemons.core.image_client import ImageClient
from ncloud.daemons.core.service import Periodic, Service

LOG = logging.getLogger(__name__)


class ComputeService(Service):
    binary = BINARY
    topic = TOPIC

    def __init__(self, conf: Config, transport: rpc.Transport, host: str | None = None):
        super().__init__(conf, transport, host)
        self.conductor = ConductorAPI(transport, timeout=conf.default.rpc_response_timeout)
        images = ImageClient(conf)
        self.driver = virt.load(conf.compute.compute_driver, conf, self.host, images)
        self.manager = ComputeManager(conf, self.host, self.driver, self.conductor, images)
        self.periodics.append(Periodic("report-resources", conf.compute.resource_report_interval,
                                       self.manager.report_resources))
        if conf.compute.sync_power_state_interval:
            self.periodics.append(Periodic("sync-power-states", conf.compute.sync_power_state_interval,
                                           self.manager.sync_power_states))
        if conf.compute.compute_driver == "libvirt" and conf.libvirt.image_cache_interval:
            self.periodics.append(Periodic("clean-image-cache", conf.libvirt.image_cache_interval,
                                           self.driver.clean_image_cache))

    def endpoint(self) -> object:
        return self.manager

    def register(self) -> None:
        self.driver.init_host(self.host)
        delay = 1.0
        while True:  # the conductor may start after us; wait for it rather than die
            try:
                self.conductor.service_register(admin_context(), self.host, self.binary, self.topic)
                break
            except (exception.MessagingTimeout, exception.MessagingUnavailable) as error:
                LOG.warning("waiting for the conductor to register %s on %s: %s", self.binary, self.host, error)
                time.sleep(delay)
                delay = min(delay * 2, 10)
        self.manager.report_resources()

    def on_start(self) -> None:
        self.manager.reconcile()
        self.manager.start_lifecycle_events()

    def report_alive(self) -> None:
        self.conductor.service_heartbeat(admin_context(), self.host, self.binary)

    def on_stop(self) -> None:
        self.driver.cleanup_host()


def services_for(conf: Config, transport: rpc.Transport) -> list[ComputeService]:
    """The compute services this process runs: one, or `[fake] hosts` simulated ones."""
    base = conf.default.host
    count = conf.fake.hosts if conf.compute.compute_driver == "fake" else 1
    names = [base] + [f"{base}-{n}" for n in range(2, count + 1)]
    return [ComputeService(conf, transport, host=name) for name in names]


def main(argv: list[str] | None = None) -> None:
    from ncloud.daemons.core.launcher import run_daemon

    run_daemon(BINARY, argv, lambda conf, transport, db: services_for(conf, transport), needs_db=False,
               background=True)
