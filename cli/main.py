"""The `ncloud` command: end-user commands (`ncloud server create ...`, against any cloud's APIs)
and operator commands (`ncloud deploy ...`, `ncloud check`) in one tool.

Every command module is imported only when it runs (cli/lazy.py): `ncloud server list` loads the
server commands, the HTTP client and nothing else, and `ncloud --help` no command module at all.
Errors from the cloud end here: one line saying what went wrong (the API's message, the HTTP
status, the request id), no traceback unless --debug, and the exit code of cli/cloud/errors.py.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ncloud.cli.cloud.config import ENVIRONMENT
from ncloud.cli.deploy.commands import PLAYBOOK_COMMANDS
from ncloud.cli.lazy import Entry, LazyGroup

USER = "Compute"
IDENTITY = "Identity"
OPERATOR = "Operators: deployment and day two"
DAEMONS = "Operators: on a cloud host"
R = "ncloud.cli.resources."


def _entries() -> dict[str, Entry]:
    operator = "ncloud.cli.operator_cmd"
    entries = {
        "server": Entry(R + "server", USER, "Servers: create, list, show, change and act on them."),
        "flavor": Entry(R + "flavor", USER, "Flavors: the sizes servers come in."),
        "image": Entry(R + "image", USER, "Images: upload, download, list, share; build the tiny test guest."),
        "keypair": Entry(R + "keypair", USER, "SSH key pairs for servers."),
        "console": Entry(R + "console", USER, "A server's console: its log, a URL to reach it."),
        "quota": Entry(R + "quota", USER, "Quotas: what a project may use."),
        "limits": Entry(R + "quota", USER, "Limits: your project's quotas beside its usage.", attr="limits_app"),
        "availability": Entry(R + "infrastructure", USER, "Availability zones.", attr="availability_app"),
        "hypervisor": Entry(R + "infrastructure", USER, "Hypervisors: the compute hosts' capacity and use (admin).",
                            attr="hypervisor_app"),
        "compute": Entry(R + "infrastructure", USER, "The Compute service's daemons.", attr="compute_app"),
        "aggregate": Entry(R + "infrastructure", USER, "Host aggregates (admin).", attr="aggregate_app"),
        "project": Entry(R + "identity", IDENTITY, "Projects (tenants): who owns servers and quotas.",
                         attr="project_app"),
        "user": Entry(R + "identity", IDENTITY, "Users.", attr="user_app"),
        "role": Entry(R + "identity", IDENTITY, "Roles and who holds them where.", attr="role_app"),
        "token": Entry(R + "identity", IDENTITY, "Tokens: issue one for scripts, revoke one.", attr="token_app"),
        "application": Entry(R + "identity", IDENTITY, "Application credentials.", attr="application_app"),
        "up": Entry("ncloud.cli.up", OPERATOR, "Run the whole cloud on this machine (all-in-one) until Ctrl-C.",
                    group=False),
    }
    for name, spec in PLAYBOOK_COMMANDS.items():
        entries[name] = Entry(operator, OPERATOR, spec.help, group=False)
    entries.update({
        "destroy": Entry(operator, OPERATOR, "Remove ncloud from every host: daemons, guests, configuration, data, "
                         "database, bus vhost.", group=False),
        "genpwd": Entry(operator, OPERATOR, "Fill in every missing secret of the passwords file; existing values "
                        "are never changed.", group=False),
        "mergepwd": Entry(operator, OPERATOR, "Merge for an upgrade: the new file's names, the old file's values "
                          "wherever it has them.", group=False),
    })
    entries.update({
        "check": Entry(operator, DAEMONS, "Check the API, tokens, database, bus, every daemon, capacity, stuck "
                       "servers, allocations and the image store; exit with the worst status (0 OK, 1 WARNING, "
                       "2 CRITICAL, 3 UNKNOWN).", group=False),
        "upgrade-check": Entry(operator, DAEMONS, "Can this cloud be upgraded now? Database and bus reachable, every "
                               "daemon up and answering, no move in progress. Exit 0 ready, 1 warnings (upgrade with "
                               "care), 2 blocked.", group=False),
        "host": Entry("ncloud.cli.host_cmd", DAEMONS, "A compute host's day-two work (run on a controller)."),
        "service": Entry("ncloud.cli.service_cmd", DAEMONS, "Daemons as the message bus sees them."),
        "db": Entry("ncloud.cli.db_cmd", DAEMONS, "Database schema (sync, status) and default data (seed)."),
        "config": Entry("ncloud.cli.config_cmd", DAEMONS, "Inspect and check the configuration."),
        "identity": Entry("ncloud.cli.identity_cmd", DAEMONS, "Identity: bootstrap, token keys."),
    })
    return entries


# -- the global options: --os-* (accepted anywhere on the line, as the openstack client does) --

# --os-foo-bar for every OS_FOO_BAR variable, to the same clouds.yaml key ("auth.x" inside auth).
GLOBAL_OPTIONS = {"--os-cloud": "cloud", **{"--" + variable.lower().replace("_", "-"): key
                                           for variable, key in ENVIRONMENT.items() if variable != "OS_INSECURE"}}
GLOBAL_FLAGS = {"--insecure": "insecure", "--debug": "debug"}


def take_globals(argv: list[str]) -> list[str]:
    """Move the global options out of `argv` into the invocation's GLOBALS; the rest for typer."""
    from ncloud.cli.cloud.context import GLOBALS

    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        if name in GLOBAL_OPTIONS:
            if not eq:
                value = next(args, None)
                if value is None:
                    rest.append(arg)  # typer reports the missing value
                    break
            key = GLOBAL_OPTIONS[name]
            if key == "cloud":
                GLOBALS.cloud = value
            elif key.startswith("auth."):
                GLOBALS.options.setdefault("auth", {})[key[5:]] = value
            else:
                GLOBALS.options[key] = value
        elif arg in GLOBAL_FLAGS:
            if arg == "--debug":
                GLOBALS.debug = True
            else:
                GLOBALS.options["insecure"] = True
        else:
            rest.append(arg)
    return rest


class RootGroup(LazyGroup):
    entries = _entries()


app = typer.Typer(
    name="ncloud",
    cls=RootGroup,
    help="ncloud: a lean compute cloud compatible with OpenStack Compute.\n\n"
         "The cloud is found the `openstack` client's way: --os-cloud or OS_CLOUD names one of clouds.yaml, "
         "else the OS_* variables of an openrc file; --os-* options override both, anywhere on the line.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        typer.echo(f"ncloud {metadata.version('ncloud')}")
        raise typer.Exit()


@app.callback()
def root(
    os_cloud: Annotated[str | None, typer.Option("--os-cloud", help="The cloud of clouds.yaml (OS_CLOUD).")] = None,
    os_auth_url: Annotated[str | None, typer.Option("--os-auth-url", help="Identity URL (OS_AUTH_URL).")] = None,
    os_username: Annotated[str | None, typer.Option("--os-username", help="OS_USERNAME.")] = None,
    os_password: Annotated[str | None, typer.Option("--os-password", help="OS_PASSWORD (asked for on a terminal "
                                                    "when missing).")] = None,
    os_project_name: Annotated[str | None, typer.Option("--os-project-name", help="OS_PROJECT_NAME.")] = None,
    os_region_name: Annotated[str | None, typer.Option("--os-region-name", help="OS_REGION_NAME.")] = None,
    os_compute_api_version: Annotated[str | None, typer.Option(
        "--os-compute-api-version", help="Compute API microversion (default: the one ncloud is written for).")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Print every request and response (tokens masked) and "
                                        "tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print ncloud's version.")] = False,
) -> None:
    """(main() takes these options wherever they are on the line; --os-user-domain-name,
    --os-project-domain-name, --os-project-id, --os-token, --os-auth-type, --os-interface,
    --os-cacert and the application credential's options too.)"""


def main() -> None:
    from ncloud.cli.cloud.context import GLOBALS
    from ncloud.cli.cloud.errors import CloudError
    from ncloud.cli.output import OutputError

    args = take_globals(sys.argv[1:])
    try:
        app(args=args, prog_name="ncloud")
    except CloudError as error:
        if GLOBALS.debug:
            import traceback

            traceback.print_exc()
        _error(str(error))
        sys.exit(error.exit_code)
    except OutputError as error:
        _error(str(error))
        sys.exit(2)
    except KeyboardInterrupt:
        _error("interrupted (whatever the cloud was asked to do goes on)")
        sys.exit(130)


def _error(message: str) -> None:
    message = f"\x1b[31merror:\x1b[0m {message}" if sys.stderr.isatty() else f"error: {message}"
    sys.stderr.write(message + "\n")
