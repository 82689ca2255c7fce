"""qemu-img, the one tool that creates, inspects and converts guest disks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ncloud.daemons.compute.virt.driver import VirtError

QCOW2_MAGIC = b"QFI\xfb"


def _run(*args: str, timeout: float = 3600) -> str:
    try:
        done = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise VirtError("qemu-img is not installed on this host (Debian: apt-get install qemu-utils)") from None
    if done.returncode != 0:
        raise VirtError(f"qemu-img {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def info(path: Path, fmt: str | None = None) -> dict:
    """What qemu-img sees in the file (format probed unless given); -U: the file may be in use."""
    return json.loads(_run("info", "-U", "--output", "json", *(("-f", fmt) if fmt else ()), str(path)))


def create(path: Path, size_bytes: int | None = None, backing: Path | None = None,
           backing_format: str | None = None) -> None:
    """A qcow2 disk; an overlay of `backing` (an absolute path: a relative one would resolve against
    the overlay's folder) when given."""
    args = ["create", "-q", "-f", "qcow2"]
    if backing is not None:
        args += ["-F", backing_format or "raw", "-b", str(Path(backing).resolve())]
    args.append(str(path))
    if size_bytes is not None:
        args.append(str(size_bytes))
    _run(*args)


def resize(path: Path, size_bytes: int) -> None:
    _run("resize", "-q", "-f", "qcow2", str(path), str(size_bytes))


def convert(source: Path, source_format: str, dest: Path, dest_format: str, compress: bool = False) -> None:
    """A standalone copy (the backing chain flattened); -U lets it read a disk a paused guest holds."""
    _run("convert", "-U", "-f", source_format, "-O", dest_format, *(("-c",) if compress else ()),
         str(source), str(dest))


def rebase(path: Path, backing: Path, backing_format: str) -> None:
    """Point an overlay at a backing file with the same content in a new place (unsafe: no copy)."""
    _run("rebase", "-u", "-f", "qcow2", "-F", backing_format, "-b", str(Path(backing).resolve()), str(path))


def backing_file(path: Path) -> str | None:
    """The backing file a qcow2 names, read from its header (no process to start)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
            if len(header) < 20 or header[:4] != QCOW2_MAGIC:
                return None
            offset, size = int.from_bytes(header[8:16], "big"), int.from_bytes(header[16:20], "big")
            if not offset or not size:
                return None
            f.seek(offset)
            return f.read(size).decode(errors="replace")
    except OSError:
        return None
