"""How resources look on the wire: Nova's v2.1 shapes, built from database rows.

Views are plain functions of rows (and of what the caller may see), with no queries of their
own: the resource modules fetch everything a page needs in a fixed number of queries and hand
it over, so a list of 100 servers costs the same few queries as a list of one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ncloud.daemons.api.microversion import APIVersion
from ncloud.daemons.compute.rpcapi import BINARY as COMPUTE_BINARY
from ncloud.daemons.core import states
from ncloud.daemons.core.context import RequestContext
from ncloud.daemons.core.db.models import ComputeNode, Flavor, Instance, InstanceFault, Service

# Nova shows `progress` only while it means something, and `fault` only for broken servers.
PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
FAULT_STATUSES = frozenset({"ERROR", "DELETED"})


# The database's times are naive UTC; isoformat (C) writes them several times faster than strftime,
# which counts in a list of a thousand servers.
def isotime(value: dt.datetime | None) -> str | None:
    """`created`, `updated`, fault `created`: second precision with a Z, as Nova's utils.isotime."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def strtime(value: dt.datetime | None) -> str | None:
    """`launched_at`, `updated_at` of services: how Nova serialises a bare datetime."""
    return value.isoformat(timespec="microseconds") if value else None


class Urls:
    """Links in responses: `self` carries the version, `bookmark` does not (as in Nova)."""

    def __init__(self, root: str):
        root = root.rstrip("/")
        self.root = root
        self.versioned = f"{root}/compute/v2.1"
        self.unversioned = f"{root}/compute"

    @classmethod
    def for_request(cls, req, public_endpoint: str) -> Urls:
        """From `[api] public_endpoint` when set (a trailing /compute or /compute/v2.1 is ignored),
        else from the URL the client used."""
        if public_endpoint:
            root = public_endpoint.rstrip("/")
            for suffix in ("/v2.1", "/compute"):
                if root.endswith(suffix):
                    root = root[: -len(suffix)]
            return cls(root)
        return cls(req.prefix)

    def links(self, collection: str, ident: str) -> list[dict]:
        return [{"rel": "self", "href": f"{self.versioned}/{collection}/{ident}"},
                {"rel": "bookmark", "href": f"{self.unversioned}/{collection}/{ident}"}]

    def bookmark(self, collection: str, ident: str) -> list[dict]:
        return [{"rel": "bookmark", "href": f"{self.unversioned}/{collection}/{ident}"}]

    def next_link(self, path: str, params: dict[str, list[str]], marker: str) -> list[dict]:
        """`servers_links` / `flavors_links`: the same query with the last item as marker."""
        query = [(k, v) for k, values in params.items() if k != "marker" for v in values]
        query.append(("marker", marker))
        return [{"rel": "next", "href": f"{self.versioned}/{path}?{urlencode(query)}"}]


# -- servers ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)  # a page has few (project, host) pairs and many servers
def host_id(project_id: str, host: str | None) -> str:
    """Nova's opaque hostId: equal for two servers of a project on the same host, never the name."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode("utf-8")).hexdigest()


def server_summary(instance: Instance, urls: Urls) -> dict:
    return {"id": instance.uuid, "name": instance.display_name, "links": urls.links("servers", instance.uuid)}


def server_created(uuid: str, urls: Urls, admin_pass: str, security_groups: list[str]) -> dict:
    return {"id": uuid, "links": urls.links("servers", uuid), "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": name} for name in security_groups], "adminPass": admin_pass}


def _fault(fault: InstanceFault, ctx: RequestContext) -> dict:
    body = {"code": fault.code, "created": isotime(fault.created_at), "message": fault.message}
    # A 500's details may hold another process's traceback: admins only (Nova's rule).
    if fault.details and (ctx.is_admin or fault.code != 500):
        body["details"] = fault.details
    return body


@dataclass
class ServerPage:
    """What a page of server bodies needs beyond the instances themselves, read in one query each
    (resources/servers.py `page_of`): only what the request's microversion and policy show."""

    faults: dict[str, InstanceFault] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    host_status: dict[str, str] = field(default_factory=dict)  # host -> UP, DOWN, MAINTENANCE
    image_properties: dict[str, dict] = field(default_factory=dict)  # uuid -> its image's properties (2.98)
    scheduler_hints: dict[str, dict] = field(default_factory=dict)  # uuid -> the hints it was booted with (2.100)
    groups: dict[str, str] = field(default_factory=dict)  # uuid -> its server group's uuid (2.71)
    addresses: dict[str, dict] = field(default_factory=dict)  # uuid -> its `addresses` (fixed IPs)
    host_zones: dict[str, str] = field(default_factory=dict)  # host -> its zone, for hosts in a zone aggregate
    extended: bool = False  # OS-EXT-SRV-ATTR:* (admin by default)
    show_host_status: bool = False
    extra_specs: bool = True  # in the embedded flavor (2.47)


def _flavor(instance: Instance, urls: Urls, version: APIVersion, page: ServerPage) -> dict:
    flavor = instance.flavor or {}
    if version < (2, 47):
        flavor_id = flavor.get("flavorid", "")
        return {"id": flavor_id, "links": urls.bookmark("flavors", flavor_id)}
    body = {"vcpus": flavor.get("vcpus"), "ram": flavor.get("memory_mb"), "disk": flavor.get("root_gb"),
            "ephemeral": flavor.get("ephemeral_gb", 0), "swap": flavor.get("swap") or 0,
            "original_name": flavor.get("name")}
    if page.extra_specs:
        body["extra_specs"] = dict(flavor.get("extra_specs") or {})
    return body


def _image(instance: Instance, urls: Urls, version: APIVersion, page: ServerPage) -> dict | str:
    if not instance.image_ref:
        return ""  # booted from a volume
    body: dict = {"id": instance.image_ref, "links": urls.bookmark("images", instance.image_ref)}
    if version >= (2, 98):
        properties = page.image_properties.get(instance.uuid) or {}
        body["properties"] = {key: value if value is None or isinstance(value, str) else json.dumps(value)
                              for key, value in properties.items()}
    return body


def server_detail(instance: Instance, urls: Urls, ctx: RequestContext, default_zone: str, version: APIVersion,
                  page: ServerPage, with_groups: bool = False) -> dict:
    """A server as GET /servers/{id} and /servers/detail show it at `version` (`with_groups`: the
    2.71 `server_groups`, which show, update and rebuild carry but the list does not)."""
    status = states.status_of(instance.vm_state, instance.task_state)
    # The zone it asked for, else its host's zone once placed (core/availability_zones.py).
    zone = instance.availability_zone or (page.host_zones.get(instance.host, default_zone) if instance.host else "")
    body = {
        "id": instance.uuid,
        "name": instance.display_name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": instance.metadata_ or {},
        "hostId": host_id(instance.project_id, instance.host),
        "image": _image(instance, urls, version, page),
        "flavor": _flavor(instance, urls, version, page),
        "created": isotime(instance.created_at),
        "updated": isotime(instance.updated_at or instance.created_at),
        "addresses": page.addresses.get(instance.uuid, {}),
        "accessIPv4": "",
        "accessIPv6": "",
        "links": urls.links("servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": zone,
        "config_drive": "True" if instance.config_drive else "",
        "key_name": instance.key_name,
        "OS-SRV-USG:launched_at": strtime(instance.launched_at),
        "OS-SRV-USG:terminated_at": strtime(instance.terminated_at),
        "OS-EXT-STS:task_state": instance.task_state,
        "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if status in PROGRESS_STATUSES:
        body["progress"] = instance.progress or 0
    if page.extended:
        body["OS-EXT-SRV-ATTR:host"] = instance.host
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = instance.node
        body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{instance.id:08x}"
        if version >= (2, 3):
            body.update({
                "OS-EXT-SRV-ATTR:reservation_id": instance.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": None,
                "OS-EXT-SRV-ATTR:user_data": instance.user_data,
            })
    if (page.extended and version >= (2, 3)) or version >= (2, 90):
        body["OS-EXT-SRV-ATTR:hostname"] = instance.hostname
    if version >= (2, 9):
        body["locked"] = bool(instance.locked)
    if version >= (2, 16) and page.show_host_status:
        body["host_status"] = page.host_status.get(instance.host, "UNKNOWN") if instance.host else ""
    if version >= (2, 19):
        body["description"] = instance.description
    if version >= (2, 26):
        body["tags"] = page.tags.get(instance.uuid, [])
    if version >= (2, 63):
        body["trusted_image_certificates"] = instance.trusted_certs
    if version >= (2, 71) and with_groups:
        body["server_groups"] = [page.groups[instance.uuid]] if instance.uuid in page.groups else []
    if version >= (2, 73):
        body["locked_reason"] = instance.locked_reason
    if version >= (2, 96):
        body["pinned_availability_zone"] = instance.availability_zone
    if version >= (2, 100):
        body["scheduler_hints"] = page.scheduler_hints.get(instance.uuid) or {}
    fault = page.faults.get(instance.uuid)
    if fault is not None and status in FAULT_STATUSES:
        body["fault"] = _fault(fault, ctx)
    return body


# What PUT /servers/{id} showed before 2.75 made it the full representation.
_UPDATE_KEYS_BEFORE_275 = frozenset({
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
    "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "fault", "locked",
    "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason"})


def server_updated(instance: Instance, urls: Urls, ctx: RequestContext, default_zone: str, version: APIVersion,
                   page: ServerPage) -> dict:
    body = server_detail(instance, urls, ctx, default_zone, version, page, with_groups=True)
    if version < (2, 75):
        body = {key: value for key, value in body.items() if key in _UPDATE_KEYS_BEFORE_275}
        # ... and the addresses without their OS-EXT-IPS extensions, as Nova answered then.
        body["addresses"] = {network: [{"version": entry["version"], "addr": entry["addr"]} for entry in entries]
                             for network, entries in body["addresses"].items()}
    return body


def server_rebuilt(instance: Instance, urls: Urls, ctx: RequestContext, default_zone: str, version: APIVersion,
                   page: ServerPage, admin_pass: str) -> dict:
    """The rebuild answer: the update's body, with the key name (2.54) and the user data (2.57)."""
    body = server_updated(instance, urls, ctx, default_zone, version, page)
    body.pop("OS-EXT-SRV-ATTR:user_data", None)
    if version >= (2, 54):
        body["key_name"] = instance.key_name
    if version >= (2, 57):
        body["user_data"] = instance.user_data
    body["adminPass"] = admin_pass
    return body


# -- flavors ---------------------------------------------------------------------------------

def flavor_summary(flavor: Flavor, urls: Urls, version: APIVersion) -> dict:
    body = {"id": flavor.flavorid, "name": flavor.name, "links": urls.links("flavors", flavor.flavorid)}
    if version >= (2, 55):
        body["description"] = flavor.description
    return body


def flavor_detail(flavor: Flavor, urls: Urls, version: APIVersion, extra_specs: bool = False) -> dict:
    """`extra_specs`: shown from 2.61 to those the policy lets read them."""
    body = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "vcpus": flavor.vcpus,
        # Nova showed a swap of 0 as "" until 2.75.
        "swap": flavor.swap or (0 if version >= (2, 75) else ""),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": bool(flavor.disabled),
        "os-flavor-access:is_public": bool(flavor.is_public),
        "rxtx_factor": float(flavor.rxtx_factor if flavor.rxtx_factor is not None else 1.0),
        "links": urls.links("flavors", flavor.flavorid),
    }
    if version >= (2, 55):
        body["description"] = flavor.description
    if version >= (2, 61) and extra_specs:
        body["extra_specs"] = dict(flavor.extra_specs or {})
    return body


# -- services and hypervisors ----------------------------------------------------------------

def service(row: Service, up: bool, default_zone: str, version: APIVersion) -> dict:
    body = {
        "id": row.uuid if version >= (2, 53) else row.id,
        "binary": row.binary,
        "host": row.host,
        "zone": default_zone if row.binary == COMPUTE_BINARY else "internal",
        "status": "disabled" if row.disabled else "enabled",
        "state": "up" if up else "down",
        "updated_at": strtime(row.last_seen_up or row.updated_at or row.created_at),
        "disabled_reason": row.disabled_reason,
    }
    if version >= (2, 11):
        body["forced_down"] = bool(row.forced_down)
    return body


def hypervisor_summary(node: ComputeNode, service_row: Service | None, up: bool, version: APIVersion,
                       servers: list[dict] | None = None) -> dict:
    """`servers`: the node's servers when the request asked `with_servers` (2.53), else None."""
    body = {
        "id": node.uuid if version >= (2, 53) else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if up else "down",
        "status": "disabled" if service_row is None or service_row.disabled else "enabled",
    }
    # Before 2.75 a node without servers had no `servers` key at all.
    if servers is not None and (servers or version >= (2, 75)):
        body["servers"] = servers
    return body


def hypervisor_detail(node: ComputeNode, service_row: Service | None, up: bool, capacity: dict,
                      version: APIVersion, servers: list[dict] | None = None) -> dict:
    """`capacity`: totals and usage from the node's resource provider (see resources/hypervisors),
    shown until 2.88, which replaced them with the host's `uptime` (filled in by the resource,
    which asks the host; None until then)."""
    body = hypervisor_summary(node, service_row, up, version, servers)
    if version < (2, 88):
        body.update(capacity)
        body["current_workload"] = 0
        body["cpu_info"] = node.cpu_info or {} if version >= (2, 28) else json.dumps(node.cpu_info or {})
    else:
        body["uptime"] = None
    body.update({
        "hypervisor_type": node.hypervisor_type,
        "hypervisor_version": node.hypervisor_version,
        "host_ip": node.host_ip,
        "service": {"host": node.host,
                    "id": (service_row.uuid if version >= (2, 53) else service_row.id) if service_row else None,
                    "disabled_reason": service_row.disabled_reason if service_row else None},
    })
    return body
