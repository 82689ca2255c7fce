"""The wheels the hosts install ncloud from, built on the admin workstation.

Hosts then need no package index and no compiler: libvirt-python is compiled once, here. The
dependencies are built once per requirement set and Python version and cached under
`~/.cache/ncloud/wheelhouse`; ncloud's own wheel is rebuilt from the checkout at every run, with
SOURCE_DATE_EPOCH fixed so that unchanged sources give the same bytes and the hosts see no change.
Outside a checkout (ncloud installed from an index) pip downloads the same release's wheel.
The hosts receive it as one reproducible tar file (`archive`).

The wheels fit hosts with the workstation's Python minor version and architecture; the prechecks
say so when a host differs (or set ncloud_install_source=index).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ncloud.cli.deploy import content

EXTRAS = ("libvirt", "postgresql")
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip file can hold


class WheelhouseError(Exception):
    """A wheel could not be built or downloaded; the message has pip's last words."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ncloud" / "wheelhouse"


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def requirements() -> list[str]:
    """ncloud's dependencies with the extras the hosts use (libvirt on computes, postgresql)."""
    found = []
    for requirement in metadata.requires("ncloud") or []:
        name, _, marker = requirement.partition(";")
        marker = marker.strip()
        if marker and not any(f'extra == "{extra}"' in marker for extra in EXTRAS):
            continue
        found.append(name.strip())
    return sorted(set(found))


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH})
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise WheelhouseError(f"pip {' '.join(args[:2])} failed:\n{tail}")


def archive(folder: Path) -> Path:
    """The folder's wheels as one tar file, the same bytes for the same wheels (sorted names, no
    times or owners): the hosts copy one file, and nothing when nothing changed."""
    import tarfile

    target = folder.parent / f"{folder.name}.tar"
    partial = target.with_suffix(".tar.part")
    with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as tar:
        for wheel in sorted(folder.glob("*.whl")):
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
            with open(wheel, "rb") as handle:
                tar.addfile(info, handle)
    partial.replace(target)
    return target


def build(log=print) -> Path:
    """The wheelhouse folder: every dependency and exactly one ncloud wheel."""
    wanted = requirements()
    key = hashlib.sha256("\n".join([python_tag(), *wanted]).encode()).hexdigest()[:16]
    folder = cache_root() / f"{python_tag()}-{key}"
    if not (folder / ".complete").exists():
        log(f"building the dependency wheels in {folder} (once per requirement set)")
        folder.mkdir(parents=True, exist_ok=True)
        _pip("wheel", "--quiet", "--wheel-dir", str(folder), *wanted)
        (folder / ".complete").write_text("\n".join(wanted) + "\n")
    for old in folder.glob("ncloud-*.whl"):
        old.unlink()
    staging = folder / ".ncloud"
    shutil.rmtree(staging, ignore_errors=True)
    checkout = content.source_checkout()
    if checkout is not None:
        log(f"building ncloud's wheel from {checkout}")
        # setuptools builds in the checkout's build/ and never removes what it copied there
        # before: a module deleted since would still ship.
        shutil.rmtree(checkout / "build", ignore_errors=True)
        _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(staging), str(checkout))
    else:
        version = metadata.version("ncloud")
        log(f"downloading ncloud {version}")
        _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(staging), f"ncloud=={version}")
    for wheel in staging.glob("ncloud-*.whl"):
        wheel.rename(folder / wheel.name)
    shutil.rmtree(staging, ignore_errors=True)
    return folder
