"""Microversion negotiation, as Nova does it: headers in, the served version out, 400/406 outside the rules."""

from __future__ import annotations

import pytest

from ncloud.daemons.api.microversion import MAX_VERSION


def served(response) -> tuple[str, str]:
    return response.headers["OpenStack-API-Version"], response.headers["X-OpenStack-Nova-API-Version"]


def test_no_header_is_2_1_and_every_versioned_response_says_so_with_vary(api):
    response = api.get("/servers")
    assert response.status_code == 200
    assert served(response) == ("compute 2.1", "2.1")
    assert response.headers["Vary"] == "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    error = api.get("/servers/nope")
    assert error.status_code == 404 and served(error) == ("compute 2.1", "2.1")


@pytest.mark.parametrize("headers, expected", [
    ({"OpenStack-API-Version": "compute 2.1"}, "2.1"),
    ({"OpenStack-API-Version": f"compute {MAX_VERSION}"}, str(MAX_VERSION)),
    ({"X-OpenStack-Nova-API-Version": str(MAX_VERSION)}, str(MAX_VERSION)),
    ({"OpenStack-API-Version": "compute latest"}, str(MAX_VERSION)),
    ({"X-OpenStack-Nova-API-Version": "latest"}, str(MAX_VERSION)),
    # another service's version is not ours; the standard header wins over the legacy one
    ({"OpenStack-API-Version": "image 2.5"}, "2.1"),
    ({"OpenStack-API-Version": "image 2.5, compute latest"}, str(MAX_VERSION)),
    ({"OpenStack-API-Version": "compute 2.1", "X-OpenStack-Nova-API-Version": "latest"}, "2.1"),
])
def test_the_requested_version_is_served_and_echoed(api, headers, expected):
    response = api.get("/flavors", headers=headers)
    assert response.status_code == 200
    assert served(response) == (f"compute {expected}", expected)


@pytest.mark.parametrize("version", ["2.0", "1.1", "3.0", f"2.{MAX_VERSION.minor + 1}"])
def test_a_version_out_of_range_is_406_with_novas_message(api, version):
    response = api.get("/servers", headers={"OpenStack-API-Version": f"compute {version}"})
    assert response.status_code == 406
    assert response.json == {"computeFault": {"code": 406, "message": (
        f"Version {version} is not supported by the API. Minimum is 2.1 and maximum is {MAX_VERSION}.")}}


@pytest.mark.parametrize("version", ["2", "2.a", "02.1", "2.01", "two", "LATEST"])
def test_a_malformed_version_is_400(api, version):
    response = api.get("/servers", headers={"X-OpenStack-Nova-API-Version": version})
    assert response.status_code == 400
    assert response.json["badRequest"]["message"] == (
        f"API Version String {version} is of invalid format. Must be of format MajorNum.MinorNum.")


def test_authentication_comes_before_the_version(api):
    response = api.get("/servers", token=None, headers={"OpenStack-API-Version": "compute 9.9"})
    assert response.status_code == 401


def test_the_version_document_is_negotiated_too(api):
    response = api.get("/compute/v2.1/", token=None, version="latest")
    assert response.status_code == 200 and served(response) == (f"compute {MAX_VERSION}", str(MAX_VERSION))
    assert "OpenStack-API-Version" not in api.get("/compute/", token=None).headers


def test_the_v2_0_api_is_the_v2_1_one_at_2_1_without_microversions(api, seeded):
    api.boot("legacy")
    response = api.get("/compute/v2/servers", headers={"OpenStack-API-Version": "compute latest"})
    assert response.status_code == 200
    assert [s["name"] for s in response.json["servers"]] == ["legacy"]
    assert "OpenStack-API-Version" not in response.headers
    assert api.get("/compute/v2/servers", token=None).status_code == 401
