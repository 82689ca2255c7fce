"""Every ncloud daemon in one process: the all-in-one cloud behind `ncloud up`, tests and benchmarks.

With `memory://` (the default) the daemons talk through kombu's in-process transport, so the
cloud needs no server at all; with `amqp://` the same composition runs over RabbitMQ. Any part
can be left out (`with_compute=False`, ...) to run it in another process instead.
"""

from __future__ import annotations

import itertools
import logging

from ncloud.daemons.api.service import APIService
from ncloud.daemons.compute.service import ComputeService, services_for
from ncloud.daemons.conductor.service import ConductorService
from ncloud.daemons.core import bootstrap, rpc
from ncloud.daemons.core.config import Config
from ncloud.daemons.core.db import migrate
from ncloud.daemons.core.db.session import Database
from ncloud.daemons.core.service import stop_services
from ncloud.daemons.scheduler.service import SchedulerService

LOG = logging.getLogger(__name__)


class AllInOne:
    def __init__(self, conf: Config, with_api: bool = True, with_scheduler: bool = True,
                 with_conductor: bool = True, with_compute: bool = True):
        self.conf = conf
        self.db = Database(conf.database_url, pool_size=conf.database.max_pool_size,
                           max_overflow=conf.database.max_overflow)
        migrate.sync(self.db)
        self.defaults = bootstrap.ensure_defaults(self.db)
        self.transport = rpc.Transport(conf.default.transport_url)
        self.services = []
        if with_conductor:
            self.services.append(ConductorService(conf, self.transport, self.db))
        if with_scheduler:
            self.services.append(SchedulerService(conf, self.transport, self.db))
        if with_compute:
            self.services.extend(services_for(conf, self.transport))
        self.api = APIService(conf, self.db, self.transport) if with_api else None

    @property
    def endpoint(self) -> str:
        """The Compute API's base URL."""
        assert self.api is not None
        server = self.api.server
        host = "127.0.0.1" if server.host in ("0.0.0.0", "") else server.host
        return f"http://{host}:{server.port}/compute/v2.1"

    def start(self) -> AllInOne:
        for service in self.services:
            service.start()
        if self.api is not None:
            self.api.start()
            if not self.conf.image.api_endpoint:
                # The port may have been chosen at bind time (bind_port 0): tell the compute hosts
                # where this process's Image API really is.
                image_api = self.endpoint.rsplit("/compute/", 1)[0] + "/image"
                for service in self.services:
                    if isinstance(service, ComputeService):
                        service.manager.images.endpoint = image_api
        return self

    def stop(self) -> None:
        """Stop what runs (also after a start that failed half way)."""
        if self.api is not None:
            self.api.stop()
        # The computes first (together), then the scheduler, then the conductor: the work a compute
        # finishes while stopping still needs the conductor.
        for _, group in itertools.groupby(reversed(self.services), key=lambda service: service.topic):
            stop_services(list(group), self.transport, self.conf.default.graceful_shutdown_timeout)
        self.transport.close()
        self.db.dispose()

    def __enter__(self) -> AllInOne:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
