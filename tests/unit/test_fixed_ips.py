"""Fixed IPs on the flat network, on every database backend: one address per server, never two
servers on one address, the gateway and broadcast never handed out, freed with the server."""

import ipaddress
import uuid as uuidlib

import pytest
from sqlalchemy import select

from ncloud.daemons.core import config, exception, fixed_ips
from ncloud.daemons.core.db.models import FixedIP


def conf(fixed_range="198.18.0.0/29", **network):
    return config.load(None, environ={}, overrides={"network": {"fixed_range": fixed_range, **network}})


def uuids(count):
    return [str(uuidlib.uuid4()) for _ in range(count)]


def test_every_server_gets_its_own_address_and_none_is_the_gateway_or_broadcast(db):
    servers = uuids(5)  # a /29 has five: .2 to .6 (.1 is the gateway)
    with db.writer() as session:
        fixed_ips.allocate(session, conf(), servers, fixed_ips.Request())
    with db.reader() as session:
        found = fixed_ips.of_servers(session, servers)
    addresses = sorted(ipaddress.ip_address(rows[0].address) for rows in found.values())
    assert addresses == [ipaddress.ip_address(f"198.18.0.{n}") for n in range(2, 7)]
    assert len({rows[0].mac for rows in found.values()}) == 5
    assert all(rows[0].mac.startswith("fa:16:3e:") for rows in found.values())


def test_a_full_network_says_so_and_a_deleted_server_frees_its_address(db):
    with db.writer() as session:
        fixed_ips.allocate(session, conf(), uuids(5), fixed_ips.Request())
    one_more = uuids(1)
    with pytest.raises(fixed_ips.FixedIpsExhausted, match=r"198\.18\.0\.0/29\): all 5 are allocated"), \
            db.writer() as session:
        fixed_ips.allocate(session, conf(), one_more, fixed_ips.Request())
    with db.writer() as session:
        some = session.scalars(select(FixedIP.instance_uuid)).first()
        fixed_ips.release(session, [some])
    with db.writer() as session:
        fixed_ips.allocate(session, conf(), one_more, fixed_ips.Request())
    with db.reader() as session:
        assert fixed_ips.count(session, "private") == 5


def test_a_requested_address_is_given_once(db):
    first, second = uuids(2)
    with db.writer() as session:
        fixed_ips.allocate(session, conf(), [first], fixed_ips.Request(address="198.18.0.4"))
    with pytest.raises(fixed_ips.FixedIpInUse, match="198.18.0.4 is already in use"), db.writer() as session:
        fixed_ips.allocate(session, conf(), [second], fixed_ips.Request(address="198.18.0.4"))
    with db.reader() as session:
        assert [row.address for row in fixed_ips.of_servers(session, [first])[first]] == ["198.18.0.4"]
        assert fixed_ips.of_servers(session, [second]) == {}


@pytest.mark.parametrize("networks, expected", [
    (None, fixed_ips.Request()), ("auto", fixed_ips.Request()), ([], fixed_ips.Request()), ("none", None),
    ([{"fixed_ip": "198.18.0.3"}], fixed_ips.Request(address="198.18.0.3")),
])
def test_what_a_create_asks_for(networks, expected):
    assert fixed_ips.parse_request(conf(), networks, 1) == expected


@pytest.mark.parametrize("networks, count, message", [
    ([{"uuid": "3f1b0f4e-0000-4000-8000-000000000000"}], 1, "Network 3f1b0f4e-0000-4000-8000-000000000000 could not"),
    ([{"port": "p-1"}], 1, "Port p-1 could not be found"),
    ([{"fixed_ip": "198.18.0.1"}], 1, "Fixed IP address 198.18.0.1 is not an address servers can have"),
    ([{"fixed_ip": "198.18.0.7"}], 1, "not an address servers can have"),  # the broadcast
    ([{"fixed_ip": "198.18.0.3"}], 2, "max_count cannot be greater than 1"),
    ([{}, {}], 1, "This cloud has one network"),
])
def test_requests_the_flat_network_cannot_serve_are_refused_with_the_reason(networks, count, message):
    with pytest.raises(exception.Invalid, match=message):
        fixed_ips.parse_request(conf(), networks, count)


def test_the_network_is_found_by_its_id_and_nothing_is_allocated_when_networking_is_off():
    assert fixed_ips.parse_request(conf(), [{"uuid": fixed_ips.network_id(conf())}], 1) == fixed_ips.Request()
    assert fixed_ips.parse_request(conf(enabled=False), "auto", 1) is None
