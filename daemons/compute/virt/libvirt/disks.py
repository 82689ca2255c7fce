"""A guest's folder under `[compute] instances_path` and the disks in it.

    <instances_path>/<uuid>/
        disk            qcow2 overlay of the cached image, sized to the flavor's root disk
        disk.eph0       ephemeral disk (ext4, label ephemeral0) when the flavor has one
        disk.swap       swap when the flavor asks for it
        disk.config     config drive (ISO 9660, config-2)
        disk.rescue     overlay of the rescue image while the server is rescued
        console.log     the serial console, as QEMU writes it
        instance.json   what this host remembers about the guest (image format, network, rescue)
        libvirt.xml     the domain as last defined, for operators

Ephemeral and swap disks are overlays too, of blank formatted bases cached per size in `_base`
(`ephemeral_<gb>_ext4`, `swap_<mb>`), made once by mkfs.ext4 / mkswap on a sparse file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ncloud.daemons.compute.virt.driver import VirtError
from ncloud.daemons.compute.virt.libvirt import configdrive, qemu_img
from ncloud.daemons.compute.virt.libvirt.domain import Disk
from ncloud.daemons.compute.virt.libvirt.imagecache import CachedImage, ImageCache

GiB = 1024 ** 3
MiB = 1024 ** 2


class InstanceDir:
    def __init__(self, instances_dir: Path, uuid: str):
        self.path = instances_dir / uuid
        self.uuid = uuid

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def console_log(self) -> Path:
        return self.path / "console.log"

    def state(self) -> dict:
        try:
            return json.loads((self.path / "instance.json").read_text())
        except (OSError, ValueError):
            return {}

    def save_state(self, **changes) -> dict:
        state = {**self.state(), **changes}
        (self.path / "instance.json").write_text(json.dumps(state, indent=1))
        return state

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def root_disk(folder: InstanceDir, base: CachedImage, root_gb: int, name: str = "disk") -> Path:
    """The qcow2 overlay of `base`: root_gb GiB, or the image's own size when the flavor says 0."""
    size = root_gb * GiB if root_gb else base.virtual_size
    if size < base.virtual_size:
        raise VirtError(f"Flavor's disk is too small for requested image: the image is "
                        f"{-(-base.virtual_size // GiB)} GiB, the flavor's root disk {root_gb} GiB.")
    path = folder / name
    path.unlink(missing_ok=True)
    qemu_img.create(path, size, backing=base.path, backing_format=base.format)
    return path


def _blank_base(cache: ImageCache, name: str, size: int, make: list[str]) -> Path:
    base = cache.base_dir / name
    if not base.exists():
        cache.base_dir.mkdir(parents=True, exist_ok=True)
        building = base.with_suffix(".building")
        with building.open("wb") as f:
            f.truncate(size)
        try:
            subprocess.run([*make, str(building)], capture_output=True, text=True, check=True)
        except FileNotFoundError:
            building.unlink(missing_ok=True)
            raise VirtError(f"{make[0]} is not installed on this host (Debian: e2fsprogs, util-linux)") from None
        except subprocess.CalledProcessError as error:
            building.unlink(missing_ok=True)
            raise VirtError(f"{make[0]} failed: {error.stderr.strip()}") from None
        building.rename(base)
    return base


def extra_disks(folder: InstanceDir, cache: ImageCache, flavor: dict) -> list[Path]:
    """The flavor's ephemeral and swap disks, made now if they are not there yet."""
    made = []
    ephemeral_gb, swap_mb = flavor.get("ephemeral_gb") or 0, flavor.get("swap") or 0
    if ephemeral_gb:
        base = _blank_base(cache, f"ephemeral_{ephemeral_gb}_ext4", ephemeral_gb * GiB,
                           ["mkfs.ext4", "-F", "-q", "-L", "ephemeral0", "-E", "nodiscard"])
        path = folder / "disk.eph0"
        if not path.exists():
            qemu_img.create(path, ephemeral_gb * GiB, backing=base, backing_format="raw")
        made.append(path)
    if swap_mb:
        base = _blank_base(cache, f"swap_{swap_mb}", swap_mb * MiB, ["mkswap", "-L", "swap0"])
        path = folder / "disk.swap"
        if not path.exists():
            qemu_img.create(path, swap_mb * MiB, backing=base, backing_format="raw")
        made.append(path)
    return made


def config_drive(folder: InstanceDir, instance: dict, network: dict | None) -> Path:
    path = folder / "disk.config"
    configdrive.write(path, instance, network)
    return path


def guest_disks(folder: InstanceDir, rescue: bool = False) -> list[Disk]:
    """The disks of the guest's definition, in the order the guest sees them (vda, vdb, ...)."""
    names = ["disk.rescue", "disk"] if rescue else ["disk"]
    names += [name for name in ("disk.eph0", "disk.swap") if (folder / name).exists()]
    disks = [Disk(path=str(folder / name), target=f"vd{chr(ord('a') + index)}", boot_order=1 if index == 0 else 0)
             for index, name in enumerate(names)]
    if (folder / "disk.config").exists():
        disks.append(Disk(path=str(folder / "disk.config"), target=f"vd{chr(ord('a') + len(disks))}", format="raw",
                          readonly=True))
    return disks
