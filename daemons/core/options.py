"""Every option ncloud understands, in one place.

Declaring the whole schema up front is what lets the config loader reject a typo with the
file, the line and the closest valid name, instead of silently ignoring it as oslo.config does,
and what lets `ncloud config sample` print a complete, commented file.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Opt:
    """One typed option. `kind` is str, int, float, bool or list (comma separated)."""

    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # a regular expression every value (every item of a list) must match


SECTIONS: dict[str, tuple[Opt, ...]] = {
    "DEFAULT": (
        Opt("host", str, socket.gethostname(), "Name of this node as services, hypervisors and RPC topics see it."),
        Opt("state_path", str, "/var/lib/ncloud",
            "Directory for the state this node keeps (the default SQLite database; later the image store and keys)."),
        Opt("transport_url", str, "memory://",
            "Message bus. amqp://user:pw@host:5672/vhost for RabbitMQ; memory:// runs every daemon in one "
            "process (the all-in-one default).", secret=True),
        Opt("report_interval", float, 10.0, "Seconds between service heartbeats.", minimum=0.1),
        Opt("service_down_time", float, 60.0, "A service whose last heartbeat is older than this is down.",
            minimum=1),
        Opt("rpc_response_timeout", float, 60.0, "Seconds an RPC call waits for its reply.", minimum=0.1),
        Opt("graceful_shutdown_timeout", float, 20.0,
            "Seconds a stopping daemon gives the operations in progress to finish. Then the calls still "
            "waiting for a reply (say, to a conductor that has stopped) are abandoned, and their messages "
            "go back to the queue unacknowledged for the next consumer: nothing is lost, and a stop stays "
            "well inside a service manager's limit (systemd's is 90 s).", minimum=0),
        Opt("rpc_workers", int, 4,
            "Consumer threads per RPC server, each handling one message at a time: on a compute host, the "
            "number of operations (builds, deletes, ...) it runs at once.", minimum=1),
        Opt("background_nice", int, 10,
            "CPU niceness (0-19) the background daemons (conductor, scheduler, compute) give themselves at "
            "start. Their work waits in the message queue; a user's request waits on the API. When a host "
            "is short of CPU, as a small all-in-one is during a burst of boots, the request goes first. "
            "0 gives every daemon the same share.", minimum=0, maximum=19),
        Opt("debug", bool, False, "Log at DEBUG level."),
        Opt("log_file", str, "", "Log to this file instead of standard error."),
        Opt("default_availability_zone", str, "nova", "Availability zone of hosts in no zone."),
        Opt("allow_resize_to_same_host", bool, False,
            "Let a resize land on the server's own host (the scheduler may still choose another). Cold "
            "migrations always move to another host."),
        Opt("shelved_offload_time", float, 0,
            "Seconds a shelved server keeps its place on its host (a quick unshelve) before it is offloaded "
            "and its resources freed; 0: offloaded at once; -1: never.", minimum=-1),
        Opt("reclaim_instance_interval", float, 0,
            "Seconds a deleted server stays SOFT_DELETED, restorable with the restore action, before it is "
            "deleted for good (0: deleting is immediate, as without soft delete).", minimum=0),
    ),
    "database": (
        Opt("connection", str, "",
            "SQLAlchemy URL. Empty: sqlite:///<state_path>/ncloud.db. MariaDB/MySQL: "
            "mysql+pymysql://user:pw@host/ncloud?charset=utf8mb4; PostgreSQL: "
            "postgresql+psycopg://user:pw@host/ncloud.", secret=True),
        Opt("max_pool_size", int, 10, "Connections kept open per process (MariaDB/PostgreSQL).", minimum=1),
        Opt("max_overflow", int, 20, "Connections opened beyond the pool under load.", minimum=0),
        Opt("connection_recycle_time", int, 3600, "Seconds after which a pooled connection is replaced.",
            minimum=1),
        Opt("max_retries", int, 10, "Retries (one a second) of the first connection at start before giving up.",
            minimum=0),
    ),
    "api": (
        Opt("bind_host", str, "0.0.0.0", "Address the API listens on."),
        Opt("bind_port", int, 8774, "Port the API listens on.", minimum=0),
        Opt("threads", int, 8, "Request handling threads per API process.", minimum=1),
        Opt("workers", int, 0,
            "API processes sharing the port; 0: one per CPU this process may run on, as nova-api does. "
            "More than one lets the API use several cores (Python runs one thread at a time per "
            "process); each costs about 60 MB. The all-in-one (ncloud up) always runs one, inside its "
            "single process.", minimum=0),
        Opt("public_endpoint", str, "",
            "Base URL clients use to reach the API (links in responses). Empty: taken from the request."),
        Opt("spool_path", str, "",
            "Directory where the web server keeps a request body larger than 512 KiB until the API reads it "
            "(image uploads stream into the store instead, unless half the API threads already stream one) "
            "and a large response the client is slow to take: a disk with room for the largest image, never "
            "a tmpfs, which would hold them in memory. Empty: <state_path>/spool."),
        Opt("auth_strategy", str, "keystone",
            "How requests are authenticated. keystone: Identity tokens (POST /identity/v3/auth/tokens). "
            "noauth2 is a development mode: the token 'user:project' is trusted as is, and user 'admin' "
            "is an administrator.", choices=("noauth2", "keystone")),
        Opt("max_limit", int, 1000, "Largest page a list request returns.", minimum=1),
        Opt("policy_file", str, "/etc/ncloud/policy.yaml",
            "YAML file of policy rules that override the defaults (oslo.policy's syntax and rule names, "
            "e.g. \"os_compute_api:servers:create\": \"rule:project_member_or_admin\"). Missing: the defaults."),
    ),
    "identity": (
        Opt("key_repository", str, "",
            "Directory of the token keys, the same on every controller (copy it after each rotation). "
            "Empty: <state_path>/token-keys."),
        Opt("max_active_keys", int, 3,
            "Token keys kept: the staged, the primary and the newest secondaries. A token stays valid "
            "through max_active_keys - 2 rotations.", minimum=2),
        Opt("token_expiration", int, 3600, "Seconds a token is valid.", minimum=60),
        Opt("admin_user", str, "admin", "The administrator 'ncloud identity bootstrap' creates (domain Default)."),
        Opt("admin_password", str, "", "Its password (required by bootstrap; changing it here and "
            "bootstrapping again resets it).", secret=True),
        Opt("admin_project", str, "admin", "The project the administrator gets the admin role on."),
        Opt("region_name", str, "RegionOne", "Region of the catalog's endpoints."),
        Opt("public_url", str, "",
            "Base URL of the API for users, as the catalog lists it (compute at <url>/compute/v2.1, image "
            "at <url>/image, identity at <url>/identity). Empty: http://<host>:<[api] bind_port>."),
        Opt("internal_url", str, "", "Base URL for the internal interface. Empty: the public URL."),
        Opt("admin_url", str, "", "Base URL for the admin interface. Empty: the public URL."),
    ),
    "image": (
        Opt("store_path", str, "", "Directory of the image store. Empty: <state_path>/images."),
        Opt("api_endpoint", str, "",
            "Base URL of the Image API that compute hosts use to store snapshots, backups and shelved "
            "servers, e.g. http://controller:8774/image. They authenticate as [identity] admin_user. "
            "Empty: <[identity] internal_url>/image."),
        Opt("max_image_size", int, 1099511627776,
            "Largest image upload in bytes (413 beyond it); 1 TiB by default, as Glance's image_size_cap.",
            minimum=1),
        Opt("image_count_total", int, -1,
            "Images a project may own (Glance's limit of the same name); -1: no limit.", minimum=-1),
        Opt("image_size_total", int, -1,
            "MiB of image data a project may store, over all its images (Glance's limit of the same name); "
            "-1: no limit.", minimum=-1),
    ),
    "console": (
        Opt("novncproxy_base_url", str, "http://127.0.0.1:6080/vnc_lite.html",
            "The noVNC page of the console proxy, as users' browsers reach it (a VNC console's URL is this "
            "with the token)."),
        Opt("spicehtml5proxy_base_url", str, "http://127.0.0.1:6082/spice_auto.html",
            "The SPICE HTML5 page of the console proxy, as users' browsers reach it."),
        Opt("serialproxy_base_url", str, "ws://127.0.0.1:6083/",
            "The serial console proxy's websocket, as users' clients reach it."),
        Opt("token_ttl", int, 600, "Seconds a console URL's single-use token stays valid.", minimum=1),
    ),
    "scheduler": (
        Opt("max_attempts", int, 3, "Hosts a build is tried on before it fails.", minimum=1),
        Opt("host_subset_size", int, 1,
            "Pick at random among this many best-weighed hosts (spreads concurrent claims).", minimum=1),
        Opt("ram_weight_multiplier", float, 1.0,
            "Weight of free RAM: positive spreads servers over hosts, negative packs them."),
        Opt("enabled_filters", list, ["ComputeFilter", "AvailabilityZoneFilter", "ResourceFilter",
                                      "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter", "SameHostFilter",
                                      "DifferentHostFilter"],
            "Host filters, in order (RetryFilter, which skips hosts a build already failed on, always runs).",
            choices=("ComputeFilter", "AvailabilityZoneFilter", "ResourceFilter", "RetryFilter",
                     "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter", "SameHostFilter",
                     "DifferentHostFilter")),
        Opt("soft_affinity_weight_multiplier", float, 2.0,
            "Weight of a soft-affinity group's servers on a host (above the RAM weigher's, so that the "
            "policy wins whenever it can be kept).", minimum=0),
        Opt("soft_anti_affinity_weight_multiplier", float, 2.0,
            "Weight of a soft-anti-affinity group's absence from a host.", minimum=0),
        Opt("claim_retries", int, 10,
            "Attempts of one claim on one host, re-reading the host each time it lost a race with another "
            "claim, before the host is given up for this request.", minimum=1),
    ),
    "conductor": (
        Opt("reconcile_interval", float, 30.0,
            "Seconds between sweeps for servers stuck in a task state past its timeout.", minimum=0.1),
        Opt("build_timeout", float, 600.0, "Seconds a build may take before the server goes to ERROR.",
            minimum=1),
        Opt("delete_timeout", float, 300.0, "Seconds a delete may take before it is finished by force.",
            minimum=1),
        Opt("task_timeouts", list, [],
            "Timeouts of particular task states that differ from the three above, as STATE:SECONDS pairs, e.g. "
            "rebooting_hard:900, powering-off:120.", pattern=r"[a-z_-]+:[0-9]+(\.[0-9]+)?"),
        Opt("action_timeout", float, 300.0,
            "Seconds any other task (stop, start, reboot, pause, ...) may take before it is abandoned.",
            minimum=1),
    ),
    "quota": (
        Opt("instances", int, 10, "Servers per project (-1: no limit). The quota class 'default' and a "
            "project's own quota (os-quota-sets) override these defaults.", minimum=-1),
        Opt("cores", int, 20, "VCPUs of a project's servers (-1: no limit).", minimum=-1),
        Opt("ram", int, 51200, "MiB of RAM of a project's servers (-1: no limit).", minimum=-1),
        Opt("metadata_items", int, 128, "Metadata items per server (-1: no limit).", minimum=-1),
        Opt("key_pairs", int, 100, "Key pairs per user (-1: no limit).", minimum=-1),
        Opt("server_groups", int, 10, "Server groups per project (-1: no limit).", minimum=-1),
        Opt("server_group_members", int, 10, "Servers per server group (-1: no limit).", minimum=-1),
        Opt("injected_files", int, 5, "Files injected per server (-1: no limit; Nova's, shown until 2.57).",
            minimum=-1),
        Opt("injected_file_content_bytes", int, 10240, "Bytes per injected file (-1: no limit).", minimum=-1),
        Opt("injected_file_path_length", int, 255, "Characters of an injected file's path (-1: no limit).",
            minimum=-1),
    ),
    "compute": (
        Opt("compute_driver", str, "fake",
            "Virt driver: libvirt (real KVM/QEMU guests, see [libvirt]) or fake (simulated servers, for "
            "development, tests and scale simulation).", choices=("fake", "libvirt")),
        Opt("instances_path", str, "",
            "Where a libvirt host keeps its guests' folders (disks, console log, config drive) and its image "
            "cache (_base). Empty: <state_path>/instances."),
        Opt("my_ip", str, "127.0.0.1",
            "This host's address on the management network: where the console proxy reaches its guests' "
            "VNC and SPICE consoles and other hosts reach it for migrations."),
        Opt("force_config_drive", bool, False,
            "Give every server a config drive, asked for or not (otherwise only servers created with "
            "config_drive: true get one)."),
        Opt("reserved_host_cpus", int, 0, "VCPUs kept for the host.", minimum=0),
        Opt("reserved_host_memory_mb", int, 512, "RAM (MiB) kept for the host.", minimum=0),
        Opt("reserved_host_disk_mb", int, 0, "Disk (MiB) kept for the host.", minimum=0),
        Opt("cpu_allocation_ratio", float, 4.0, "Virtual CPUs per physical CPU.", minimum=0.0001),
        Opt("ram_allocation_ratio", float, 1.0, "Overcommit of RAM.", minimum=0.0001),
        Opt("disk_allocation_ratio", float, 1.0, "Overcommit of disk.", minimum=0.0001),
        Opt("resource_report_interval", float, 60.0, "Seconds between inventory reports.", minimum=0.1),
        Opt("sync_power_state_interval", float, 600.0,
            "Seconds between checks that every guest's power state matches the database, and that no guest "
            "runs here that the database does not place here (0: never; the libvirt driver's lifecycle events "
            "report a guest's own changes at once anyway).", minimum=0),
        Opt("running_deleted_instance_action", str, "reap",
            "What a compute does at start with guests it runs that the database does not place on it "
            "(deleted while the host was down): reap (destroy them) or log.", choices=("reap", "log")),
    ),
    "libvirt": (
        Opt("uri", str, "qemu:///system",
            "Hypervisor connection. qemu:///system for a host's libvirtd; qemu:///embed?root=DIR runs QEMU "
            "inside the compute process (no daemon: the all-in-one default when libvirtd is absent; guests "
            "stop with the process); test:///default for unit tests."),
        Opt("virt_type", str, "",
            "kvm or qemu (software emulation, TCG). Empty: kvm when /dev/kvm is usable, else qemu.",
            choices=("", "kvm", "qemu")),
        Opt("cpu_mode", str, "",
            "Guest CPU: host-passthrough, host-model, custom (cpu_model) or none. Empty: host-model under "
            "kvm, the emulator's `max` CPU under qemu.", choices=("", "host-passthrough", "host-model", "custom",
                                                                 "none")),
        Opt("cpu_model", str, "", "The CPU model when cpu_mode is custom (e.g. Skylake-Server)."),
        Opt("shutdown_timeout", float, 60.0,
            "Seconds a stop (or soft reboot) waits for the guest to power off after the ACPI power button, "
            "before it pulls the plug.", minimum=0),
        Opt("force_raw_images", bool, True,
            "Convert cached images to raw once (faster guests, more disk) rather than keep them as uploaded."),
        Opt("image_cache_max_age", float, 86400.0,
            "Seconds an image no guest on this host uses stays in the image cache.", minimum=0),
        Opt("image_cache_max_gb", float, 0.0,
            "Upper bound of the image cache: beyond it unused images go, least recently used first "
            "(0: no bound).", minimum=0),
        Opt("image_cache_interval", float, 2400.0, "Seconds between image cache cleanups (0: never).",
            minimum=0),
        Opt("live_migration_uri", str, "qemu+tcp://%s/system",
            "How a host's libvirtd reaches another's for a live migration; %s is the destination's address "
            "([compute] my_ip of that host). qemu+ssh://root@%s/system runs it over SSH instead.",
            pattern=r".*%s.*"),
        Opt("live_migration_bandwidth", int, 0, "MiB/s a live migration may use (0: no limit).", minimum=0),
        Opt("vnc_listen", str, "127.0.0.1",
            "Address guests' VNC and SPICE consoles listen on; the console proxy must reach it."),
        Opt("console_log_bytes", int, 102400,
            "How much of the end of a guest's serial log the console output shows at most.", minimum=1024),
    ),
    "network": (
        Opt("enabled", bool, True,
            "Give servers a fixed IP on this host's flat network (libvirt driver). Off: servers get no NIC."),
        Opt("label", str, "private", "The network's name, as `addresses` in server bodies shows it."),
        Opt("fixed_range", str, "198.18.0.0/16",
            "The flat network's IPv4 subnet. Every server gets an address from it (allocated in the database, "
            "unique across hosts). The first address is the gateway on every host's bridge. The default, "
            "198.18.0.0/16, is reserved for network testing (RFC 2544) and clashes with nothing routed: set your "
            "own. A range that overlaps one of this host's routes is refused at start.",
            pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"),
        Opt("bridge", str, "ncbr0", "The Linux bridge the guests' taps join on each host."),
        Opt("dhcp_dir", str, "/run/ncloud/networks",
            "Where dnsmasq's leases file, pid file and log live. dnsmasq drops to user nobody, which must be able "
            "to read it; the leases are rewritten from the guests' folders at every start of the compute service."),
        Opt("dns_servers", list, [], "DNS servers DHCP hands to guests (none by default)."),
        Opt("nat", bool, True, "Masquerade guests' outbound traffic through this host (iptables)."),
        Opt("mtu", int, 1500, "MTU of the bridge and the guests' NICs.", minimum=576),
    ),
    "fake": (
        Opt("hosts", int, 1,
            "Simulated compute hosts run by one ncloud-compute process (named <host>, <host>-2, ...).",
            minimum=1),
        Opt("vcpus", int, 16, "VCPUs of each simulated host.", minimum=1),
        Opt("memory_mb", int, 65536, "RAM (MiB) of each simulated host.", minimum=1),
        Opt("local_gb", int, 1000, "Disk (GiB) of each simulated host.", minimum=1),
        Opt("spawn_delay", float, 0.0, "Seconds a simulated spawn takes.", minimum=0),
        Opt("fail_spawn_hosts", list, [], "Hosts whose spawns fail (fault injection for tests)."),
        Opt("fail_spawn_names", list, [], "Servers of these names fail to spawn, wherever they land (fault "
            "injection for tests: one cloud serves both the failures and the rest)."),
        Opt("migrate_delay", float, 0.0,
            "Seconds a simulated disk copy or live migration takes (resize, migrate, live migration).", minimum=0),
        Opt("fail_migrate_hosts", list, [],
            "Hosts that fail every move arriving on them (fault injection for tests)."),
        Opt("fail_snapshot_hosts", list, [],
            "Hosts whose snapshots (createImage, createBackup, shelve) fail (fault injection for tests)."),
    ),
}


def find(section: str, name: str) -> Opt | None:
    for opt in SECTIONS.get(section, ()):
        if opt.name == name:
            return opt
    return None
