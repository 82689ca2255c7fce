"""The operator commands that run one playbook each: what they run and their help. A table, so
that `ncloud --help` lists them without loading the operator module (cli/main.py) and that
cli/operator_cmd.py registers them from the same words."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlaybookCommand:
    playbook: str
    help: str
    host_argument: str | None = None  # the variable a HOST argument sets
    extravars: dict = field(default_factory=dict)
    wheels: bool = False  # installs ncloud: build the wheelhouse first


TARGET = "ncloud_target_host"
PLAYBOOK_COMMANDS = {
    "deploy": PlaybookCommand("deploy", "Deploy or update the cloud: database, message bus, controllers, computes, "
                              "then the admin's clouds.yaml. Safe to run again: it changes only what differs.",
                              wheels=True),
    "bootstrap": PlaybookCommand("bootstrap", "Prepare the hosts: base packages, the ncloud user and folders, the "
                                 "service supervisor."),
    "prechecks": PlaybookCommand("prechecks", "Check the hosts before a deployment (Python and OS, packages, ports, "
                                 "virtualisation, clock, names, disk); each failure says what to fix."),
    "post-deploy": PlaybookCommand("post-deploy", "Write the admin's clouds.yaml and admin-openrc.sh beside the "
                                   "inventory (and admin-openrc.sh on the first controller)."),
    "site": PlaybookCommand("site", "Everything in order: bootstrap, prechecks, deploy, post-deploy.", wheels=True),
    "reconfigure": PlaybookCommand("reconfigure", "Apply changed settings of the inventory; only hosts whose "
                                   "configuration changed restart their daemons.", wheels=True),
    "upgrade": PlaybookCommand("upgrade", "Upgrade to this release: preflight check, new package everywhere, "
                               "database migrations, controllers one at a time, computes in batches.", wheels=True),
    "add-compute": PlaybookCommand("add-compute", "Deploy a new compute host (add it to the inventory's computes "
                                   "group first); every compute then trusts it for migrations.",
                                   host_argument=TARGET, wheels=True),
    "remove-compute": PlaybookCommand("remove-compute", "Drain a compute host, stop its daemons, delete its "
                                      "service, hypervisor and resource provider. Delete it from the inventory "
                                      "afterwards.", host_argument=TARGET),
    "drain": PlaybookCommand("drain", "Disable a compute host and move its servers elsewhere (live migration when "
                             "running, cold migration when stopped).", host_argument=TARGET,
                             extravars={"ncloud_drain_action": "drain"}),
    "restore": PlaybookCommand("drain", "Enable a drained or evacuated compute host again.", host_argument=TARGET,
                               extravars={"ncloud_drain_action": "restore"}),
    "evacuate": PlaybookCommand("evacuate", "Rebuild the servers of a compute host that is down on the others "
                                "(-e ncloud_evacuate_force_down=true: now, once the host is fenced).",
                                host_argument=TARGET),
    "stop": PlaybookCommand("stop", "Stop the ncloud daemons (guests keep running); -e "
                            "ncloud_stop_infrastructure=true also stops MariaDB and RabbitMQ."),
    "backup": PlaybookCommand("backup", "Dump the database (kept on the database host for ncloud_backup_keep runs, "
                              "copied to backups/ beside the inventory)."),
    "restore-database": PlaybookCommand("restore", "Load a dump made by `ncloud backup` (-e "
                                        "ncloud_restore_file=PATH on the database host); the controllers pause "
                                        "meanwhile."),
}
