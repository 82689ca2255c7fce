"""What a new cloud needs before anyone can boot: the standard flavors and a demo image.

Idempotent: run at every `ncloud up`, it creates only what is missing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ncloud.daemons.core.db.models import Flavor, Image
from ncloud.daemons.core.db.session import Database

# name, flavorid, vcpus, memory_mb, root_gb (Nova's classic sizes, kept small for one machine)
FLAVORS = (
    ("m1.tiny", "1", 1, 512, 1),
    ("m1.small", "2", 1, 2048, 20),
    ("m1.medium", "3", 2, 4096, 40),
)
DEMO_IMAGE_NAME = "ncloud-demo"
DEMO_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "ncloud:demo-image"))
ADMIN_PROJECT = "admin"
DEMO_PROJECT = "demo"


def ensure_defaults(db: Database, demo_image: bool = True) -> dict:
    """Create missing default flavors and (unless not wanted) the demo image, which has no data:
    fine for the fake driver, useless on real hypervisors. Returns what the cloud now has and
    `created`, the names added now."""
    created = []
    with db.writer() as session:
        existing = set(session.scalars(select(Flavor.name)))
        for name, flavorid, vcpus, memory_mb, root_gb in FLAVORS:
            if name not in existing:
                session.add(Flavor(name=name, flavorid=flavorid, vcpus=vcpus, memory_mb=memory_mb,
                                   root_gb=root_gb, extra_specs={}))
                created.append(name)
        if demo_image and session.get(Image, DEMO_IMAGE_ID) is None:
            created.append(DEMO_IMAGE_NAME)
            session.add(Image(id=DEMO_IMAGE_ID, name=DEMO_IMAGE_NAME, status="active", visibility="public",
                              owner=ADMIN_PROJECT, disk_format="raw", container_format="bare", size=0,
                              min_disk=0, min_ram=0, properties={}))
    return {"flavors": [f[0] for f in FLAVORS], "image_id": DEMO_IMAGE_ID, "image_name": DEMO_IMAGE_NAME,
            "created": created}
