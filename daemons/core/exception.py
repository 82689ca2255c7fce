"""Errors that cross module and process boundaries.

An `NcloudError` raised by an RPC handler comes back to the caller as the same class with the same
message (see rpc.py), and the API turns it into Nova's error body with its `code`. Anything else
that escapes a handler is a bug: it reaches callers as `RemoteError` and users as a 500 whose
details stay in the log.
"""

from __future__ import annotations


class NcloudError(Exception):
    code = 500
    message = "An unknown error occurred."

    def __init__(self, message: str | None = None, **kwargs):
        self.kwargs = kwargs
        super().__init__(message or self.message.format(**kwargs))


class Invalid(NcloudError):
    code = 400
    message = "Invalid input: {reason}"


class NotFound(NcloudError):
    code = 404
    message = "Resource could not be found."


class FlavorNotFound(NotFound):
    message = "Flavor {flavor_id} could not be found."


class ImageNotFound(NotFound):
    message = "Image {image_id} could not be found."


class InstanceNotFound(NotFound):
    message = "Instance {instance_id} could not be found."


class ServiceNotFound(NotFound):
    message = "Service {service_id} could not be found."


class ComputeHostNotFound(NotFound):
    message = "Compute host {host} could not be found."


class Conflict(NcloudError):
    code = 409
    message = "There was a conflict when trying to complete your request."


class InstanceInvalidState(Conflict):
    message = "Cannot '{action}' instance {instance_id} while it is in {attr} {state}"


class NoValidHost(NcloudError):
    """Raised by the scheduler with the full story of why no host fitted."""

    code = 500
    message = "No valid host was found. {reason}"


class ResourceProviderConcurrentUpdate(Conflict):
    message = "Resource provider {name} was updated concurrently (generation {generation})."


class MessagingTimeout(NcloudError):
    code = 504
    message = "Timed out after {timeout:g}s waiting for a reply to {method} on {topic}."


class MessagingUnavailable(NcloudError):
    code = 503
    message = "The message bus is unreachable: {reason}"


class ServiceStopping(NcloudError):
    """A call abandoned because this daemon is stopping: its message is left for redelivery."""

    code = 503
    message = "Stopping: the reply to {method} on {topic} is no longer awaited."


class RemoteError(NcloudError):
    """An unexpected exception in another process: its type and message, for the logs."""

    def __init__(self, exc_type: str, value: str):
        self.exc_type = exc_type
        self.value = value
        super().__init__(f"Remote error: {exc_type} {value}")


# Failures that say "not now" rather than "not ever": work that meets one is tried again later
# (rpc.py re-queues such a cast). core/db/session.py adds the database's own.
TRANSIENT: list[type[BaseException]] = [MessagingTimeout, MessagingUnavailable, ResourceProviderConcurrentUpdate]


def is_transient(error: BaseException) -> bool:
    return isinstance(error, tuple(TRANSIENT))


def by_name(name: str) -> type[NcloudError] | None:
    """The NcloudError subclass with this name, for rebuilding remote exceptions."""
    found = globals().get(name)
    if isinstance(found, type) and issubclass(found, NcloudError):
        return found
    return None
