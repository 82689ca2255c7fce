"""`ncloud service ping`: ask a daemon, through the message bus, whether its consumer answers."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ncloud.cli.options import ConfigFile, group, load_config

app = group("Daemons as the message bus sees them.")


@app.command()
def ping(
    topic: str = typer.Argument(..., help="scheduler, conductor or compute"),
    host: str | None = typer.Argument(None, help="The host whose daemon should answer (default: any)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the answer."),
    config_file: Path | None = ConfigFile,
) -> None:
    """Send an RPC ping and wait for the answer. Exit 0 when it came in time, 1 when not."""
    from ncloud.daemons.core import exception, rpc
    from ncloud.daemons.core.context import admin_context

    conf = load_config(config_file)
    if not rpc.Transport.crosses_processes(conf.default.transport_url):
        typer.secho("error: transport_url is memory:// (in-process): only the all-in-one process itself can reach "
                    "its daemons. Point --config-file at the cloud's configuration.", fg="red", err=True)
        raise typer.Exit(2)
    transport = rpc.Transport(conf.default.transport_url, publish_retry=rpc.FAIL_FAST_RETRY)
    try:
        started = time.monotonic()
        answer = rpc.RPCClient(transport, topic, server=host, timeout=timeout).call(admin_context(), "ping")
        typer.echo(f"{answer['binary']} on {answer['host']} answered in {(time.monotonic() - started) * 1000:.1f} ms")
    except (exception.MessagingTimeout, exception.MessagingUnavailable) as error:
        typer.secho(f"no answer: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        transport.close()
