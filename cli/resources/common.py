"""What every end-user command module shares: finding a resource by name or id, key=value
options, and waiting for a resource to settle."""

from __future__ import annotations

import sys
import time

import typer

from ncloud.cli.cloud.errors import Ambiguous, CloudError, NotFound


def find(session, service: str, collection: str, name_or_id: str, key: str | None = None,
         list_path: str | None = None, query: str = "", what: str | None = None) -> dict:
    """The resource named or identified by `name_or_id`, as the `openstack` client finds it: by id
    first, else the one whose name matches exactly. `key`: the body's key of one resource
    ("server"); `list_path`: where to list them (default /collection)."""
    key = key or collection.rstrip("s")
    what = what or key.replace("_", " ")
    try:
        body = session.request("GET", service, f"/{collection}/{name_or_id}").json()
        return body.get(key, body)
    except NotFound:
        pass
    except CloudError as error:
        if getattr(error, "status", None) not in (400, 404):
            raise
    listed = session.request("GET", service, (list_path or f"/{collection}") + query).json()
    list_key = collection.removeprefix("os-").replace("-", "_")  # os-server-groups: "server_groups"
    items = listed.get(list_key) if isinstance(listed, dict) else listed
    matches = [item for item in items or [] if item.get("name") == name_or_id]
    if not matches:
        raise NotFound(404, f"No {what} with a name or ID of '{name_or_id}' exists.")
    if len(matches) > 1:
        ids = ", ".join(item.get("id", "?") for item in matches)
        raise Ambiguous(f"More than one {what} named '{name_or_id}' exists ({ids}): use its ID.")
    match = matches[0]
    if "id" in match and len(match) <= 3:  # a summary (id, name, links): fetch the whole resource
        body = session.request("GET", service, f"/{collection}/{match['id']}").json()
        return body.get(key, body)
    return match


def completer(service: str, path: str, key: str):
    """Shell completion of resource names (`ncloud server show we<TAB>`), where it is cheap: only
    with a cached token (never a login or a password prompt), one list call, three seconds at most."""

    def complete(incomplete: str) -> list[str]:
        from ncloud.cli.cloud import tokens
        from ncloud.cli.cloud.context import connect

        try:
            session = connect(prompt=False)
            if session.cache_key is None or tokens.load(session.cache_key) is None:
                return []
            items = session.request("GET", service, path, timeout=3).json()[key]
        except Exception:  # noqa: BLE001 - completion offers nothing rather than an error in the shell
            return []
        return sorted({item["name"] for item in items if (item.get("name") or "").startswith(incomplete)})

    return complete


def without_links(resource: dict) -> dict:
    """A resource for `show`: its fields sorted, its links dropped."""
    return dict(sorted((key, value) for key, value in resource.items() if key != "links"))


def key_values(pairs: list[str] | None, option: str) -> dict[str, str]:
    """--property key=value (repeated) as a dict; a pair without '=' is a usage error."""
    found = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        found[key] = value
    return found


class Waiter:
    """Shows a resource settling: a live spinner with its status and elapsed time on a terminal,
    a line per change when piped."""

    def __init__(self, label: str):
        self.label = label
        self.started = time.monotonic()
        self.live = None
        self.last = None
        if sys.stderr.isatty():
            from rich.console import Console

            self.live = Console(stderr=True).status(f"{label}: ...")
            self.live.start()

    def show(self, state: str) -> None:
        elapsed = time.monotonic() - self.started
        if self.live is not None:
            self.live.update(f"{self.label}: {state} ({elapsed:.0f} s)")
        elif state != self.last:
            sys.stderr.write(f"{self.label}: {state} ({elapsed:.0f} s)\n")
        self.last = state

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    def __enter__(self) -> Waiter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def poll(fetch, done, label: str, timeout: float, interval: float = 1.0):
    """Call fetch() until done(result) is true; `done` returns (finished, state text)."""
    with Waiter(label) as waiter:
        end = time.monotonic() + timeout
        while True:
            result = fetch()
            finished, state = done(result)
            waiter.show(state)
            if finished:
                return result
            if time.monotonic() > end:
                raise CloudError(f"{label}: still {state} after {timeout:g} s (the cloud keeps working on it; "
                                 "check again later)")
            time.sleep(interval)
