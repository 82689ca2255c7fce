"""Build the tiny guest image: a bootable disk made from Debian packages, no internet needed.

There is no cirros download where clouds are built offline, so the image is assembled from what
any Debian mirror (or a local apt cache) has: the cloud kernel, busybox-static for userland, and
syslinux, mtools and dosfstools to make the disk bootable without mounting anything (no loop
devices, no root needed for that part). Every package is fetched with `apt-get download` and
unpacked with `dpkg -x` into a cache folder, so the host needs nothing installed but apt.

The guest runs from its initramfs. At boot it prints `ncloud-tiny: booted` on the serial console,
brings eth0 up with DHCP (`ncloud-tiny: eth0 <address>`), reads the config drive when there is
one (`ncloud-tiny: config drive uuid=<instance id>`), runs its user data when that is a shell
script, and powers off cleanly on an ACPI power-button press (busybox acpid and init), so a stop
takes the polite path. The disk is MBR + one FAT partition with the kernel, the initramfs and
syslinux; about 30 MiB, 13 MiB as compressed qcow2.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

MARKER = "ncloud-tiny: booted"
PACKAGES = ("linux-image-cloud-amd64", "busybox-static", "syslinux", "syslinux-common", "mtools", "dosfstools")
# virtio for disks, network and consoles; isofs for the config drive; button and evdev for the
# ACPI power button. Their own dependencies are read from modules.dep.
MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "virtio_console", "isofs", "button", "evdev")
PARTITION_OFFSET = 1024 * 1024

INIT_RC = r"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp /var/log /var/run /mnt/config && mount -t devpts devpts /dev/pts
for module in $(cat /etc/modules); do insmod "/lib/modules/$module.ko" 2>/dev/null; done
hostname ncloud-tiny
echo "ncloud-tiny: booted"
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
    ip link set eth0 up
    udhcpc -i eth0 -q -n -t 20 -T 1 -s /etc/udhcpc.sh >/dev/null 2>&1 || echo "ncloud-tiny: eth0 no lease"
fi
for disk in /dev/vd? /dev/sr?; do
    [ -b "$disk" ] || continue
    if mount -t iso9660 -o ro "$disk" /mnt/config 2>/dev/null; then
        if [ -f /mnt/config/openstack/latest/meta_data.json ]; then
            uuid=$(sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p' /mnt/config/openstack/latest/meta_data.json)
            echo "ncloud-tiny: config drive uuid=$uuid"
            if head -c 2 /mnt/config/openstack/latest/user_data 2>/dev/null | grep -q '#!'; then
                cp /mnt/config/openstack/latest/user_data /tmp/user_data && chmod +x /tmp/user_data
                echo "ncloud-tiny: running user data"
                /tmp/user_data
            fi
            break
        fi
        umount /mnt/config
    fi
done
acpid
echo "ncloud-tiny: ready"
"""

UDHCPC = r"""#!/bin/sh
case "$1" in
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
        : > /etc/resolv.conf
        for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
        echo "ncloud-tiny: $interface $ip/${mask:-24}" > /dev/console ;;
esac
"""

INITTAB = """::sysinit:/etc/rc
ttyS0::respawn:/bin/cttyhack /bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/echo "ncloud-tiny: powering off"
::shutdown:/bin/umount -a -r
"""

SYSLINUX_CFG = """DEFAULT tiny
TIMEOUT 1
PROMPT 0
LABEL tiny
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=tty0 console=ttyS0,115200 quiet panic=5
"""


class BuildError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""


def _run(*command: str, cwd: Path | None = None, env: dict | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BuildError(f"{command[0]} is not installed (the tiny image is built on Debian or Ubuntu)") from None
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(command)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def fetch_packages(cache: Path) -> Path:
    """Download and unpack PACKAGES into cache/root once; later builds reuse it."""
    root = cache / "root"
    if (root / ".complete").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    # The meta package only depends on the versioned kernel package: download that too.
    depends = _run("apt-cache", "depends", "--no-recommends", "--no-suggests", "linux-image-cloud-amd64")
    kernel = [line.split(":", 1)[1].strip() for line in depends.splitlines()
              if line.strip().startswith("Depends:") and "linux-image-" in line]
    if not kernel:
        raise BuildError("apt knows no linux-image-cloud-amd64 kernel: run apt-get update, or add a Debian mirror")
    _run("apt-get", "download", "-q", *PACKAGES[1:], kernel[0], cwd=debs)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        _run("dpkg-deb", "-x", str(deb), str(root))
    (root / ".complete").touch()
    return root


def _module_order(modules_dir: Path) -> list[Path]:
    """MODULES and the modules they need, dependencies first.

    Read from each module's own `depends=` field (its .modinfo section): modules.dep is made by
    depmod at install time, and nothing here is installed.
    """
    paths = {path.name.removesuffix(".ko").replace("-", "_"): path for path in modules_dir.rglob("*.ko")}
    order: list[Path] = []

    def add(name: str) -> None:
        if name not in paths:
            raise BuildError(f"the kernel has no module {name}")
        if paths[name] in order:
            return
        found = re.search(rb"\0depends=([^\0]*)\0", paths[name].read_bytes())
        for need in filter(None, (found.group(1).decode() if found else "").split(",")):
            add(need.replace("-", "_"))
        order.append(paths[name])

    for module in MODULES:
        add(module)
    return order


def _initramfs(root: Path, work: Path) -> Path:
    kernel_dir = next((root / "lib" / "modules").iterdir())
    tree = work / "initramfs"
    for folder in ("bin", "sbin", "etc", "proc", "sys", "dev", "mnt", "tmp", "lib/modules", "usr/bin", "usr/sbin"):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "bin" / "busybox", tree / "bin" / "busybox")
    for applet in _run(str(root / "bin" / "busybox"), "--list-full").split():
        link = tree / applet
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(tree / "bin" / "busybox", link.parent))
    names = []
    for module in _module_order(kernel_dir):
        name = module.name.removesuffix(".ko")
        shutil.copy2(module, tree / "lib" / "modules" / module.name)
        names.append(name)
    (tree / "etc" / "modules").write_text("\n".join(names) + "\n")
    for name, text, mode in (("etc/rc", INIT_RC, 0o755), ("etc/udhcpc.sh", UDHCPC, 0o755),
                             ("etc/inittab", INITTAB, 0o644),
                             # busybox acpid runs /etc/acpi/<event> for the power button's press
                             ("etc/acpi/PWRF/00000080", "#!/bin/sh\npoweroff\n", 0o755)):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
        (tree / name).chmod(mode)
    (tree / "init").symlink_to("bin/busybox")
    files = sorted(str(path.relative_to(tree)) for path in tree.rglob("*"))
    archive = subprocess.run([str(root / "bin" / "busybox"), "cpio", "-o", "-H", "newc"], cwd=tree,
                             input="\n".join(files).encode(), capture_output=True, check=False)
    if archive.returncode != 0:
        raise BuildError(f"cpio failed: {archive.stderr.decode(errors='replace')}")
    initrd = work / "initrd.gz"
    initrd.write_bytes(gzip.compress(archive.stdout, compresslevel=6))
    return initrd


def _disk(root: Path, initrd: Path, work: Path, output: Path) -> None:
    kernel = next((root / "boot").glob("vmlinuz-*"))
    env = {**os.environ, "PATH": f"{root}/usr/bin:{root}/usr/sbin:{root}/sbin:{os.environ.get('PATH', '')}",
           "MTOOLS_SKIP_CHECK": "1"}
    size_mb = (kernel.stat().st_size + initrd.stat().st_size) // (1024 * 1024) + 4
    part = work / "part.img"
    with part.open("wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    _run(str(root / "sbin" / "mkfs.fat"), "-n", "NCLOUDTINY", str(part), env=env)
    cfg = work / "syslinux.cfg"
    cfg.write_text(SYSLINUX_CFG)
    shutil.copy2(kernel, work / "vmlinuz")
    _run(str(root / "usr" / "bin" / "mcopy"), "-i", str(part), str(work / "vmlinuz"), str(initrd), str(cfg), "::/",
         env=env)
    _run(str(root / "usr" / "bin" / "syslinux"), "--install", str(part), env=env)
    # MBR: syslinux's boot code, then one active FAT32 (LBA) partition from 1 MiB to the end.
    mbr = bytearray((root / "usr" / "lib" / "syslinux" / "mbr" / "mbr.bin").read_bytes().ljust(512, b"\0"))
    start, sectors = PARTITION_OFFSET // 512, part.stat().st_size // 512
    entry = bytes([0x80, 0xFE, 0xFF, 0xFF, 0x0C, 0xFE, 0xFF, 0xFF]) + start.to_bytes(4, "little") \
        + sectors.to_bytes(4, "little")
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    raw = work / "disk.raw"
    with raw.open("wb") as f:
        f.write(mbr)
        f.seek(PARTITION_OFFSET)
        with part.open("rb") as source:
            shutil.copyfileobj(source, f)
    if output.suffix == ".qcow2":
        _run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(output))
    else:
        shutil.move(raw, output)


def build(output: Path, cache: Path) -> Path:
    """Build the tiny image into `output` (qcow2 when it ends in .qcow2, raw otherwise)."""
    root = fetch_packages(cache)
    with tempfile.TemporaryDirectory(prefix="ncloud-tiny-") as tmp:
        work = Path(tmp)
        initrd = _initramfs(root, work)
        output.parent.mkdir(parents=True, exist_ok=True)
        _disk(root, initrd, work, output)
    return output


def upload(session, path: Path, name: str, visibility: str = "public") -> str:
    """The built image as a new image of the cloud (`session`: cli/cloud/session.py); its id."""
    from ncloud.cli.resources.image import create_from_file

    return create_from_file(session, name, path, visibility=visibility,
                            extra={"min_disk": 1, "min_ram": 64, "os_distro": "ncloud-tiny"})["id"]
