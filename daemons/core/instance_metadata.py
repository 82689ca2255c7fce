"""What a guest learns about itself: the OpenStack metadata documents (`openstack/latest/...`).

One builder for both places a guest reads them: the config drive the compute host writes, and the
metadata service (its own daemon). The shapes follow Nova's, so cloud-init's OpenStack data source
reads them unchanged.
"""

from __future__ import annotations

import base64
import json
import os


def meta_data(instance: dict, availability_zone: str | None = None) -> dict:
    key_name, key_data = instance.get("key_name"), instance.get("key_data")
    keys = [{"name": key_name, "type": "ssh", "data": key_data}] if key_name and key_data else []
    return {
        "uuid": instance["uuid"],
        "name": instance.get("display_name") or "",
        "hostname": instance.get("hostname") or instance.get("display_name") or instance["uuid"],
        "launch_index": instance.get("launch_index") or 0,
        "availability_zone": availability_zone or instance.get("availability_zone") or "nova",
        "project_id": instance.get("project_id"),
        "meta": dict(instance.get("metadata_") or {}),
        "public_keys": {key_name: key_data} if keys else {},
        "keys": keys,
        "devices": [],
        "random_seed": base64.b64encode(os.urandom(512)).decode(),
    }


def network_data(network: dict | None) -> dict:
    """A static description of the server's fixed IP (`network` as the conductor allocated it), for
    guests that configure their NIC from it rather than DHCP."""
    if not network:
        return {"links": [], "networks": [], "services": []}
    link = {"id": "tap0", "type": "bridge", "ethernet_mac_address": network["mac"], "mtu": network.get("mtu"),
            "vif_id": network["address"]}
    net = {"id": "network0", "type": "ipv4", "link": "tap0", "ip_address": network["address"],
           "netmask": network["netmask"], "network_id": network["network_id"],
           "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": network["gateway"]}],
           "services": [{"type": "dns", "address": server} for server in network.get("dns", [])]}
    return {"links": [link], "networks": [net],
            "services": [{"type": "dns", "address": server} for server in network.get("dns", [])]}


def documents(instance: dict, network: dict | None = None) -> dict[str, bytes]:
    """Every file under `openstack/latest/`, by name."""
    files = {
        "meta_data.json": json.dumps(meta_data(instance)).encode(),
        "network_data.json": json.dumps(network_data(network)).encode(),
        "vendor_data.json": b"{}",
        "vendor_data2.json": b"{}",
    }
    user_data = instance.get("user_data")
    if user_data:
        try:
            files["user_data"] = base64.b64decode(user_data, validate=True)
        except ValueError:
            files["user_data"] = user_data.encode()
    return files
