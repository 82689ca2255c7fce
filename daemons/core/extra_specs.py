"""Flavor extra specs ncloud understands, and their validation (Nova validates them from 2.86).

Keys are `namespace:name`. In a namespace listed here, an unknown name or a bad value is an
error that says what is allowed; keys of other namespaces (a custom scheduler filter's, an
operator's notes) pass untouched, as Nova lets them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Check = Callable[[str], str | None]  # the value -> None, or what is wrong with it


def _one_of(*values: str) -> Check:
    return lambda value: None if value in values else f"must be one of {', '.join(values)}"


def _integer(minimum: int = 0) -> Check:
    def check(value: str) -> str | None:
        if re.fullmatch(r"-?[0-9]+", value) and int(value) >= minimum:
            return None
        return f"must be an integer of at least {minimum}"
    return check


def _boolean(value: str) -> str | None:
    return None if value.lower() in ("true", "false", "1", "0", "yes", "no") else "must be true or false"


def _page_size(value: str) -> str | None:
    if value in ("small", "large", "any") or re.fullmatch(r"[0-9]+([KMG]B?)?", value):
        return None
    return "must be small, large, any or a size such as 2048 or 1GB"


# namespace -> {name -> check}; a name of "*" checks every name of the namespace.
KNOWN: dict[str, dict[str, Check]] = {
    "hw": {
        "cpu_policy": _one_of("dedicated", "shared", "mixed"),
        "cpu_thread_policy": _one_of("prefer", "isolate", "require"),
        "cpu_sockets": _integer(1), "cpu_cores": _integer(1), "cpu_threads": _integer(1),
        "cpu_max_sockets": _integer(1), "cpu_max_cores": _integer(1), "cpu_max_threads": _integer(1),
        "numa_nodes": _integer(1), "mem_page_size": _page_size, "boot_menu": _boolean,
        "watchdog_action": _one_of("none", "pause", "poweroff", "reset", "disabled"),
        "vif_multiqueue_enabled": _boolean, "pmu": _boolean, "hide_hypervisor_id": _boolean,
        "cpu_realtime": _boolean, "mem_encryption": _boolean,
        "serial_port_count": _integer(0), "tpm_version": _one_of("1.2", "2.0"),
        "tpm_model": _one_of("tpm-tis", "tpm-crb"), "machine_type": lambda value: None,
        "emulator_threads_policy": _one_of("share", "isolate"),
    },
    "hw_rng": {"allowed": _boolean, "rate_bytes": _integer(0), "rate_period": _integer(0)},
    "quota": {name: _integer(0) for name in (
        "cpu_shares", "cpu_period", "cpu_quota", "disk_read_bytes_sec", "disk_read_iops_sec",
        "disk_write_bytes_sec", "disk_write_iops_sec", "disk_total_bytes_sec", "disk_total_iops_sec",
        "vif_inbound_average", "vif_outbound_average", "vif_inbound_peak", "vif_outbound_peak",
        "vif_inbound_burst", "vif_outbound_burst")},
    "trait": {"*": _one_of("required", "forbidden")},
    "resources": {"*": _integer(0)},
    "os": {"secure_boot": _one_of("required", "disabled", "optional")},
}


def problems(specs: dict[str, str]) -> list[str]:
    """What is wrong with `specs`, one sentence per key (empty when all is well)."""
    found = []
    for key, value in specs.items():
        namespace, _, name = key.partition(":")
        checks = KNOWN.get(namespace)
        if checks is None or not name:
            continue
        check = checks.get(name) or checks.get("*")
        if check is None:
            found.append(f"extra spec '{key}' is not a valid '{namespace}' key; known keys: "
                         f"{', '.join(sorted(f'{namespace}:{n}' for n in checks))}")
            continue
        error = check(str(value))
        if error:
            found.append(f"extra spec '{key}' {error} (got '{value}')")
    return found
