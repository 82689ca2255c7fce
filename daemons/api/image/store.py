"""Where image bytes live: a local directory by default, behind a small store interface.

`put` streams an upload into a temporary file next to its final place, computing the size, the
md5 `checksum` and the sha512 `os_hash_value` on the way, and renames it into place only once
everything arrived within the size limit and reached the disk. Whatever goes wrong (the client
disconnects, the limit is passed, the disk fills), no partial file is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HASH_ALGO = "sha512"


class ImageTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"Image exceeds the storage quota: the limit is {limit} bytes.")
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    size: int
    checksum: str  # md5
    os_hash_value: str  # sha512


class FileStore:
    """Images as files named by their id under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def put(self, image_id: str, chunks: Iterable[bytes], limit: int) -> Stored:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o750)
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        descriptor, temporary = tempfile.mkstemp(dir=self.root, prefix=f".{image_id}.")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise ImageTooLarge(limit)
                    md5.update(chunk)
                    sha512.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path(image_id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return Stored(size=size, checksum=md5.hexdigest(), os_hash_value=sha512.hexdigest())

    def open(self, image_id: str) -> BinaryIO:
        return open(self.path(image_id), "rb")  # noqa: SIM115 - the caller streams and closes it

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(image_id).unlink()
