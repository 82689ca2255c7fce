"""Console URLs end to end on the all-in-one: the compute host's driver says where the console
listens, the API stores a single-use token for it and answers the proxy's URL with the token.
"""

from urllib.parse import parse_qs, unquote, urlparse

import pytest

from ncloud.daemons.core import consoles
from tests.api.tempest_schemas import conforms
from tests.cloud import wait_until
from tests.integration.test_server_moves import action, boot, client, make_cloud, wait_for


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    yield cloud
    cloud.stop()


def token_of(url: str) -> str:
    query = parse_qs(urlparse(url).query)
    if "path" in query:  # noVNC: ?path=%3Ftoken%3D...
        return parse_qs(urlparse(unquote(query["path"][0])).query)["token"][0]
    return query["token"][0]


@pytest.mark.parametrize(("protocol", "kind", "base"), [
    ("vnc", "novnc", "http://127.0.0.1:6080/vnc_lite.html"),
    ("spice", "spice-html5", "http://127.0.0.1:6082/spice_auto.html"),
    ("serial", "serial", "ws://127.0.0.1:6083/"),
])
def test_a_console_url_carries_a_single_use_token_for_the_guests_console(cloud, protocol, kind, base):
    with client(cloud, token="demo:demo", version="2.6") as api:
        uuid = boot(api)
        response = api.post(f"/servers/{uuid}/remote-consoles",
                            json={"remote_console": {"protocol": protocol, "type": kind}})
        assert conforms(response, "2.6", "servers", "get_remote_consoles")
        url = response.json()["remote_console"]["url"]
        assert url.startswith(base)
        token = token_of(url)
        with cloud.db.writer() as session:
            opened = consoles.consume(session, token)
            assert (opened.instance_uuid, opened.console_type, opened.host) == (uuid, kind, "127.0.0.1")
            assert opened.port > 0
        with cloud.db.writer() as session:
            assert consoles.consume(session, token) is None  # used once


def test_the_legacy_console_actions_before_2_6(cloud):
    with client(cloud, token="demo:demo") as api:
        uuid = boot(api)
        response = action(api, uuid, {"os-getVNCConsole": {"type": "novnc"}}, expect=200)
        assert conforms(response, "2.1", "servers", "get_vnc_console")
        assert response.json()["console"]["type"] == "novnc"
        response = action(api, uuid, {"os-getSerialConsole": {"type": "serial"}}, expect=200)
        assert response.json()["console"]["url"].startswith("ws://")
        response = api.post(f"/servers/{uuid}/action", json={"os-getVNCConsole": {"type": "xvpvnc"}})
        assert response.status_code == 400 and "Unavailable console type xvpvnc." in response.text
        assert api.post(f"/servers/{uuid}/remote-consoles",
                        json={"remote_console": {"protocol": "vnc", "type": "novnc"}}).status_code == 404
    with client(cloud, token="demo:demo", version="2.6") as api:
        response = api.post(f"/servers/{uuid}/action", json={"os-getVNCConsole": {"type": "novnc"}})
        assert response.status_code == 400  # gone at 2.6


def test_console_refusals(cloud):
    with client(cloud, token="demo:demo", version="2.6") as api:
        uuid = boot(api)
        for body, status in [({"remote_console": {"protocol": "vnc", "type": "spice-html5"}}, 400),
                             ({"remote_console": {"protocol": "rdp", "type": "rdp-html5"}}, 400),
                             ({"remote_console": {"protocol": "vnc"}}, 400), ({}, 400)]:
            response = api.post(f"/servers/{uuid}/remote-consoles", json=body)
            assert response.status_code == status, (body, response.text)
        action(api, uuid, {"os-stop": None})
        wait_for(api, uuid, "SHUTOFF")
        response = api.post(f"/servers/{uuid}/remote-consoles",
                            json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
        assert response.status_code == 409 and "is not ready" in response.text
    with client(cloud, token="eve:p3", version="2.6") as other:
        response = other.post(f"/servers/{uuid}/remote-consoles",
                              json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
        assert response.status_code == 404


def test_deleting_a_server_revokes_its_console_tokens(cloud):
    with client(cloud, token="demo:demo", version="2.6") as api:
        uuid = boot(api)
        url = api.post(f"/servers/{uuid}/remote-consoles",
                       json={"remote_console": {"protocol": "vnc", "type": "novnc"}}).json()["remote_console"]["url"]
        assert api.delete(f"/servers/{uuid}").status_code == 204
        wait_until(lambda: api.get(f"/servers/{uuid}").status_code == 404, 30, what="the delete")
        with cloud.db.writer() as session:
            assert consoles.consume(session, token_of(url)) is None
