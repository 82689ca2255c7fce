"""The JSON schemas of the Compute API v2.1 requests, after Nova's (`nova/api/openstack/compute/schemas`).

Kept as data, one place, so a reviewer can diff them against Nova's: what Nova rejects at 2.1 we
reject with the same message, and what it accepts we accept (even when ncloud ignores it for now,
like `networks`, `accessIPv4` or `security_groups`).
"""

from __future__ import annotations

import copy

from ncloud.daemons.api.validation import Schema, Versioned

MAX_INT = 0x7FFFFFFF

boolean = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"],
}
positive_integer = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1}
# Until quotas exist, a bound on one request: a typo of a few zeros must not take the API down.
servers_per_request = {**positive_integer, "maximum": 1000}
non_negative_integer = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}
name = {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"}
description = {"type": ["string", "null"], "minLength": 0, "maxLength": 255, "format": "printable"}
uuid = {"type": "string", "format": "uuid"}
image_id_or_empty_string = {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]}
flavor_ref = {"type": ["string", "integer"], "minLength": 1}
ip_address = {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
# Nova's key pattern, quirk included: "9-_" is a range that also admits ;<=>?@[\]^ and capitals.
metadata = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
disk_config = {"type": "string", "enum": ["AUTO", "MANUAL"]}
# Nova's hints; others pass (a custom filter may read them).
scheduler_hints = {
    "type": "object",
    "properties": {
        "group": {"type": "string", "format": "uuid"},
        "different_host": {"oneOf": [{"type": "string", "format": "uuid"},
                                     {"type": "array", "items": {"type": "string", "format": "uuid"}}]},
        "same_host": {"type": ["string", "array"], "items": {"type": "string", "format": "uuid"}},
        "query": {"type": ["string", "object"]},
        "target_cell": {"type": "string", "minLength": 1, "maxLength": 255},
        "different_cell": {"type": ["string", "array"], "items": {"type": "string"}},
        "build_near_host_ip": {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "cidr": {"type": "string", "pattern": "^/[0-9a-f.:]+$"},
    },
    "additionalProperties": True,
}

network = {
    "type": "object",
    "properties": {
        "fixed_ip": ip_address,
        "port": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
        "uuid": {"type": "string"},
    },
    "additionalProperties": False,
}

tag = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
MAX_TAGS = 50
hostname = {"type": "string", "minLength": 2, "maxLength": 63, "pattern": "^[a-zA-Z0-9-._]*$"}
fqdn = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"}
trusted_certs = {"type": ["array", "null"], "minItems": 1, "maxItems": 50, "uniqueItems": True,
                 "items": {"type": "string", "minLength": 1}}

# Block device mappings, as Nova validates them: only the image's local root disk is then accepted
# (api/boot.py), but a client that sends it (the `openstack` client always does) is not refused.
_legacy_mapping = {
    "type": "object",
    "properties": {
        "virtual_name": {"type": "string", "maxLength": 255},
        "volume_id": uuid, "snapshot_id": uuid,
        "volume_size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": MAX_INT},
        "device_name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._/-]*$"},
        "delete_on_termination": boolean,
        "no_device": {},
        "connection_info": {"type": "string", "maxLength": 16777215},
    },
    "additionalProperties": False,
}
_mapping_v2 = copy.deepcopy(_legacy_mapping)
_mapping_v2["properties"].update({
    "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
    "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
    "image_id": uuid,
    "destination_type": {"type": "string", "enum": ["local", "volume"]},
    "guest_format": {"type": "string", "maxLength": 255},
    "device_type": {"type": "string", "maxLength": 255},
    "disk_bus": {"type": "string", "maxLength": 255},
    "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
})
_mapping_v2_tagged = copy.deepcopy(_mapping_v2)
_mapping_v2_tagged["properties"]["tag"] = tag
_mapping_v2_typed = copy.deepcopy(_mapping_v2_tagged)
_mapping_v2_typed["properties"]["volume_type"] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}

_SERVER_V21 = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": name,
                "imageRef": image_id_or_empty_string,
                "flavorRef": flavor_ref,
                "adminPass": {"type": "string"},
                "metadata": metadata,
                # Accepted and not acted on until ncloud has networking (the libvirt issue).
                "networks": {"type": "array", "items": network},
                "OS-DCF:diskConfig": disk_config,
                "accessIPv4": {"type": "string", "format": "ipv4"},
                "accessIPv6": {"type": "string", "format": "ipv6"},
                "availability_zone": name,
                "config_drive": boolean,
                "key_name": name,
                "min_count": servers_per_request,
                "max_count": servers_per_request,
                "return_reservation_id": boolean,
                "security_groups": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": name}, "additionalProperties": False},
                },
                "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
                "block_device_mapping": {"type": "array", "items": _legacy_mapping},
                "block_device_mapping_v2": {"type": "array", "items": _mapping_v2},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": scheduler_hints,
        "OS-SCH-HNT:scheduler_hints": scheduler_hints,
    },
    "required": ["server"],
    "additionalProperties": False,
}


def _server_version(base: dict, add: dict | None = None, required: tuple[str, ...] = ()) -> dict:
    """The create schema of one microversion: the previous one with `add` properties and `required`."""
    derived = copy.deepcopy(base)
    server = derived["properties"]["server"]
    server["properties"].update(add or {})
    server["required"] = server["required"] + list(required)
    return derived


_networks_237 = {"oneOf": [{"type": "array", "items": {**network, "properties": {
    **network["properties"], "uuid": {"type": "string", "format": "uuid"}}}},
                           {"type": "string", "enum": ["none", "auto"]}]}
_networks_242 = {"oneOf": [{"type": "array", "items": {**network, "properties": {
    **network["properties"], "uuid": {"type": "string", "format": "uuid"}, "tag": tag}}},
                           {"type": "string", "enum": ["none", "auto"]}]}
_SERVER_V219 = _server_version(_SERVER_V21, {"description": description})
_SERVER_V232 = _server_version(_SERVER_V219, {"networks": {"type": "array", "items": {
    **network, "properties": {**network["properties"], "tag": tag}}},
    "block_device_mapping_v2": {"type": "array", "items": _mapping_v2_tagged}})
# 2.33-2.36: the mapping tag of 2.32 was lost (a Nova slip; 2.42 brought it back), the network tag kept.
_SERVER_V233 = _server_version(_SERVER_V232, {"block_device_mapping_v2": {"type": "array", "items": _mapping_v2}})
_SERVER_V237 = _server_version(_SERVER_V233, {"networks": _networks_237}, required=("networks",))
_SERVER_V242 = _server_version(_SERVER_V237, {"networks": _networks_242, "block_device_mapping_v2": {
    "type": "array", "items": _mapping_v2_tagged}})
_SERVER_V252 = _server_version(_SERVER_V242, {"tags": {"type": "array", "items": tag, "maxItems": MAX_TAGS}})
_SERVER_V263 = _server_version(_SERVER_V252, {"trusted_image_certificates": trusted_certs})
_SERVER_V267 = _server_version(_SERVER_V263, {"block_device_mapping_v2": {"type": "array", "items": _mapping_v2_typed}})
_SERVER_V274 = _server_version(_SERVER_V267, {"host": fqdn, "hypervisor_hostname": fqdn})
_SERVER_V290 = _server_version(_SERVER_V274, {"hostname": hostname})
_SERVER_V294 = _server_version(_SERVER_V290, {"hostname": fqdn})

# Not accepted at any version, as ncloud has no file injection: `personality` (2.1-2.56) is refused
# as an unknown key (docs/compute-api.md).
SERVER_CREATE = Versioned({
    "2.1": Schema(_SERVER_V21), "2.19": Schema(_SERVER_V219), "2.32": Schema(_SERVER_V232),
    "2.33": Schema(_SERVER_V233), "2.37": Schema(_SERVER_V237), "2.42": Schema(_SERVER_V242),
    "2.52": Schema(_SERVER_V252), "2.63": Schema(_SERVER_V263), "2.67": Schema(_SERVER_V267),
    "2.74": Schema(_SERVER_V274), "2.90": Schema(_SERVER_V290),
    "2.94": Schema(_SERVER_V294),
})

# Printable text (no control characters), as Nova's flavor descriptions.
flavor_description = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535, "format": "printable"}
flavor_positive = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": MAX_INT}
flavor_non_negative = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0, "maximum": MAX_INT}

_FLAVOR_CREATE = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": {
                "name": name,
                # No leading or trailing space; null or absent asks for a generated UUID.
                "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
                       "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
                "ram": flavor_positive,
                "vcpus": flavor_positive,
                "disk": flavor_non_negative,
                "OS-FLV-EXT-DATA:ephemeral": flavor_non_negative,
                "swap": flavor_non_negative,
                "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                                "minimum": 0, "exclusiveMinimum": True, "maximum": 3.40282e38},
                "os-flavor-access:is_public": boolean,
            },
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}
_FLAVOR_CREATE_V255 = copy.deepcopy(_FLAVOR_CREATE)
_FLAVOR_CREATE_V255["properties"]["flavor"]["properties"]["description"] = flavor_description
FLAVOR_CREATE = Versioned({"2.1": Schema(_FLAVOR_CREATE), "2.55": Schema(_FLAVOR_CREATE_V255)})
FLAVOR_UPDATE = Schema({
    "type": "object",
    "properties": {"flavor": {"type": "object", "properties": {"description": flavor_description},
                              "required": ["description"], "additionalProperties": False}},
    "required": ["flavor"],
    "additionalProperties": False,
})

# Query strings arrive as {name: [values]}. Unknown parameters are ignored, as Nova does at 2.1.
pagination = {
    "limit": {"type": "array", "items": non_negative_integer},
    "marker": {"type": "array", "items": {"type": "string"}},
}

# GET /servers: the parameters Nova knows, each a list of strings (a parameter may repeat).
SERVER_SORT_KEYS = (
    "access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone", "config_drive", "created_at",
    "display_description", "display_name", "host", "hostname", "image_ref", "instance_type_id", "kernel_id",
    "key_name", "launch_index", "launched_at", "locked_by", "node", "power_state", "progress", "project_id",
    "ramdisk_id", "root_device_name", "task_state", "terminated_at", "updated_at", "user_id", "uuid", "vm_state")
# Keys Nova once allowed, then ignored, and refuses from 2.75 ("locked" became a real key at 2.73).
SERVER_IGNORED_SORT_KEYS = (
    "architecture", "cell_name", "cleaned", "default_ephemeral_device", "default_swap_device", "deleted",
    "deleted_at", "disable_terminate", "ephemeral_gb", "ephemeral_key_uuid", "id", "key_data", "launched_on",
    "locked", "memory_mb", "os_type", "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus",
    "vm_mode")
_strings = {"type": "array", "items": {"type": "string"}}
_times = {"type": "array", "items": {"type": "string", "format": "date-time"}}
_SERVER_QUERY_NAMES = (
    "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id", "ramdisk_id",
    "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node", "flavor", "reservation_id",
    "launched_at", "terminated_at", "availability_zone", "name", "display_name", "description",
    "display_description", "locked_by", "uuid", "root_device_name", "config_drive", "access_ip_v4", "access_ip_v6",
    "auto_disk_config", "progress", "sort_dir", "all_tenants", "soft_deleted", "deleted", "status", "ip", "ip6",
    "created_at", "block_device_mapping", "services", "metadata", "system_metadata", "info_cache",
    "security_groups", "pci_devices", "marker")


def _server_query(version: str) -> Schema:
    minor = int(version.split(".")[1])
    properties = {name: _strings for name in _SERVER_QUERY_NAMES}
    sort_keys = list(SERVER_SORT_KEYS)
    sort_keys += [k for k in SERVER_IGNORED_SORT_KEYS if minor < 75 and not (minor >= 73 and k == "locked")]
    properties.update({"limit": {"type": "array", "items": non_negative_integer}, "changes-since": _times,
                       "sort_key": {"type": "array", "items": {"type": "string", "enum": sort_keys}}})
    if minor >= 26:
        properties.update({name: _strings for name in ("tags", "tags-any", "not-tags", "not-tags-any")})
    if minor >= 66:
        properties["changes-before"] = _times
    if minor >= 73:
        properties["locked"] = _strings
        properties["sort_key"]["items"]["enum"].append("locked")
    return Schema({"type": "object", "properties": properties, "patternProperties": {"^_": _strings},
                   "additionalProperties": minor < 75}, query=True)


SERVER_LIST_QUERY = Versioned({version: _server_query(version) for version in ("2.1", "2.26", "2.66", "2.73", "2.75")})

FLAVOR_LIST_QUERY = Schema({
    "type": "object",
    "properties": {**pagination,
                   "minRam": {"type": "array", "items": non_negative_integer},
                   "minDisk": {"type": "array", "items": non_negative_integer},
                   "is_public": {"type": "array", "items": {"type": "string"}},
                   "sort_key": {"type": "array", "items": {"type": "string"}},
                   "sort_dir": {"type": "array", "items": {"type": "string", "enum": ["asc", "desc"]}}},
    "additionalProperties": True,
}, query=True)

SERVICE_LIST_QUERY = Schema({
    "type": "object",
    "properties": {"host": {"type": "array", "items": {"type": "string"}},
                   "binary": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": True,
}, query=True)

_one_boolean = {"type": "array", "items": {**boolean, "type": "string"}}
HYPERVISOR_LIST_QUERY = Versioned({
    "2.1": Schema({"type": "object", "additionalProperties": True}, query=True),
    "2.33": Schema({"type": "object", "properties": pagination, "additionalProperties": True}, query=True),
    "2.53": Schema({"type": "object", "properties": {
        **pagination, "with_servers": _one_boolean, "hypervisor_hostname_pattern": {
            "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}}},
        "additionalProperties": False}, query=True),
})
HYPERVISOR_SHOW_QUERY = Versioned({
    "2.1": Schema({"type": "object", "additionalProperties": True}, query=True),
    "2.53": Schema({"type": "object", "properties": {"with_servers": _one_boolean},
                    "additionalProperties": False}, query=True),
})


# -- os-keypairs ---------------------------------------------------------------------------------
# Names: letters, digits, space, "_" and "-"; from 2.92 also "@" and ".".
_keypair_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9 _-]+$"}
_keypair_name_292 = {**_keypair_name, "pattern": "^[a-zA-Z0-9 _@.-]+$"}
_keypair_type = {"type": "string", "enum": ["ssh", "x509"]}


def _keypair_create(properties: dict, required: list[str]) -> Schema:
    return Schema({
        "type": "object",
        "properties": {"keypair": {"type": "object", "properties": properties, "required": required,
                                   "additionalProperties": False}},
        "required": ["keypair"],
        "additionalProperties": False,
    })


_keypair_v21 = {"name": _keypair_name, "public_key": {"type": "string"}}
_keypair_v22 = {**_keypair_v21, "type": _keypair_type}
_keypair_v210 = {**_keypair_v22, "user_id": {"type": "string"}}
KEYPAIR_CREATE = Versioned({
    "2.1": _keypair_create(_keypair_v21, ["name"]),
    "2.2": _keypair_create(_keypair_v22, ["name"]),
    "2.10": _keypair_create(_keypair_v210, ["name"]),
    # Generation is gone: the client brings its public key.
    "2.92": _keypair_create({**_keypair_v210, "name": _keypair_name_292}, ["name", "public_key"]),
})


def _query(properties: dict, strict: bool) -> Schema:
    return Schema({"type": "object", "properties": properties, "additionalProperties": not strict}, query=True)


_one_string = {"type": "array", "items": {"type": "string"}}
_one_limit = {"type": "array", "items": {**non_negative_integer, "type": "string"}}
KEYPAIR_LIST_QUERY = Versioned({
    "2.1": _query({}, strict=False),
    "2.10": _query({"user_id": _one_string}, strict=False),
    "2.35": _query({"user_id": _one_string, "limit": _one_limit, "marker": _one_string}, strict=False),
    "2.75": _query({"user_id": _one_string, "limit": _one_limit, "marker": _one_string}, strict=True),
})
KEYPAIR_ITEM_QUERY = Versioned({
    "2.1": _query({}, strict=False),
    "2.10": _query({"user_id": _one_string}, strict=False),
    "2.75": _query({"user_id": _one_string}, strict=True),
})


# -- os-quota-sets, os-quota-class-sets, limits ----------------------------------------------------
quota_limit = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": MAX_INT}
_QUOTA_NAMES = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups", "server_group_members")
_NETWORK_QUOTA_NAMES = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules", "networks")
_INJECTED_QUOTA_NAMES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")


def _quota_update(key: str, names: tuple[str, ...], force: bool) -> Schema:
    properties: dict = {name: quota_limit for name in names}
    if force:
        properties["force"] = boolean
    return Schema({"type": "object", "properties": {key: {
        "type": "object", "properties": properties, "additionalProperties": False}},
        "required": [key], "additionalProperties": False})


QUOTA_SET_UPDATE = Versioned({
    "2.1": _quota_update("quota_set", _QUOTA_NAMES + _NETWORK_QUOTA_NAMES + _INJECTED_QUOTA_NAMES, force=True),
    "2.36": _quota_update("quota_set", _QUOTA_NAMES + _INJECTED_QUOTA_NAMES, force=True),
    "2.57": _quota_update("quota_set", _QUOTA_NAMES, force=True),
})
QUOTA_CLASS_SET_UPDATE = Versioned({
    "2.1": _quota_update("quota_class_set", _QUOTA_NAMES + _NETWORK_QUOTA_NAMES + _INJECTED_QUOTA_NAMES,
                         force=False),
    "2.50": _quota_update("quota_class_set", _QUOTA_NAMES + _INJECTED_QUOTA_NAMES, force=False),
    "2.57": _quota_update("quota_class_set", _QUOTA_NAMES, force=False),
})
QUOTA_QUERY = Schema({"type": "object", "properties": {"user_id": _one_string}, "additionalProperties": True},
                     query=True)
LIMITS_QUERY = Versioned({
    "2.1": Schema({"type": "object", "properties": {"tenant_id": _one_string}, "additionalProperties": True},
                  query=True),
    "2.75": Schema({"type": "object", "properties": {"tenant_id": _one_string}, "additionalProperties": False},
                   query=True),
})


# -- POST /servers/{id}/action --------------------------------------------------------------------
def _action(name: str, value: dict) -> Schema:
    return Schema({"type": "object", "properties": {name: value}, "required": [name], "additionalProperties": False})


_no_body = {"type": "null"}
SERVER_ACTIONS = {
    **{name: Versioned({"2.1": _action(name, _no_body)})
       for name in ("os-stop", "os-start", "pause", "unpause", "suspend", "resume", "unlock")},
    "reboot": Versioned({"2.1": _action("reboot", {
        "type": "object", "properties": {"type": {"type": "string", "enum": [
            "HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}}, "required": ["type"], "additionalProperties": False})}),
    "lock": Versioned({
        "2.1": _action("lock", _no_body),
        "2.73": _action("lock", {"oneOf": [_no_body, {
            "type": "object", "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
            "additionalProperties": False}]}),
    }),
    "changePassword": Versioned({"2.1": _action("changePassword", {
        "type": "object", "properties": {"adminPass": {"type": "string"}}, "required": ["adminPass"],
        "additionalProperties": False})}),
    "trigger_crash_dump": Versioned({"2.1": _action("trigger_crash_dump", _no_body)}),
    "os-resetState": Versioned({"2.1": _action("os-resetState", {
        "type": "object", "properties": {"state": {"type": "string", "enum": ["active", "error"]}},
        "required": ["state"], "additionalProperties": False})}),
    "os-getConsoleOutput": Versioned({"2.1": _action("os-getConsoleOutput", {
        "type": "object", "properties": {"length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$",
                                                    "minimum": -1}},
        "additionalProperties": False})}),
}


_admin_pass = {"type": "string"}
_host_or_null = {**fqdn, "type": ["string", "null"]}


def _object(properties: dict, required: tuple[str, ...] = (), nullable: bool = False) -> dict:
    schema = {"type": ["object", "null"] if nullable else "object", "properties": properties,
              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _rebuild(extra: dict) -> Schema:
    return _action("rebuild", _object({
        "name": name, "imageRef": {"type": "string", "format": "uuid"}, "adminPass": _admin_pass,
        "metadata": metadata, "preserve_ephemeral": boolean, "OS-DCF:diskConfig": disk_config,
        "accessIPv4": {"type": "string", "format": "ipv4"}, "accessIPv6": {"type": "string", "format": "ipv6"},
        **extra}, required=("imageRef",)))


_REBUILD_219 = {"description": description}
_REBUILD_254 = {**_REBUILD_219, "key_name": {**name, "type": ["string", "null"]}}
_REBUILD_257 = {**_REBUILD_254, "user_data": {"type": ["string", "null"], "format": "base64", "maxLength": 65535}}
_REBUILD_263 = {**_REBUILD_257, "trusted_image_certificates": trusted_certs}
_live = {"block_migration": boolean, "host": _host_or_null}
_live_225 = {"block_migration": {**boolean, "enum": [*boolean["enum"], "auto"]}, "host": _host_or_null}
_evacuate = {"host": fqdn, "adminPass": _admin_pass}

SERVER_ACTIONS.update({
    **{name: Versioned({"2.1": _action(name, _no_body)})
       for name in ("confirmResize", "revertResize", "unrescue", "restore", "forceDelete")},
    "resize": Versioned({"2.1": _action("resize", _object({"flavorRef": flavor_ref, "OS-DCF:diskConfig": disk_config},
                                                          required=("flavorRef",)))}),
    "migrate": Versioned({
        "2.1": _action("migrate", _no_body),
        "2.56": _action("migrate", _object({"host": _host_or_null}, nullable=True)),
    }),
    "os-migrateLive": Versioned({
        "2.1": _action("os-migrateLive", _object({**_live, "disk_over_commit": boolean},
                                                 required=("block_migration", "disk_over_commit", "host"))),
        "2.25": _action("os-migrateLive", _object(_live_225, required=("block_migration", "host"))),
        "2.30": _action("os-migrateLive", _object({**_live_225, "force": boolean},
                                                  required=("block_migration", "host"))),
        "2.68": _action("os-migrateLive", _object(_live_225, required=("block_migration", "host"))),
    }),
    "evacuate": Versioned({
        "2.1": _action("evacuate", _object({**_evacuate, "onSharedStorage": boolean}, required=("onSharedStorage",))),
        "2.14": _action("evacuate", _object(_evacuate)),
        "2.29": _action("evacuate", _object({**_evacuate, "force": boolean})),
        "2.68": _action("evacuate", _object(_evacuate)),
    }),
    "rebuild": Versioned({"2.1": _rebuild({}), "2.19": _rebuild(_REBUILD_219), "2.54": _rebuild(_REBUILD_254),
                         "2.57": _rebuild(_REBUILD_257), "2.63": _rebuild(_REBUILD_263),
                         "2.90": _rebuild({**_REBUILD_263, "hostname": hostname}),
                         "2.94": _rebuild({**_REBUILD_263, "hostname": fqdn})}),
    **{name: Versioned({"2.1": _action(name, _no_body)}) for name in ("shelve", "shelveOffload")},
    "createImage": Versioned({"2.1": _action("createImage", _object({"name": name, "metadata": metadata},
                                                                    required=("name",)))}),
    "createBackup": Versioned({"2.1": _action("createBackup", _object({
        "name": name, "backup_type": {"type": "string"}, "rotation": non_negative_integer, "metadata": metadata},
        required=("name", "backup_type", "rotation")))}),
    "unshelve": Versioned({
        "2.1": _action("unshelve", _no_body),
        "2.77": _action("unshelve", _object({"availability_zone": name}, required=("availability_zone",),
                                            nullable=True)),
        "2.91": _action("unshelve", {**_object({"availability_zone": {**name, "type": ["string", "null"]},
                                                "host": fqdn}, nullable=True), "minProperties": 1}),
    }),
    "rescue": Versioned({"2.1": _action("rescue", _object({
        "adminPass": _admin_pass, "rescue_image_ref": {"type": "string", "format": "uuid"}}, nullable=True))}),
})


_console_action = {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"],
                   "additionalProperties": False}
SERVER_ACTIONS.update({name: Versioned({"2.1": _action(name, _console_action)})
                       for name in ("os-getVNCConsole", "os-getSPICEConsole", "os-getSerialConsole")})
REMOTE_CONSOLE = Versioned({"2.6": Schema({"type": "object", "properties": {"remote_console": {
    "type": "object", "properties": {"protocol": {"type": "string", "enum": ["vnc", "spice", "rdp", "serial", "mks"]},
                                     "type": {"type": "string", "enum": ["novnc", "xvpvnc", "rdp-html5", "spice-html5",
                                                                        "serial", "webmks", "spice-direct"]}},
    "required": ["protocol", "type"], "additionalProperties": False}}, "required": ["remote_console"],
    "additionalProperties": False})})


# -- PUT /servers/{id} ---------------------------------------------------------------------------
def _server_update(extra: dict) -> Schema:
    return Schema({"type": "object", "properties": {"server": {
        "type": "object", "properties": {"name": name, "OS-DCF:diskConfig": disk_config,
                                         "accessIPv4": {"type": "string", "format": "ipv4"},
                                         "accessIPv6": {"type": "string", "format": "ipv6"}, **extra},
        "additionalProperties": False}}, "required": ["server"], "additionalProperties": False})


SERVER_UPDATE = Versioned({
    "2.1": _server_update({}),
    "2.19": _server_update({"description": description}),
    "2.90": _server_update({"description": description, "hostname": hostname}),
    "2.94": _server_update({"description": description, "hostname": fqdn}),
})


# -- /servers/{id}/metadata and /tags --------------------------------------------------------------
SERVER_METADATA = Schema({"type": "object", "properties": {"metadata": metadata}, "required": ["metadata"],
                          "additionalProperties": False})
SERVER_METADATA_ITEM = Schema({"type": "object", "properties": {"meta": {**metadata, "minProperties": 1,
                                                                         "maxProperties": 1}},
                               "required": ["meta"], "additionalProperties": False})
SERVER_TAGS = Schema({"type": "object", "properties": {"tags": {"type": "array", "items": tag,
                                                                "maxItems": MAX_TAGS}},
                      "required": ["tags"], "additionalProperties": False})
SERVER_TAG = Schema(tag)


# -- /servers/{id}/os-instance-actions -------------------------------------------------------------
_ACTIONS_QUERY_258 = {"limit": {"type": "array", "items": non_negative_integer}, "marker": _strings,
                      "changes-since": _times}
INSTANCE_ACTIONS_QUERY = Versioned({
    "2.1": Schema({"type": "object", "additionalProperties": True}, query=True),
    "2.58": Schema({"type": "object", "properties": _ACTIONS_QUERY_258, "additionalProperties": False}, query=True),
    "2.66": Schema({"type": "object", "properties": {**_ACTIONS_QUERY_258, "changes-before": _times},
                    "additionalProperties": False}, query=True),
})


AGGREGATE_IMAGES = Schema({"type": "object", "properties": {"cache": {
    "type": "array", "minItems": 1, "items": {"type": "object", "properties": {"id": uuid}, "required": ["id"],
                                              "additionalProperties": False}}},
    "required": ["cache"], "additionalProperties": False})


# -- os-migrations ---------------------------------------------------------------------------------
_MIGRATIONS_FILTERS = {name: _strings for name in ("hidden", "host", "instance_uuid", "source_compute", "status",
                                                   "migration_type")}
_MIGRATIONS_259 = {**_MIGRATIONS_FILTERS, "limit": {"type": "array", "items": non_negative_integer},
                   "marker": _strings, "changes-since": _times}
MIGRATIONS_QUERY = Versioned({
    "2.1": Schema({"type": "object", "properties": _MIGRATIONS_FILTERS, "additionalProperties": True}, query=True),
    "2.59": Schema({"type": "object", "properties": _MIGRATIONS_259, "additionalProperties": False}, query=True),
    "2.66": Schema({"type": "object", "properties": {**_MIGRATIONS_259, "changes-before": _times},
                    "additionalProperties": False}, query=True),
    "2.80": Schema({"type": "object", "properties": {**_MIGRATIONS_259, "changes-before": _times,
                                                     "user_id": _strings, "project_id": _strings},
                    "additionalProperties": False}, query=True),
})
SERVER_MIGRATION_ACTION = Schema({"type": "object", "properties": {"force_complete": {"type": "null"}},
                                  "required": ["force_complete"], "additionalProperties": False})


# -- os-services -----------------------------------------------------------------------------------
_service_reason = {"type": "string", "minLength": 1, "maxLength": 255}
_host_binary = {"host": {"type": "string", "minLength": 1, "maxLength": 255},
                "binary": {"type": "string", "minLength": 1, "maxLength": 255}}
SERVICE_LEGACY_ACTIONS = {
    action: Schema({"type": "object", "properties": {**_host_binary, **extra}, "required": ["host", "binary", *needed],
                    "additionalProperties": False})
    for action, extra, needed in (
        ("enable", {}, ()), ("disable", {}, ()),
        ("disable-log-reason", {"disabled_reason": _service_reason}, ("disabled_reason",)),
        ("force-down", {"forced_down": boolean}, ("forced_down",)))}
SERVICE_UPDATE = Schema({"type": "object", "properties": {
    "status": {"type": "string", "enum": ["enabled", "disabled"]}, "disabled_reason": _service_reason,
    "forced_down": {"type": "boolean"}}, "additionalProperties": False, "minProperties": 1})


# -- os-server-groups ------------------------------------------------------------------------------
def _server_group(properties: dict, required: list[str]) -> Schema:
    return Schema({"type": "object", "properties": {"server_group": {
        "type": "object", "properties": {"name": name, **properties}, "required": ["name", *required],
        "additionalProperties": False}}, "required": ["server_group"], "additionalProperties": False})


def _policies(names: list[str]) -> dict:
    return {"type": "array", "items": {"type": "string", "enum": names}, "uniqueItems": True, "minItems": 1,
            "maxItems": 1}


_HARD_POLICIES = ["anti-affinity", "affinity"]
_ALL_POLICIES = [*_HARD_POLICIES, "soft-anti-affinity", "soft-affinity"]
SERVER_GROUP_CREATE = Versioned({
    "2.1": _server_group({"policies": _policies(_HARD_POLICIES)}, ["policies"]),
    "2.15": _server_group({"policies": _policies(_ALL_POLICIES)}, ["policies"]),
    "2.64": _server_group({"policy": {"type": "string", "enum": _ALL_POLICIES}, "rules": {
        "type": "object", "properties": {"max_server_per_host": positive_integer}, "additionalProperties": False}},
        ["policy"]),
})
_GROUP_QUERY = {"all_projects": _strings, "limit": {"type": "array", "items": positive_integer},
                "offset": {"type": "array", "items": non_negative_integer}}
SERVER_GROUP_LIST_QUERY = Versioned({
    "2.1": Schema({"type": "object", "properties": _GROUP_QUERY, "additionalProperties": True}, query=True),
    "2.75": Schema({"type": "object", "properties": _GROUP_QUERY, "additionalProperties": False}, query=True),
})


# -- flavor extra specs and access -----------------------------------------------------------------
_extra_spec_value = {"type": ["string", "number", "boolean"], "minLength": 1, "maxLength": 255}
_extra_specs = {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": _extra_spec_value},
                "additionalProperties": False}
FLAVOR_EXTRA_SPECS = Schema({"type": "object", "properties": {"extra_specs": _extra_specs},
                             "required": ["extra_specs"], "additionalProperties": False})
FLAVOR_EXTRA_SPEC = Schema({**_extra_specs, "minProperties": 1, "maxProperties": 1})
_tenant = {"type": "object", "properties": {"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
           "required": ["tenant"], "additionalProperties": False}
FLAVOR_ACTION = Schema({"type": "object", "properties": {"addTenantAccess": _tenant, "removeTenantAccess": _tenant},
                        "minProperties": 1, "maxProperties": 1, "additionalProperties": False})


# -- os-simple-tenant-usage ------------------------------------------------------------------------
_USAGE_QUERY = {"start": _strings, "end": _strings, "detailed": _one_boolean}
TENANT_USAGE_QUERY = Versioned({
    "2.1": Schema({"type": "object", "properties": _USAGE_QUERY, "additionalProperties": True}, query=True),
    "2.40": Schema({"type": "object", "properties": {
        **_USAGE_QUERY, "limit": {"type": "array", "items": non_negative_integer}, "marker": _strings},
        "additionalProperties": True}, query=True),
    "2.75": Schema({"type": "object", "properties": {
        **_USAGE_QUERY, "limit": {"type": "array", "items": non_negative_integer}, "marker": _strings},
        "additionalProperties": False}, query=True),
})


# -- os-aggregates ---------------------------------------------------------------------------------
_zone_name = {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "format": "name"}
AGGREGATE_CREATE = Schema({"type": "object", "properties": {"aggregate": {
    "type": "object", "properties": {"name": name, "availability_zone": _zone_name}, "required": ["name"],
    "additionalProperties": False}}, "required": ["aggregate"], "additionalProperties": False})
AGGREGATE_UPDATE = Schema({"type": "object", "properties": {"aggregate": {
    "type": "object", "properties": {"name": name, "availability_zone": _zone_name}, "minProperties": 1,
    "additionalProperties": False}}, "required": ["aggregate"], "additionalProperties": False})
_aggregate_host = {"type": "object", "properties": {"host": {"type": "string", "minLength": 1, "maxLength": 255}},
                   "required": ["host"], "additionalProperties": False}
AGGREGATE_ACTION = Schema({"type": "object", "properties": {
    "add_host": _aggregate_host, "remove_host": _aggregate_host,
    "set_metadata": {"type": "object", "properties": {"metadata": {
        "type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {
            "type": ["string", "null"], "maxLength": 255}}, "additionalProperties": False}},
        "required": ["metadata"], "additionalProperties": False}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False})
