"""`ncloud check --smoke`: boot a server through the API, wait for ACTIVE, delete it, wait until it
is gone, as a user would. Whatever happens, the server is deleted."""

from __future__ import annotations

import contextlib
import time

from ncloud.cli.check.findings import Finding, Status

MICROVERSION = "2.79"


def _pick_image(session, wanted: str | None) -> str:
    images = session.request("GET", "image", "/images?status=active&sort=created_at:desc").json()["images"]
    for image in images:
        if wanted in (image["id"], image["name"]) or (wanted is None and image.get("visibility") == "public"):
            return image["id"]
    raise LookupError(f"no active image {wanted!r}" if wanted else "no active public image to boot (--smoke-image)")


def _smallest_flavor(session) -> str:
    flavors = session.request("GET", "compute", "/flavors/detail", microversion=MICROVERSION).json()["flavors"]
    if not flavors:
        raise LookupError("no flavor to boot")
    return min(flavors, key=lambda f: (f["ram"], f["vcpus"], f["disk"]))["id"]


def smoke_test(conf, image: str | None, timeout: float) -> Finding:
    from ncloud.cli.cloud.errors import CloudError
    from ncloud.cli.cloud.session import admin_session

    started = time.monotonic()
    server_id = None
    try:
        session = admin_session(conf)
        body = {"server": {"name": f"ncloud-smoke-{int(time.time())}", "imageRef": _pick_image(session, image),
                           "flavorRef": _smallest_flavor(session), "networks": "auto"}}
        server_id = session.request("POST", "compute", "/servers", json=body,
                                    microversion=MICROVERSION).json()["server"]["id"]
        while True:
            server = session.request("GET", "compute", f"/servers/{server_id}",
                                     microversion=MICROVERSION).json()["server"]
            if server["status"] == "ACTIVE":
                break
            if server["status"] == "ERROR":
                fault = (server.get("fault") or {}).get("message", "no fault recorded")
                return Finding("smoke", Status.CRITICAL, f"server {server_id} went to ERROR: {fault}")
            if time.monotonic() - started > timeout:
                return Finding("smoke", Status.CRITICAL, f"server {server_id} still {server['status']} after "
                               f"{timeout:g} s")
            time.sleep(1)
        booted = time.monotonic() - started
        session.request("DELETE", "compute", f"/servers/{server_id}")
        while session.request("GET", "compute", f"/servers/{server_id}", ok=(200, 404)).status_code == 200:
            if time.monotonic() - started > timeout:
                return Finding("smoke", Status.CRITICAL, f"server {server_id} not gone {timeout:g} s after its delete")
            time.sleep(1)
        server_id = None
        total = time.monotonic() - started
        return Finding("smoke", Status.OK, f"booted in {booted:.1f} s, deleted in {total - booted:.1f} s",
                       {"smoke_boot_seconds": (round(booted, 1), "s"), "smoke_total_seconds": (round(total, 1), "s")})
    except (CloudError, LookupError) as error:
        return Finding("smoke", Status.CRITICAL, str(error)[:300])
    finally:
        if server_id is not None:
            with contextlib.suppress(CloudError):
                session.request("DELETE", "compute", f"/servers/{server_id}", ok=(204, 404))
