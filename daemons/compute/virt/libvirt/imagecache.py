"""The host's image cache (`<instances_path>/_base`): each image fetched once, shared by its guests.

An image is streamed from the Image API into `<sha1 of its id>.part`, its digest checked against
the image's `os_hash_value` as it arrives, its real format checked against what the image claims
(a "raw" image that is really qcow2 could name a host file as its backing file), converted to raw
once if `force_raw_images`, and only then renamed into place: a failed or corrupt download leaves
nothing behind. Guests' root disks are qcow2 overlays whose backing file is the cached image, so
an image is in use exactly when some overlay under instances_path names it; cleanup never removes
those. A file lock per image makes two builds of the same image (even in two processes sharing the
folder) download it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ncloud.daemons.compute.virt.driver import VirtError
from ncloud.daemons.compute.virt.libvirt import qemu_img
from ncloud.daemons.core.image_client import ImageClient, ImageServiceError

LOG = logging.getLogger(__name__)
FORMATS = ("raw", "qcow2")


@dataclass(frozen=True)
class CachedImage:
    image_id: str
    path: Path
    format: str  # of the cached file: raw or qcow2
    disk_format: str  # as the image service has it (what a snapshot of its guests is stored as)
    virtual_size: int
    hit: bool  # it was in the cache already


def base_name(image_id: str) -> str:
    """Nova names its cached images the same way: the sha1 of the image id."""
    return hashlib.sha1(image_id.encode()).hexdigest()


class ImageCache:
    def __init__(self, base_dir: Path, images: ImageClient, force_raw: bool):
        self.base_dir = base_dir
        self.images = images
        self.force_raw = force_raw

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _info_path(self, name: str) -> Path:
        return self.base_dir / f"{name}.info"

    def cached(self, image_id: str) -> CachedImage | None:
        name = base_name(image_id)
        path, info_path = self.base_dir / name, self._info_path(name)
        if not (path.exists() and info_path.exists()):
            return None
        info = json.loads(info_path.read_text())
        return CachedImage(image_id, path, info["format"], info["disk_format"], info["virtual_size"], hit=True)

    @contextlib.contextmanager
    def use(self, image_id: str) -> Iterator[CachedImage]:
        """The image in the cache (fetched now if it is not), locked against cleanup until the
        caller has made the overlay that keeps it in use. Its use time is refreshed (LRU)."""
        name = base_name(image_id)
        with self._lock(name):
            found = self.cached(image_id)
            if found is None:
                found = self._download(image_id, name)
            os.utime(self._info_path(name))  # last used: the cleanup's clock
            yield found

    def fetch(self, image_id: str) -> CachedImage:
        """Have the image in the cache (pre-caching ahead of boots)."""
        with self.use(image_id) as found:
            return found

    def _download(self, image_id: str, name: str) -> CachedImage:
        try:
            record = self.images.get(image_id)
        except ImageServiceError as error:
            raise VirtError(f"Image {image_id} could not be read from the image service: {error}") from error
        if record.get("status") != "active":
            raise VirtError(f"Image {image_id} is {record.get('status')}, not active: it has no data to boot from.")
        disk_format = record.get("disk_format") or "raw"
        if disk_format not in FORMATS:
            raise VirtError(f"Image {image_id} has disk_format {disk_format}; this host boots raw and qcow2 images.")
        algo, expected = record.get("os_hash_algo") or "sha512", record.get("os_hash_value")
        part = self.base_dir / f"{name}.part"
        started = time.monotonic()
        try:
            digest = hashlib.new(algo)
            size = 0
            with self.images.download(image_id) as chunks, part.open("wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if expected and digest.hexdigest() != expected:
                raise VirtError(f"Image {image_id} is corrupt: the {algo} digest of its data "
                                f"({digest.hexdigest()[:16]}...) does not match its os_hash_value "
                                f"({expected[:16]}...).")
            actual = qemu_img.info(part)
            if actual["format"] != disk_format:
                raise VirtError(f"Image {image_id} claims disk_format {disk_format} but its data is "
                                f"{actual['format']}; refusing to boot it.")
            if actual.get("backing-filename"):
                raise VirtError(f"Image {image_id} has a backing file ({actual['backing-filename']}); "
                                "refusing to boot it.")
            path, cached_format = self.base_dir / name, disk_format
            if disk_format == "qcow2" and self.force_raw:
                converting = self.base_dir / f"{name}.converting"
                qemu_img.convert(part, "qcow2", converting, "raw")
                converting.rename(path)
                cached_format = "raw"
            else:
                part.rename(path)
        except ImageServiceError as error:
            raise VirtError(f"Image {image_id} could not be downloaded: {error}") from error
        finally:
            part.unlink(missing_ok=True)
            (self.base_dir / f"{name}.converting").unlink(missing_ok=True)
        self._info_path(name).write_text(json.dumps({
            "image_id": image_id, "format": cached_format, "disk_format": disk_format,
            "virtual_size": actual["virtual-size"], "size": size}))
        LOG.info("image %s fetched into the image cache (%d bytes, %s, %.2fs)", image_id, size, cached_format,
                 time.monotonic() - started)
        return CachedImage(image_id, path, cached_format, disk_format, actual["virtual-size"], hit=False)

    # -- cleanup -------------------------------------------------------------------------------
    def in_use(self, instances_dir: Path) -> set[str]:
        """Names of the cached images some guest's disk under instances_dir is backed by."""
        used = set()
        for disk in instances_dir.glob("*/disk*"):
            backing = qemu_img.backing_file(disk)
            if backing and Path(backing).parent == self.base_dir:
                used.add(Path(backing).name)
        return used

    def clean(self, instances_dir: Path, max_age: float, max_bytes: float = 0) -> list[str]:
        """Remove cached images no guest uses that were last used more than max_age seconds ago,
        then, while the cache is over max_bytes (0: no bound), unused ones least recently used
        first. Returns the image ids removed."""
        used = self.in_use(instances_dir)
        entries = []  # (last used, size, name, image id) of the unused ones
        total = 0
        for info_path in self.base_dir.glob("*.info"):
            name = info_path.name.removesuffix(".info")
            path = self.base_dir / name
            size = path.stat().st_size if path.exists() else 0
            total += size
            if name not in used:
                image_id = json.loads(info_path.read_text()).get("image_id", name)
                entries.append((info_path.stat().st_mtime, size, name, image_id))
        removed = []
        now = time.time()
        for last_used, size, name, image_id in sorted(entries):
            if now - last_used <= max_age and not (max_bytes and total > max_bytes):
                continue
            with self._lock(name):
                if name in self.in_use(instances_dir):  # a build took it meanwhile
                    continue
                (self.base_dir / name).unlink(missing_ok=True)
                self._info_path(name).unlink(missing_ok=True)
            total -= size
            removed.append(image_id)
            LOG.info("image %s removed from the image cache (unused for %.0fs)", image_id, now - last_used)
        return removed
