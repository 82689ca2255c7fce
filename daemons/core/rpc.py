"""The one RPC layer every ncloud daemon uses, on kombu.

- `RPCClient(transport, topic).call(ctx, "method", **args)` waits for the reply (raising the remote
  exception, rebuilt by type when it is an `NcloudError`); `.cast(...)` is fire and forget;
  `.fanout(...)` reaches every server of a topic.
- `RPCServer(transport, topic, host, endpoint).start()` consumes `<topic>` (shared by all servers
  of the topic, so work is spread) and `<topic>.<host>` (this server alone) and calls
  `endpoint.<method>(ctx, **args)`.

Messages are JSON envelopes: {method, args, version, context, msg_id?, reply_to?}. The version is
MAJOR.MINOR: a release that adds a method or an optional argument bumps MINOR, one that changes
or removes one bumps MAJOR. During a rolling upgrade old and new daemons talk both ways: a server
refuses another MAJOR, and drops the arguments a newer MINOR added that its methods do not know
(logged), so one release of skew works as long as new arguments stay optional. Queues are
durable and casts persistent; a message is acknowledged only after its handler returned, so work
in progress when a daemon dies is delivered again (handlers are idempotent). Each consumer thread
has its own connection and `prefetch_count=1`; replies and casts are published from a separate
pool of connections (publishing from inside a consumer callback on its own connection recurses
under backlog). Reconnection lives here, never in handlers: consumers are kombu `ConsumerMixin`s
that reconnect by themselves, publishers retry with a bounded policy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin
from kombu.pools import ProducerPool

from ncloud.daemons.core import exception, inprocess
from ncloud.daemons.core.context import RequestContext

LOG = logging.getLogger(__name__)

VERSION = "1.0"  # see the module docstring: MINOR for additions, MAJOR for changes
STOP_CHECK_INTERVAL = 0.25
# A cast that meets a passing failure is tried again after RETRY_DELAY, doubling, MAX_ATTEMPTS in all
# (about 2 minutes with the defaults: the time a database or broker restart takes).
RETRY_DELAY = 2.0
MAX_ATTEMPTS = 7
EXCHANGE = "ncloud"
# Polling interval of kombu's other virtual transports, should one be configured (memory:// does not
# poll: core/inprocess.py): kombu's default of 1 s would add a second to every hop. Decision 0002.
VIRTUAL_POLLING_INTERVAL = 0.005
# Daemons wait out a broker restart (about a minute); the API answers 503 within seconds instead,
# so that a user is told to retry rather than left hanging.
PUBLISH_RETRY = {"max_retries": 20, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3}
FAIL_FAST_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 1}


class Transport:
    """Connections to one broker URL, shared by every client and server of a process."""

    def __init__(self, url: str, publish_retry: dict | None = None):
        self.url = url
        self.publish_retry = publish_retry or PUBLISH_RETRY
        self.is_virtual = not url.startswith(("amqp", "pyamqp", "amqps"))
        self.options = {"polling_interval": VIRTUAL_POLLING_INTERVAL} if self.is_virtual else {}
        # memory:// is served by our event-driven variant of kombu's (core/inprocess.py).
        self.transport_cls = None if self.crosses_processes(url) else inprocess.Transport
        self.exchange = Exchange(EXCHANGE, type="direct", durable=True)
        self._connections = self.connection().Pool(limit=32)
        self._producers = ProducerPool(self._connections, limit=32)
        self._queues: dict[str, Queue] = {}
        self._replies: _ReplyWaiter | None = None
        self._lock = threading.Lock()

    @staticmethod
    def crosses_processes(url: str) -> bool:
        """Whether daemons in different processes can talk through this URL (memory:// cannot)."""
        return not url.startswith("memory")

    def connection(self) -> Connection:
        return Connection(self.url, transport=self.transport_cls, transport_options=self.options,
                          heartbeat=0 if self.is_virtual else 30)

    def queue(self, name: str) -> Queue:
        """The durable queue of a topic; one object per name, as every cast declares its queue."""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = Queue(name, self.exchange, routing_key=name, durable=True)
        return queue

    def fanout_exchange(self, topic: str) -> Exchange:
        return Exchange(f"{EXCHANGE}_{topic}_fanout", type="fanout", durable=False)

    def publish(self, body: dict, routing_key: str, exchange: Exchange | None = None,
                declare: list | None = None, persistent: bool = True, **properties) -> None:
        try:
            with self._producers.acquire(block=True, timeout=30) as producer:
                # kombu remembers what each connection has declared, but binds a copy of every
                # entity before it looks: skipping the known ones first saves a fifth of a publish.
                declared = producer.connection.declared_entities
                producer.publish(
                    body, exchange=exchange if exchange is not None else self.exchange,
                    routing_key=routing_key, serializer="json",
                    declare=[entity for entity in declare or () if hash(entity) not in declared],
                    delivery_mode=2 if persistent else 1, retry=True, retry_policy=self.publish_retry,
                    **properties)
        except Exception as error:  # kombu surfaces many transport-specific exception types
            if isinstance(error, exception.NcloudError):
                raise
            raise exception.MessagingUnavailable(reason=f"{type(error).__name__}: {error}") from error

    def warm(self, producers: int) -> None:
        """Connect up to `producers` pooled publishers now, not during the first requests."""
        held = []
        try:
            for _ in range(producers):
                producer = self._producers.acquire(block=True, timeout=30)
                producer.connection.ensure_connection(max_retries=1)
                held.append(producer)
        except Exception as error:  # the broker may not be up yet: publishing connects when needed
            LOG.info("message bus connections not opened in advance: %s", error)
        finally:
            for producer in held:
                producer.release()

    def replies(self) -> _ReplyWaiter:
        with self._lock:
            if self._replies is None:
                self._replies = _ReplyWaiter(self)
                self._replies.start()
            return self._replies

    def interrupt_calls(self) -> None:
        """Give up every call still waiting for its reply, and any made from now on (the daemon is
        stopping): each raises ServiceStopping in its caller."""
        if self._replies is not None:
            self._replies.interrupt()

    def close(self) -> None:
        if self._replies is not None:
            self._replies.stop()
        self._producers.force_close_all()
        self._connections.force_close_all()


class _Consumer(ConsumerMixin):
    """kombu's ConsumerMixin with ncloud's reconnection policy and one-line logging.

    Reconnection is retried forever (a daemon has nothing better to do than wait for its broker),
    quickly at first: kombu's default back-off reaches 30 s between attempts, and every second a
    consumer is away is a second of replies and heartbeats lost.
    """

    name = "rpc"

    @contextlib.contextmanager
    def establish_connection(self):
        with self.create_connection() as connection:
            connection.ensure_connection(self.on_connection_error, None, interval_start=0.2, interval_step=0.5,
                                         interval_max=2)
            yield connection

    def on_connection_error(self, exc, interval):
        LOG.warning("%s: message bus unreachable (%s); retrying in %.1fs", self.name, exc, interval)

    def on_connection_revived(self):
        LOG.info("%s: connected to the message bus", self.name)


class _ReplyWaiter(_Consumer):
    """One reply queue per process; replies find their caller by msg_id."""

    name = "rpc-replies"

    def __init__(self, transport: Transport):
        self.transport = transport
        self.connection = transport.connection()
        self.queue_name = f"reply_{uuid.uuid4().hex}"
        self.queue = Queue(self.queue_name, transport.exchange, routing_key=self.queue_name,
                           durable=False, auto_delete=True)
        self.pending: dict[str, Future] = {}
        self.interrupted = False
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, kwargs={"safety_interval": STOP_CHECK_INTERVAL},
                                       name="rpc-replies", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(30):
            raise exception.MessagingUnavailable(reason="reply queue could not be set up in 30s")

    def stop(self) -> None:
        self.should_stop = True
        self.thread.join(5)

    def get_consumers(self, consumer_cls, channel):
        return [consumer_cls(queues=[self.queue], callbacks=[self._on_reply], accept=["json"], no_ack=True)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.ready.set()

    def expect(self, msg_id: str) -> Future:
        future: Future = Future()
        with self.lock:
            if self.interrupted:
                future.cancel()
            else:
                self.pending[msg_id] = future
        return future

    def interrupt(self) -> None:
        with self.lock:
            self.interrupted = True
            pending, self.pending = self.pending, {}
        for future in pending.values():
            future.cancel()

    def forget(self, msg_id: str) -> None:
        with self.lock:
            self.pending.pop(msg_id, None)

    def _on_reply(self, body, message) -> None:
        with self.lock:
            future = self.pending.pop(body.get("msg_id"), None)
        if future is not None and not future.done():
            future.set_result(body)


class RPCClient:
    """Sends requests to the servers of one topic (or one host's server with `server=`)."""

    def __init__(self, transport: Transport, topic: str, server: str | None = None,
                 timeout: float = 60.0, version: str = VERSION):
        self.transport = transport
        self.topic = topic
        self.target = f"{topic}.{server}" if server else topic
        self.timeout = timeout
        self.version = version

    def prepare(self, server: str | None = None, timeout: float | None = None) -> RPCClient:
        return RPCClient(self.transport, self.topic, server=server,
                         timeout=self.timeout if timeout is None else timeout, version=self.version)

    def _envelope(self, ctx: RequestContext, method: str, args: dict) -> dict:
        return {"method": method, "args": args, "version": self.version, "context": ctx.to_dict()}

    def cast(self, ctx: RequestContext, method: str, **args) -> None:
        self.transport.publish(self._envelope(ctx, method, args), self.target,
                               declare=[self.transport.queue(self.target)])

    def fanout(self, ctx: RequestContext, method: str, **args) -> None:
        exchange = self.transport.fanout_exchange(self.topic)
        self.transport.publish(self._envelope(ctx, method, args), "", exchange=exchange,
                               declare=[exchange], persistent=False)

    def call(self, ctx: RequestContext, method: str, timeout: float | None = None, retries: int = 0,
             **args) -> Any:
        """Send a request and wait for its reply.

        `retries`: ask again this many times when no reply comes in time (a reply lost in a
        broker restart). Only for methods that are safe to run twice.
        """
        for attempt in range(retries + 1):
            try:
                return self._call_once(ctx, method, timeout, args)
            except exception.MessagingTimeout as error:
                if attempt == retries:
                    raise
                LOG.warning("%s; asking again (%d/%d)", error, attempt + 1, retries)
        raise AssertionError("unreachable")

    def _call_once(self, ctx: RequestContext, method: str, timeout: float | None, args: dict) -> Any:
        timeout = self.timeout if timeout is None else timeout
        replies = self.transport.replies()
        msg_id = uuid.uuid4().hex
        body = self._envelope(ctx, method, args)
        body.update(msg_id=msg_id, reply_to=replies.queue_name)
        future = replies.expect(msg_id)
        try:
            if not future.cancelled():
                self.transport.publish(body, self.target, declare=[self.transport.queue(self.target)],
                                       persistent=False, expiration=timeout)
            reply = future.result(timeout)
        except FutureTimeout:
            raise exception.MessagingTimeout(timeout=timeout, method=method, topic=self.target) from None
        except CancelledError:
            raise exception.ServiceStopping(method=method, topic=self.target) from None
        finally:
            replies.forget(msg_id)
        failure = reply.get("failure")
        if failure:
            raise _rebuild(failure)
        return reply.get("result")


def _rebuild(failure: dict) -> Exception:
    cls = exception.by_name(failure.get("type", ""))
    if cls is not None:
        error = cls.__new__(cls)
        Exception.__init__(error, failure.get("message", ""))
        error.kwargs = {}
        return error
    return exception.RemoteError(failure.get("type", "Exception"), failure.get("message", ""))


class _Worker(_Consumer):
    def __init__(self, server: RPCServer, queues: list[Queue], name: str):
        self.name = name
        self.server = server
        self.connection = server.transport.connection()
        self.queues = queues
        self.ready = threading.Event()
        # Wake from the broker every quarter second to notice should_stop: stopping a daemon takes
        # that long instead of kombu's default of a second per consumer.
        self.thread = threading.Thread(target=self.run, kwargs={"safety_interval": STOP_CHECK_INTERVAL},
                                       name=name, daemon=True)

    def get_consumers(self, consumer_cls, channel):
        return [consumer_cls(queues=self.queues, callbacks=[self.server._dispatch], accept=["json"],
                             prefetch_count=1)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.ready.set()


def heartbeat_queue(topic: str, host: str) -> str:
    return f"{topic}.{host}.heartbeat"


class RPCServer:
    """Consumes a topic for one host and dispatches messages to an endpoint's methods.

    Besides the endpoint's public methods, every server answers `ping` (health checks) and
    `heartbeat` (a message that went through the consumer loop, proving it alive; the
    `on_heartbeat` callback records it).
    """

    def __init__(self, transport: Transport, topic: str, host: str, endpoint: object, workers: int = 4,
                 on_heartbeat=None, binary: str | None = None):
        self.transport = transport
        self.topic = topic
        self.host = host
        self.endpoint = endpoint
        self.on_heartbeat = on_heartbeat
        self.binary = binary or f"ncloud-{topic}"
        shared = [transport.queue(topic), transport.queue(f"{topic}.{host}")]
        fanout = Queue(f"{topic}_fanout_{host}_{uuid.uuid4().hex[:8]}", transport.fanout_exchange(topic),
                       durable=False, auto_delete=True, exclusive=False)
        self.workers = [_Worker(self, shared + ([fanout] if i == 0 else []), f"rpc-{topic}.{host}-{i}")
                        for i in range(workers)]
        # Heartbeats have a consumer of their own: a host whose workers are all busy (long builds)
        # is alive, and must not be taken for down, with its servers then deleted behind its back.
        self.workers.append(_Worker(self, [transport.queue(heartbeat_queue(topic, host))],
                                    f"rpc-{topic}.{host}-heartbeat"))

    def start(self, wait: float = 30.0) -> None:
        for worker in self.workers:
            worker.thread.start()
        for worker in self.workers:
            if not worker.ready.wait(wait):
                LOG.warning("%s: not consuming yet after %ss (is the message bus up?)", worker.thread.name, wait)

    def request_stop(self) -> None:
        """Take no new message; the handlers running finish (see `wait`)."""
        for worker in self.workers:
            worker.should_stop = True

    def wait(self, deadline: float) -> bool:
        """Whether every consumer thread ended before `deadline` (time.monotonic())."""
        for worker in self.workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.thread.is_alive() for worker in self.workers)

    def stop(self, timeout: float = 5.0) -> None:
        self.request_stop()
        self.wait(time.monotonic() + timeout)

    def _retry_later(self, body: dict, message, error: Exception) -> bool:
        """Put a cast that met a passing failure (database or broker away) back in its queue, after
        a pause that grows with each attempt; False once it has had MAX_ATTEMPTS.

        Re-published with its attempt count, then the original acknowledged: if this process dies
        in between, the original is delivered again, which idempotent handlers take in their stride.
        """
        attempt = int(body.get("attempt", 1))
        if attempt >= MAX_ATTEMPTS:
            LOG.error("%s.%s failed %d times, giving up: %s", self.topic, body.get("method"), attempt, error)
            return False
        delay = min(RETRY_DELAY * 2 ** (attempt - 1), 30)
        LOG.warning("%s.%s met a passing failure (%s: %s); trying again in %.0fs (attempt %d of %d)", self.topic,
                    body.get("method"), type(error).__name__, error, delay, attempt + 1, MAX_ATTEMPTS)
        time.sleep(delay)
        routing_key = message.delivery_info.get("routing_key") or self.topic
        self.transport.publish({**body, "attempt": attempt + 1}, routing_key,
                               declare=[self.transport.queue(routing_key)])
        message.ack()
        return True

    def _builtin(self, method: str, ctx: RequestContext, args: dict):
        # ping's answer carries the version, so tools can tell an old daemon from a new one.
        if method == "ping":
            return {"host": self.host, "topic": self.topic, "binary": self.binary, "version": VERSION}
        if method == "heartbeat":
            if self.on_heartbeat is not None:
                self.on_heartbeat()
            return None
        raise AssertionError(method)

    def _dispatch(self, body: dict, message) -> None:
        method = body.get("method", "")
        ctx = RequestContext.from_dict(body.get("context"))
        args = body.get("args") or {}
        reply_to, msg_id = body.get("reply_to"), body.get("msg_id")
        reply: dict = {"msg_id": msg_id}
        try:
            sender = _version(body.get("version", "1.0"))
            if sender[0] != _version(VERSION)[0]:
                raise exception.Invalid(reason=f"unsupported RPC version {body.get('version')} (this {self.topic} "
                                               f"speaks {VERSION}): upgrade the older daemons")
            with ctx:
                if method in ("ping", "heartbeat"):
                    reply["result"] = self._builtin(method, ctx, args)
                else:
                    handler = getattr(self.endpoint, method, None) if not method.startswith("_") else None
                    if handler is None:
                        raise exception.Invalid(reason=f"{self.topic} has no RPC method {method!r}")
                    if sender > _version(VERSION):
                        args = _known_arguments(handler, method, args, body.get("version"))
                    reply["result"] = handler(ctx, **args)
        except exception.ServiceStopping as error:
            # Neither acknowledged nor answered: the broker gives the message to the next consumer
            # once this one's connection closes, and idempotent handlers pick up where this stopped.
            LOG.info("%s.%s [%s] left for redelivery: %s", self.topic, method, ctx.request_id, error)
            return
        except Exception as error:
            if not reply_to and exception.is_transient(error) and self._retry_later(body, message, error):
                return
            if isinstance(error, exception.NcloudError):
                LOG.info("%s.%s [%s] failed: %s", self.topic, method, ctx.request_id, error)
            else:
                LOG.exception("%s.%s [%s] raised an unexpected error", self.topic, method, ctx.request_id)
            reply["failure"] = {"type": type(error).__name__, "message": str(error)}
        if reply_to:
            try:
                self.transport.publish(reply, reply_to, persistent=False)
            except exception.MessagingUnavailable:
                LOG.warning("could not deliver the reply to %s.%s [%s]", self.topic, method, ctx.request_id)
        message.ack()


def _version(text) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise exception.Invalid(reason=f"malformed RPC version {text!r}") from None


def _known_arguments(handler, method: str, args: dict, version) -> dict:
    """The arguments `handler` takes: a newer sender's additions are dropped (see the docstring)."""
    import inspect

    parameters = inspect.signature(handler).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return args
    unknown = sorted(set(args) - set(parameters))
    if unknown:
        LOG.info("%s from a newer release (RPC %s): ignoring the argument(s) %s this one does not know",
                 method, version, ", ".join(unknown))
    return {name: value for name, value in args.items() if name in parameters}
