"""The JSON schemas of the Compute API v2.1 requests, after Nova's (`nova/api/openstack/compute/schemas`).

Kept as data, one place, so a reviewer can diff them against Nova's: what Nova rejects at 2.1 we
reject with the same message, and what it accepts we accept (even when ncloud ignores it for now,
like `networks`, `accessIPv4` or `security_groups`).
"""

from __future__ import annotations

from ncloud.daemons.api.validation import Schema

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
scheduler_hints = {"type": "object", "additionalProperties": True}

network = {
    "type": "object",
    "properties": {
        "fixed_ip": ip_address,
        "port": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
        "uuid": {"type": "string"},
    },
    "additionalProperties": False,
}

SERVER_CREATE = Schema({
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
                # A list of networks or, as Nova accepts from 2.37 on, "auto" / "none". Accepted and
                # not acted on until ncloud has networking.
                "networks": {"oneOf": [{"type": "array", "items": network},
                                       {"type": "string", "enum": ["none", "auto"]}]},
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
                "description": description,
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": scheduler_hints,
        "OS-SCH-HNT:scheduler_hints": scheduler_hints,
    },
    "required": ["server"],
    "additionalProperties": False,
})

flavor_positive = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": MAX_INT}
flavor_non_negative = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0, "maximum": MAX_INT}

FLAVOR_CREATE = Schema({
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
})

# Query strings arrive as {name: [values]}. Unknown parameters are ignored, as Nova does at 2.1.
pagination = {
    "limit": {"type": "array", "items": non_negative_integer},
    "marker": {"type": "array", "items": {"type": "string"}},
}

SERVER_LIST_QUERY = Schema({
    "type": "object",
    "properties": {**pagination,
                   "all_tenants": {"type": "array", "items": {"type": "string"}},
                   "name": {"type": "array", "items": {"type": "string"}},
                   "status": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": True,
}, query=True)

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

HYPERVISOR_LIST_QUERY = Schema({
    "type": "object",
    "properties": pagination,
    "additionalProperties": True,
}, query=True)
