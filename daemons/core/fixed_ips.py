"""Servers' fixed IPs on the flat network: requested, allocated, released, shown.

The network is defined cloud-wide by `[network]` (label, fixed_range): every node renders the same
configuration, so the API allocates, the compute host serves the address by DHCP, and the server
keeps it wherever it moves. An address is taken by inserting its row under a unique key, so two
API processes racing for one address cannot both win; the loser tries another.
"""

from __future__ import annotations

import ipaddress
import random
import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ncloud.daemons.core import exception
from ncloud.daemons.core.db.models import FixedIP

NETWORK_NAMESPACE = uuidlib.UUID("0b5a4c1e-7d3f-4e61-9f0a-2c8e5d1b7a40")
RANDOM_TRIES = 8


class FixedIpsExhausted(exception.Conflict):
    message = "No fixed IP address is free on network {label} ({cidr}): all {count} are allocated."


class FixedIpInUse(exception.Conflict):
    message = "Fixed IP address {address} is already in use on network {label}."


@dataclass(frozen=True)
class Request:
    """What a create asked for: an address on the network, maybe a given one."""

    address: str | None = None


def network_id(conf) -> str:
    """The network's id (what `networks: [{"uuid": ...}]` names), stable for its label."""
    return str(uuidlib.uuid5(NETWORK_NAMESPACE, conf.network.label))


def _subnet(conf) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(conf.network.fixed_range)


def gateway(subnet: ipaddress.IPv4Network) -> str:
    """The network's gateway: its first address, on every host's bridge."""
    return str(subnet[1])


def _assignable(subnet: ipaddress.IPv4Network, address) -> bool:
    """Servers get the subnet's host addresses but the first, the gateway."""
    return subnet.network_address + 2 <= address < subnet.broadcast_address


def _random_address(subnet: ipaddress.IPv4Network) -> str:
    return str(subnet.network_address + random.randrange(2, subnet.num_addresses - 1))


def parse_request(conf, networks, count: int) -> Request | None:
    """`networks` of a create body (already schema-checked) as a Request, or None for no NIC."""
    if not conf.network.enabled or networks == "none":
        return None
    if networks in (None, "auto") or networks == []:
        return Request()
    if len(networks) > 1:
        raise exception.Invalid(f"This cloud has one network ({conf.network.label}); ask for it once.")
    wanted = networks[0]
    if wanted.get("port"):
        raise exception.Invalid(f"Port {wanted['port']} could not be found: this cloud has no Networking "
                                "service, only its flat network.")
    if wanted.get("uuid") and wanted["uuid"] != network_id(conf):
        raise exception.Invalid(f"Network {wanted['uuid']} could not be found.")
    address = wanted.get("fixed_ip")
    if address:
        if count > 1:
            raise exception.Invalid("max_count cannot be greater than 1 if a fixed_ip is specified.")
        subnet = _subnet(conf)
        if not _assignable(subnet, ipaddress.ip_address(address)):
            raise exception.Invalid(f"Fixed IP address {address} is not an address servers can have on network "
                                    f"{conf.network.label} ({subnet}: from its third address to the last "
                                    "before the broadcast).")
    return Request(address=address)


def _mac() -> str:
    """OpenStack's locally administered prefix fa:16:3e, then three random bytes."""
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def _take(session: Session, label: str, address: str, uuid: str) -> bool:
    """Insert the row under a savepoint: False when the address was taken first."""
    try:
        with session.begin_nested():
            session.add(FixedIP(network=label, address=address, mac=_mac(), instance_uuid=uuid))
        return True
    except IntegrityError:
        return False


def allocate(session: Session, conf, uuids: list[str], request: Request) -> None:
    """Give each server an address (the requested one, else a random free one)."""
    label = conf.network.label
    subnet = _subnet(conf)
    if request.address:
        if not _take(session, label, request.address, uuids[0]):
            raise FixedIpInUse(address=request.address, label=label)
        return
    for uuid in uuids:
        # Random picks first: cheap while the network is far from full, and two API processes
        # rarely pick the same address. Then the first free one, read from the table.
        if any(_take(session, label, _random_address(subnet), uuid) for _ in range(RANDOM_TRIES)):
            continue
        taken = set(session.scalars(select(FixedIP.address).where(FixedIP.network == label)))
        free = next((str(address) for address in subnet.hosts()
                     if _assignable(subnet, address) and str(address) not in taken), None)
        if free is None or not _take(session, label, free, uuid):
            raise FixedIpsExhausted(label=label, cidr=str(subnet), count=subnet.num_addresses - 3)


def release(session: Session, uuids: list[str]) -> None:
    session.execute(delete(FixedIP).where(FixedIP.instance_uuid.in_(uuids)))


def of_servers(session: Session, uuids: list[str]) -> dict[str, list[FixedIP]]:
    """Each server's fixed IPs (one query for a whole page of a list)."""
    found: dict[str, list] = {}
    if uuids:
        for row in session.execute(select(FixedIP.instance_uuid, FixedIP.network, FixedIP.address, FixedIP.mac)
                                   .where(FixedIP.instance_uuid.in_(uuids))):
            found.setdefault(row.instance_uuid, []).append(row)
    return found


def addresses(rows) -> dict[str, list[dict]]:
    """The `addresses` of a server body (2.1 shape with the OS-EXT-IPS extensions)."""
    shown: dict[str, list[dict]] = {}
    for row in rows or ():
        shown.setdefault(row.network, []).append({
            "version": 4, "addr": row.address, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": row.mac})
    return shown


def network_info(conf, row) -> dict:
    """What the compute host needs to wire the server: address, MAC, gateway, ..."""
    subnet = _subnet(conf)
    return {"label": row.network, "network_id": network_id(conf), "address": row.address, "mac": row.mac,
            "netmask": str(subnet.netmask), "prefixlen": subnet.prefixlen, "cidr": str(subnet),
            "gateway": gateway(subnet), "dns": list(conf.network.dns_servers), "mtu": conf.network.mtu}


def count(session: Session, label: str) -> int:
    return session.scalar(select(func.count()).select_from(FixedIP).where(FixedIP.network == label)) or 0
