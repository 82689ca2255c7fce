"""The libvirt driver: real KVM/QEMU guests on this host.

This module ties the parts together and holds the guest lifecycle; each concern lives beside it:
domain.py (what a guest's definition says, rendered from templates/domain.xml.j2), imagecache.py
and disks.py (images and disks), network.py (the host's flat network), host.py (inventory, power
states, diagnostics), migration.py (resize, cold and live migration), connection.py (libvirt, its
events, reconnects). Domain definitions are persistent, so guests outlive this service and libvirtd
restarts alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import libvirt

from ncloud.daemons.compute.virt.driver import ComputeDriver, InstanceInfo, InstanceNotOnHost, VirtError
from ncloud.daemons.compute.virt.libvirt import disks, domain, host, qemu_img
from ncloud.daemons.compute.virt.libvirt.connection import Connection
from ncloud.daemons.compute.virt.libvirt.host import UNDEFINE_FLAGS
from ncloud.daemons.compute.virt.libvirt.imagecache import ImageCache
from ncloud.daemons.compute.virt.libvirt.migration import ColdMigrations, LiveMigrations
from ncloud.daemons.compute.virt.libvirt.network import FlatNetwork
from ncloud.daemons.core.image_client import ImageClient

LOG = logging.getLogger(__name__)
CHUNK = 1024 * 1024
CONSOLE_KINDS = {"novnc": "vnc", "spice-html5": "spice"}


def _error(what: str, error: libvirt.libvirtError) -> VirtError:
    return VirtError(f"{what}: {error.get_error_message()}")


class LibvirtDriver(ColdMigrations, LiveMigrations, ComputeDriver):
    wants_network = True

    def __init__(self, conf, host_name: str, images: ImageClient):
        self.conf = conf
        self.host = host_name
        self.instances_dir = conf.instances_path
        self.cache = ImageCache(self.instances_dir / "_base", images, conf.libvirt.force_raw_images)
        self.virt_type = domain.virt_type(conf.libvirt.virt_type)
        self.connection = Connection(conf.libvirt.uri, on_lifecycle=self._lifecycle_event)
        self.network = FlatNetwork(conf) if conf.network.enabled else None
        self._spice: bool | None = None
        self._listener: Callable[[str], None] | None = None
        self._aborted: set[str] = set()  # live migrations aborted on request

    # -- host ----------------------------------------------------------------------------------
    def init_host(self, host: str) -> None:
        conn = self.connection.get()
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        if self.network is not None:
            self.network.setup(self._leases())
        LOG.info("libvirt driver on %s: %s, virt_type %s, instances in %s", self.host, self.connection.uri,
                 self.virt_type, self.instances_dir)
        if self.virt_type == "qemu":
            LOG.info("guests run under software emulation (TCG)%s: set [libvirt] virt_type = kvm on hosts with "
                     "hardware virtualisation", "" if self.conf.libvirt.virt_type else
                     " as no hardware KVM works here (/dev/kvm missing, not VT-x/AMD-V, or QEMU's dry run failed)")
        try:
            self._spice = "<value>spice</value>" in conn.getDomainCapabilities(None, None, None, self.virt_type)
        except libvirt.libvirtError:
            self._spice = False  # test:///default has no domain capabilities

    def cleanup_host(self) -> None:
        self.connection.close()

    def host_resources(self):
        return host.resources(self.connection.get(), self.host, self.instances_dir, self.virt_type,
                              self.conf.compute.my_ip)

    def set_lifecycle_listener(self, listener: Callable[[str], None]) -> None:
        """`listener(uuid)` is told a guest of this host changed power state (started, stopped, ...)."""
        self._listener = listener
        self.connection.get()

    def _lifecycle_event(self, uuid: str, event: int, detail: int) -> None:
        if self._listener is not None:
            self._listener(uuid)

    def _leases(self) -> dict[str, dict]:
        """The fixed IPs of this host's guests, from their folders: what dnsmasq must serve."""
        leases = {}
        for uuid in self.list_instances():
            network = disks.InstanceDir(self.instances_dir, uuid).state().get("network")
            if network:
                leases[uuid] = network
        return leases

    def list_instances(self) -> list[str]:
        """The guests of this host: the domains whose metadata names it (a libvirtd may be shared)."""
        return [dom.UUIDString() for dom in self.connection.get().listAllDomains(0)
                if domain.owner_host(self._metadata(dom)) == self.host]

    @staticmethod
    def _metadata(dom: libvirt.virDomain) -> str:
        """The ncloud metadata element of a domain ("" for a domain that is not ncloud's)."""
        try:
            return dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain.NAMESPACE, 0)
        except libvirt.libvirtError:
            return ""

    def _domain(self, instance: dict) -> libvirt.virDomain:
        try:
            return self.connection.get().lookupByUUIDString(instance["uuid"])
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise InstanceNotOnHost(f"instance {instance['uuid']} is not on host {self.host}") from None
            raise _error(f"looking up {instance['uuid']}", error) from None

    def get_info(self, instance: dict) -> InstanceInfo:
        return InstanceInfo(power_state=host.power_state(self._domain(instance)))

    # -- building ------------------------------------------------------------------------------
    def _guest(self, instance: dict, folder: disks.InstanceDir, rescue: bool = False) -> domain.GuestConfig:
        flavor = instance.get("flavor") or {}
        state = folder.state()
        network = state.get("network")
        nics = [domain.Nic(mac=network["mac"], tap=domain.tap_name(instance["uuid"]), bridge=self.network.bridge,
                           mtu=network.get("mtu") or 1500)] if network and self.network is not None else []
        libvirt_conf = self.conf.libvirt
        return domain.GuestConfig(
            uuid=instance["uuid"], name=domain.domain_name(instance["uuid"]),
            display_name=instance.get("display_name") or "", host=self.host,
            project_id=instance.get("project_id") or "", user_id=instance.get("user_id") or "",
            flavor_name=flavor.get("name", ""), vcpus=flavor.get("vcpus") or instance.get("vcpus") or 1,
            memory_mb=flavor.get("memory_mb") or instance.get("memory_mb") or 64,
            root_gb=flavor.get("root_gb", 0), image_id=state.get("image_id") or "",
            virt_type=self.virt_type, cpu_mode=domain.cpu_mode(libvirt_conf.cpu_mode, self.virt_type),
            cpu_model=libvirt_conf.cpu_model, console_log=str(folder.console_log),
            console_listen=libvirt_conf.vnc_listen, spice=bool(self._spice),
            disks=disks.guest_disks(folder, rescue=rescue), nics=nics)

    def _define(self, instance: dict, folder: disks.InstanceDir, rescue: bool = False) -> libvirt.virDomain:
        xml = domain.render(self._guest(instance, folder, rescue))
        (folder / "libvirt.xml").write_text(xml)
        try:
            return self.connection.get().defineXML(xml)
        except libvirt.libvirtError as error:
            raise _error(f"libvirt refused the definition of {instance['uuid']}", error) from None

    def _start(self, dom: libvirt.virDomain) -> None:
        try:
            dom.create()
        except libvirt.libvirtError as error:
            raise _error(f"starting {dom.UUIDString()} failed", error) from None

    def _prepare(self, instance: dict, image: dict) -> disks.InstanceDir:
        """The guest's folder with its disks, config drive and network lease, from `image`."""
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        folder.path.mkdir(parents=True, exist_ok=True)
        network = instance.get("network")
        with self.cache.use(image["id"]) as base:
            disks.root_disk(folder, base, (instance.get("flavor") or {}).get("root_gb", instance.get("root_gb", 0)))
        LOG.info("root disk of %s from image %s (cache %s)", instance["uuid"], image["id"],
                 "hit" if base.hit else "miss")
        disks.extra_disks(folder, self.cache, instance.get("flavor") or {})
        if instance.get("config_drive") or self.conf.compute.force_config_drive:
            disks.config_drive(folder, instance, network)
        folder.save_state(image_id=image["id"], disk_format=base.disk_format, network=network, rescue=False)
        if network and self.network is not None:
            self.network.plug(instance["uuid"], network)
        return folder

    def spawn(self, instance: dict, image: dict) -> None:
        if not image.get("id"):
            raise VirtError("the libvirt driver boots from images only (no image in the request)")
        folder = self._prepare(instance, image)
        self._start(self._define(instance, folder))

    def destroy(self, instance: dict) -> None:
        uuid = instance["uuid"]
        try:
            dom = self._domain(instance)
        except InstanceNotOnHost:
            dom = None
        if dom is not None:
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(UNDEFINE_FLAGS)
            except libvirt.libvirtError as error:
                if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise _error(f"removing {uuid} from libvirt failed", error) from None
        if self.network is not None:
            self.network.unplug(uuid)
        disks.InstanceDir(self.instances_dir, uuid).remove()

    def rebuild(self, instance: dict, image: dict) -> None:
        """A new root disk from `image`; the same domain, address and identity."""
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        dom = self._domain(instance)
        self._hard_stop(dom)
        for name in ("disk", "disk.eph0", "disk.swap", "disk.config"):
            (folder / name).unlink(missing_ok=True)
        instance = {**instance, "network": instance.get("network") or folder.state().get("network")}
        self._prepare(instance, image)
        self._start(self._define(instance, folder))

    def cache_image(self, image: dict) -> None:
        self.cache.fetch(image["id"])

    def clean_image_cache(self) -> list[str]:
        libvirt_conf = self.conf.libvirt
        return self.cache.clean(self.instances_dir, libvirt_conf.image_cache_max_age,
                                libvirt_conf.image_cache_max_gb * 1024 ** 3)

    # -- power ---------------------------------------------------------------------------------
    def _hard_stop(self, dom: libvirt.virDomain) -> None:
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as error:
            if dom.isActive():
                raise _error(f"stopping {dom.UUIDString()} failed", error) from None

    def _clean_stop(self, dom: libvirt.virDomain, timeout: float) -> bool:
        """The ACPI power button, then wait: True when the guest powered itself off in time."""
        if not dom.isActive():
            return True
        try:
            dom.shutdown()
        except libvirt.libvirtError as error:
            LOG.info("%s did not take the ACPI shutdown (%s)", dom.UUIDString(), error.get_error_message())
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not dom.isActive():
                return True
            time.sleep(0.5)
        return not dom.isActive()

    def power_off(self, instance: dict, timeout: float | None = None) -> None:
        """ACPI shutdown with `[libvirt] shutdown_timeout`, then pull the plug (Nova's clean shutdown)."""
        dom = self._domain(instance)
        timeout = self.conf.libvirt.shutdown_timeout if timeout is None else timeout
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)  # a suspended guest: its saved memory is dropped, as a stop would
        if timeout and self._clean_stop(dom, timeout):
            LOG.info("%s shut down cleanly", instance["uuid"])
            return
        if dom.isActive():
            LOG.info("%s did not shut down within %.0fs: destroying it", instance["uuid"], timeout)
        self._hard_stop(dom)

    def power_on(self, instance: dict) -> None:
        dom = self._domain(instance)
        if not dom.isActive():
            self._start(dom)

    def reboot(self, instance: dict, hard: bool) -> None:
        """Soft: a clean shutdown, then start (the guest's own reboot path is not trusted to exist);
        hard, or when the soft one times out: destroy and start."""
        dom = self._domain(instance)
        if not hard and dom.isActive() and self._clean_stop(dom, self.conf.libvirt.shutdown_timeout):
            self._start(dom)
            return
        self._hard_stop(dom)
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)
        self._start(dom)

    def pause(self, instance: dict) -> None:
        try:
            self._domain(instance).suspend()
        except libvirt.libvirtError as error:
            raise _error(f"pausing {instance['uuid']} failed", error) from None

    def unpause(self, instance: dict) -> None:
        try:
            self._domain(instance).resume()
        except libvirt.libvirtError as error:
            raise _error(f"unpausing {instance['uuid']} failed", error) from None

    def suspend(self, instance: dict) -> None:
        """Managed save: memory to disk, the guest stops; `resume` restores it where it was."""
        try:
            self._domain(instance).managedSave(0)
        except libvirt.libvirtError as error:
            raise _error(f"suspending {instance['uuid']} failed", error) from None

    def resume(self, instance: dict) -> None:
        dom = self._domain(instance)
        if not dom.isActive():
            self._start(dom)  # restores the managed save image

    # -- rescue ----------------------------------------------------------------------------------
    def rescue(self, instance: dict, image: dict) -> None:
        """Boot from a fresh disk of the rescue image, the guest's own disk attached second."""
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        dom = self._domain(instance)
        self._hard_stop(dom)
        with self.cache.use(image["id"]) as base:
            disks.root_disk(folder, base, 0, name="disk.rescue")
        folder.save_state(rescue=True)
        self._start(self._define(instance, folder, rescue=True))

    def unrescue(self, instance: dict) -> None:
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        self._hard_stop(self._domain(instance))
        (folder / "disk.rescue").unlink(missing_ok=True)
        folder.save_state(rescue=False)
        self._start(self._define(instance, folder))

    # -- images of the guest ---------------------------------------------------------------------
    def snapshot(self, instance: dict) -> Iterator[bytes]:
        """The root disk flattened into one image of the format the server's image had. A running
        guest keeps running: libvirt's push backup copies the disk as it was at one instant while
        the guest goes on writing. Where that is not available the guest is paused for the copy
        and resumed after it (it keeps its memory and state either way)."""
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        dom = self._domain(instance)
        fmt = folder.state().get("disk_format", "qcow2")
        copy, target = folder / "snapshot.qcow2", folder / "snapshot.tmp"
        copy.unlink(missing_ok=True)
        try:
            started = time.monotonic()
            if dom.isActive() and self._live_copy(dom, copy):
                LOG.info("live copy of the disk of %s made in %.1fs, the guest running", instance["uuid"],
                         time.monotonic() - started)
                qemu_img.convert(copy, "qcow2", target, fmt)
            else:
                paused = dom.isActive() and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
                if paused:
                    dom.suspend()
                try:
                    qemu_img.convert(folder / "disk", "qcow2", target, fmt)
                finally:
                    if paused:
                        dom.resume()
        finally:
            copy.unlink(missing_ok=True)
        return self._stream(target)

    def _live_copy(self, dom: libvirt.virDomain, copy, timeout: float = 3600) -> bool:
        """A point-in-time copy of the running guest's root disk (vda) into `copy` (qcow2, whole);
        False when libvirt or QEMU cannot do it here."""
        others = "".join(f"<disk name='{target}' backup='no'/>" for target in domain.disk_targets(dom.XMLDesc(0))
                         if target != "vda")
        xml = (f"<domainbackup><disks><disk name='vda' backup='yes' type='file'><driver type='qcow2'/>"
               f"<target file='{copy}'/></disk>{others}</disks></domainbackup>")
        try:
            dom.backupBegin(xml, None, 0)
        except libvirt.libvirtError as error:
            LOG.info("no live copy of %s (%s): pausing it for the snapshot", dom.UUIDString(),
                     error.get_error_message())
            return False
        deadline = time.monotonic() + timeout
        while dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
            if time.monotonic() > deadline:
                dom.abortJob()
                raise VirtError(f"the live copy of {dom.UUIDString()}'s disk did not finish within {timeout:.0f}s")
            time.sleep(0.2)
        stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        if stats.get("type") != libvirt.VIR_DOMAIN_JOB_COMPLETED:
            reason = stats.get("errmsg", "no reason given")
            raise VirtError(f"the live copy of {dom.UUIDString()}'s disk failed: {reason}")
        return True

    @staticmethod
    def _stream(path) -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        finally:
            path.unlink(missing_ok=True)

    # -- consoles and diagnostics ----------------------------------------------------------------
    def get_console_output(self, instance: dict) -> str:
        self._domain(instance)
        log = disks.InstanceDir(self.instances_dir, instance["uuid"]).console_log
        limit = self.conf.libvirt.console_log_bytes
        try:
            with open(log, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - limit))
                data = f.read()
        except FileNotFoundError:
            return ""
        return data.decode(errors="replace").replace("\r\n", "\n")

    def get_console(self, instance: dict, console_type: str) -> dict:
        kind = CONSOLE_KINDS.get(console_type)
        if kind is None:
            raise VirtError(f"the libvirt driver offers novnc and spice-html5 consoles, not {console_type}")
        dom = self._domain(instance)
        if not dom.isActive():
            raise VirtError(f"instance {instance['uuid']} is not running: its console is not listening")
        found = domain.graphics(dom.XMLDesc(0), kind)
        if found is None:
            raise VirtError(f"instance {instance['uuid']} has no {kind} console")
        address, port = found
        if address in ("0.0.0.0", "::"):
            address = self.conf.compute.my_ip
        return {"host": address, "port": port, "internal_access_path": None}

    def get_diagnostics(self, instance: dict) -> dict:
        dom = self._domain(instance)
        xml = dom.XMLDesc(0)
        folder = disks.InstanceDir(self.instances_dir, instance["uuid"])
        return host.diagnostics(dom, self.virt_type, (folder / "disk.config").exists(), domain.disk_targets(xml),
                                domain.interface_targets(xml), None)
