"""The config drive: an ISO 9660 disk labelled `config-2` with the metadata documents under
`openstack/latest/` (core/instance_metadata.py), as cloud-init's ConfigDrive source reads it.

Written with pycdlib (pure Python, with Rock Ridge and Joliet for the long, lower-case names) so a
compute host needs no genisoimage or xorriso.
"""

from __future__ import annotations

import io
from pathlib import Path

import pycdlib

from ncloud.daemons.core import instance_metadata

VOLUME_LABEL = "config-2"


def write(path: Path, instance: dict, network: dict | None) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", joliet=3, vol_ident=VOLUME_LABEL)
    iso.add_directory("/OPENSTACK", rr_name="openstack", joliet_path="/openstack")
    iso.add_directory("/OPENSTACK/LATEST", rr_name="latest", joliet_path="/openstack/latest")
    for number, (name, data) in enumerate(sorted(instance_metadata.documents(instance, network).items())):
        iso.add_fp(io.BytesIO(data), len(data), f"/OPENSTACK/LATEST/F{number}.;1", rr_name=name,
                   joliet_path=f"/openstack/latest/{name}")
    iso.write(str(path))
    iso.close()
