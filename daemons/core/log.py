"""Logging for every ncloud process: one format, with the request id of the work being done.

The request id comes from the thread's current RequestContext, so a build can be followed from
the API through the conductor, scheduler and compute by grepping one id.
"""

from __future__ import annotations

import logging
import sys

from ncloud.daemons.core import context

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        record.request_id = ctx.request_id if ctx else "-"
        return True


def setup(debug: bool = False, log_file: str = "") -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # kombu logs every (re)connection at INFO and warns about memory:// having no hostname.
    for noisy in ("kombu", "amqp", "waitress.queue", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not debug else logging.INFO)
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    # kombu.mixins logs every lost connection with a traceback; rpc.py logs one line instead.
    logging.getLogger("kombu.mixins").setLevel(logging.ERROR if not debug else logging.INFO)


def log_effective_config(conf, logger: logging.Logger) -> None:
    """Log every option with its value and where it came from, secrets masked."""
    for section, name, value, source in conf.effective(mask_secrets=True):
        logger.info("config [%s] %s = %r (%s)", section, name, value, source)
