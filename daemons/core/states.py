"""Instance states, named and combined exactly as Nova does, so API clients see familiar statuses.

`vm_state` is where a server stably is, `task_state` what is being done to it now (None when
idle), `power_state` what the hypervisor last reported. The API's `status` is derived from the
first two (`status_of`), never stored.
"""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task_state
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
NETWORKING = "networking"
SPAWNING = "spawning"
DELETING = "deleting"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
UPDATING_PASSWORD = "updating_password"

BUILD_TASKS = frozenset({SCHEDULING, BLOCK_DEVICE_MAPPING, NETWORKING, SPAWNING})

# power_state (integers, as in Nova's API)
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

_STATUS = {
    ACTIVE: "ACTIVE",
    BUILDING: "BUILD",
    STOPPED: "SHUTOFF",
    RESIZED: "VERIFY_RESIZE",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    RESCUED: "RESCUE",
    ERROR: "ERROR",
    DELETED: "DELETED",
    SOFT_DELETED: "SOFT_DELETED",
    SHELVED: "SHELVED",
    SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}
_TASK_STATUS = {
    REBOOTING: "REBOOT",
    REBOOTING_HARD: "HARD_REBOOT",
    DELETING: None,  # Nova keeps showing the vm_state's status while deleting
}


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API `status` of a server, as Nova's `status_from_state` computes it."""
    if task_state in _TASK_STATUS and vm_state in (ACTIVE, STOPPED, PAUSED, SUSPENDED):
        task_status = _TASK_STATUS[task_state]
        if task_status:
            return task_status
    return _STATUS.get(vm_state, "UNKNOWN")
