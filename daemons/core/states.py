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

VM_STATES = (ACTIVE, BUILDING, STOPPED, RESIZED, PAUSED, SUSPENDED, RESCUED, ERROR, DELETED, SOFT_DELETED, SHELVED,
             SHELVED_OFFLOADED)

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
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
MIGRATING = "migrating"
REBUILDING = "rebuilding"
REBUILD_SPAWNING = "rebuild_spawning"
RESCUING = "rescuing"
UNRESCUING = "unrescuing"
RESTORING = "restoring"
SOFT_DELETING = "soft-deleting"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_BACKUP = "image_backup"
IMAGE_UPLOADING = "image_uploading"
SHELVING = "shelving"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"

BUILD_TASKS = frozenset({SCHEDULING, BLOCK_DEVICE_MAPPING, NETWORKING, SPAWNING})

# power_state (integers, as in Nova's API)
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

RESIZE_TASKS = frozenset({RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH})
REBUILD_TASKS = frozenset({REBUILDING, REBUILD_SPAWNING})
# A server between two hosts: its migration record holds allocations too (conductor/moves.py).
MOVE_TASKS = RESIZE_TASKS | {RESIZE_REVERTING, RESIZE_CONFIRMING, MIGRATING} | REBUILD_TASKS

# Nova's _STATE_MAP: {vm_state: (status when idle, {task_state: status shown instead})}.
_STATUS: dict[str, tuple[str, dict[str, str]]] = {
    ACTIVE: ("ACTIVE", {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT", UPDATING_PASSWORD: "PASSWORD",
                        MIGRATING: "MIGRATING", **dict.fromkeys(REBUILD_TASKS, "REBUILD"),
                        **dict.fromkeys(RESIZE_TASKS, "RESIZE")}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {**dict.fromkeys(RESIZE_TASKS, "RESIZE"), **dict.fromkeys(REBUILD_TASKS, "REBUILD")}),
    RESIZED: ("VERIFY_RESIZE", {RESIZE_REVERTING: "REVERT_RESIZE"}),
    PAUSED: ("PAUSED", {MIGRATING: "MIGRATING"}),
    SUSPENDED: ("SUSPENDED", {}),
    RESCUED: ("RESCUE", {}),
    ERROR: ("ERROR", dict.fromkeys(REBUILD_TASKS, "REBUILD")),
    DELETED: ("DELETED", {}),
    SOFT_DELETED: ("SOFT_DELETED", {}),
    SHELVED: ("SHELVED", {}),
    SHELVED_OFFLOADED: ("SHELVED_OFFLOADED", {}),
}
# Every task state that shows as a status of its own on some vm_state (the list filter needs them).
STATUS_TASKS = tuple(sorted({task for _, tasks in _STATUS.values() for task in tasks}))


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API `status` of a server, as Nova's `status_from_state` computes it."""
    default, tasks = _STATUS.get(vm_state, ("UNKNOWN", {}))
    return tasks.get(task_state, default)
