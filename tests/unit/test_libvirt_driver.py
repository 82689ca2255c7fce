"""The libvirt driver against libvirt's built-in mock hypervisor (test:///default): definitions,
disks, the image cache and the lifecycle calls, fast and without QEMU. The real guests are in
tests/integration/test_libvirt_guests.py.

The image service is a stand-in serving real qcow2 data (made by qemu-img) with its sha512, so
what is checked is the driver's own work: downloads, digests, formats, overlays.
"""

import contextlib
import hashlib
import json
import subprocess
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pycdlib
import pytest

from ncloud.daemons.compute.virt.driver import InstanceNotOnHost, VirtError
from ncloud.daemons.compute.virt.libvirt import domain, qemu_img
from ncloud.daemons.compute.virt.libvirt.driver import LibvirtDriver
from ncloud.daemons.compute.virt.libvirt.imagecache import base_name
from ncloud.daemons.core import config, states

FLAVOR = {"name": "m1.tiny", "vcpus": 1, "memory_mb": 128, "root_gb": 1, "ephemeral_gb": 0, "swap": 0}


class Images:
    """Stands in for core.image_client.ImageClient: images by id, downloads counted."""

    def __init__(self):
        self.records: dict[str, dict] = {}
        self.data: dict[str, bytes] = {}
        self.downloads = 0

    def add(self, data: bytes, disk_format: str, digest: str | None = None) -> str:
        image_id = str(uuidlib.uuid4())
        self.records[image_id] = {"id": image_id, "status": "active", "disk_format": disk_format,
                                  "os_hash_algo": "sha512",
                                  "os_hash_value": digest or hashlib.sha512(data).hexdigest()}
        self.data[image_id] = data
        return image_id

    def get(self, image_id):
        return self.records[image_id]

    @contextlib.contextmanager
    def download(self, image_id):
        self.downloads += 1
        data = self.data[image_id]
        yield iter([data[i:i + 65536] for i in range(0, len(data), 65536)])


@pytest.fixture(scope="module")
def qcow2_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path.read_bytes()


@pytest.fixture
def images():
    return Images()


def make_driver(tmp_path, images, host="host1", **libvirt_options):
    conf = config.load(None, environ={}, overrides={
        "DEFAULT": {"state_path": str(tmp_path)},
        "libvirt": {"uri": "test:///default", "virt_type": "qemu", "shutdown_timeout": 1, **libvirt_options},
        "network": {"enabled": False}})
    driver = LibvirtDriver(conf, host, images)
    driver.init_host(host)
    return driver


@pytest.fixture
def driver(tmp_path, images):
    driver = make_driver(tmp_path, images)
    yield driver
    conn = driver.connection.get()  # test:///default is one state per process: leave it clean
    for dom in conn.listAllDomains(0):
        if dom.name().startswith("ncloud-"):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    driver.cleanup_host()


def instance(**extra):
    return {"uuid": str(uuidlib.uuid4()), "display_name": "web-1", "project_id": "p1", "user_id": "u1",
            "flavor": dict(FLAVOR), "root_gb": 1, "config_drive": False, "user_data": None, **extra}


def test_spawn_defines_a_persistent_guest_named_after_the_instance_with_an_overlay_of_the_cached_image(
        driver, images, qcow2_image):
    image_id = images.add(qcow2_image, "qcow2")
    server = instance()
    driver.spawn(server, {"id": image_id})

    dom = driver.connection.get().lookupByUUIDString(server["uuid"])
    assert dom.isPersistent() and dom.isActive()
    assert dom.name() == f"ncloud-{server['uuid']}"
    xml = ET.fromstring(dom.XMLDesc(0))
    assert xml.get("type") == "qemu"
    assert xml.find("memory").text == str(128 * 1024)  # KiB as libvirt stores it
    metadata = ET.fromstring(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain.NAMESPACE, 0))
    assert metadata.findtext("host") == "host1" and metadata.findtext("name") == "web-1"
    disk = xml.find("devices/disk")
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}
    folder = driver.instances_dir / server["uuid"]
    assert disk.find("source").get("file") == str(folder / "disk")
    serial_log = xml.find("devices/serial/log")
    assert serial_log.get("file") == str(folder / "console.log")
    assert xml.find("devices/graphics").get("type") == "vnc"
    # The overlay: qcow2 of the flavor's 1 GiB, backed by the image in _base, converted to raw once.
    info = qemu_img.info(folder / "disk", "qcow2")
    assert info["virtual-size"] == 1024 ** 3
    assert info["backing-filename"] == str(driver.instances_dir / "_base" / base_name(image_id))
    assert qemu_img.info(driver.instances_dir / "_base" / base_name(image_id))["format"] == "raw"
    assert driver.list_instances() == [server["uuid"]]
    assert driver.get_info(server).power_state == states.RUNNING


def test_a_host_lists_only_its_own_guests_when_libvirtd_is_shared(tmp_path, driver, images, qcow2_image):
    other = make_driver(tmp_path / "other", images, host="host2")
    image_id = images.add(qcow2_image, "qcow2")
    mine, theirs = instance(), instance()
    driver.spawn(mine, {"id": image_id})
    other.spawn(theirs, {"id": image_id})
    assert driver.list_instances() == [mine["uuid"]]
    assert other.list_instances() == [theirs["uuid"]]


def test_the_image_is_downloaded_once_and_shared_by_every_guest_that_uses_it(driver, images, qcow2_image):
    image_id = images.add(qcow2_image, "qcow2")
    first, second = instance(), instance()
    driver.spawn(first, {"id": image_id})
    driver.spawn(second, {"id": image_id})
    assert images.downloads == 1
    backing = {qemu_img.backing_file(driver.instances_dir / uuid / "disk") for uuid in (first["uuid"], second["uuid"])}
    assert len(backing) == 1


def test_a_corrupt_image_fails_the_spawn_with_a_clear_reason_and_leaves_no_cache_entry(driver, images, qcow2_image):
    image_id = images.add(qcow2_image, "qcow2", digest="0" * 128)
    with pytest.raises(VirtError, match=f"Image {image_id} is corrupt: the sha512 digest"):
        driver.spawn(instance(), {"id": image_id})
    leftovers = [path.name for path in (driver.instances_dir / "_base").iterdir() if not path.name.endswith(".lock")]
    assert leftovers == []


def test_an_image_whose_data_is_not_its_claimed_format_is_refused(driver, images, qcow2_image):
    image_id = images.add(qcow2_image, "raw")  # qcow2 data sold as raw could name any host file as backing
    with pytest.raises(VirtError, match="claims disk_format raw but its data is qcow2"):
        driver.spawn(instance(), {"id": image_id})


def test_a_flavor_disk_smaller_than_the_image_is_refused(driver, images, tmp_path):
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "2G"], check=True)
    image_id = images.add(big.read_bytes(), "qcow2")
    with pytest.raises(VirtError, match="Flavor's disk is too small for requested image"):
        driver.spawn(instance(), {"id": image_id})


def test_power_actions_change_the_guest_and_its_reported_power_state(driver, images, qcow2_image):
    server = instance()
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    steps = [("power_off", states.SHUTDOWN), ("power_on", states.RUNNING), ("pause", states.PAUSED_POWER),
             ("unpause", states.RUNNING), ("suspend", states.SUSPENDED_POWER), ("resume", states.RUNNING)]
    for method, expected in steps:
        getattr(driver, method)(server)
        assert driver.get_info(server).power_state == expected, method
    driver.reboot(server, hard=True)
    assert driver.get_info(server).power_state == states.RUNNING
    dom = driver.connection.get().lookupByUUIDString(server["uuid"])
    assert not dom.hasManagedSaveImage(0)  # resumed: the saved memory is consumed


def test_destroy_removes_the_guest_and_its_folder_and_can_be_repeated(driver, images, qcow2_image):
    server = instance()
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    driver.suspend(server)  # a managed save image must go too
    driver.destroy(server)
    driver.destroy(server)
    with pytest.raises(InstanceNotOnHost):
        driver.get_info(server)
    assert not (driver.instances_dir / server["uuid"]).exists()
    assert driver.list_instances() == []


def test_the_config_drive_carries_the_openstack_metadata_documents(driver, images, qcow2_image):
    server = instance(config_drive=True, user_data="IyEvYmluL3NoCmVjaG8gaGVsbG8K", key_name="mykey",
                      key_data="ssh-ed25519 AAAAC3 me@host", metadata_={"role": "web"})
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    iso = pycdlib.PyCdlib()
    iso.open(str(driver.instances_dir / server["uuid"] / "disk.config"))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "config-2"

        def read(name):
            import io
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/openstack/latest/{name}")
            return out.getvalue()
        meta = json.loads(read("meta_data.json"))
        assert read("user_data") == b"#!/bin/sh\necho hello\n"
    finally:
        iso.close()
    assert meta["uuid"] == server["uuid"] and meta["name"] == "web-1" and meta["meta"] == {"role": "web"}
    assert meta["public_keys"] == {"mykey": "ssh-ed25519 AAAAC3 me@host"}
    xml = ET.fromstring(driver.connection.get().lookupByUUIDString(server["uuid"]).XMLDesc(0))
    targets = {disk.find("target").get("dev"): disk for disk in xml.findall("devices/disk")}
    assert targets["vdb"].find("readonly") is not None


def test_ephemeral_and_swap_disks_follow_the_flavor(driver, images, qcow2_image):
    server = instance(flavor={**FLAVOR, "ephemeral_gb": 1, "swap": 64})
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    folder = driver.instances_dir / server["uuid"]
    assert qemu_img.info(folder / "disk.eph0", "qcow2")["virtual-size"] == 1024 ** 3
    assert qemu_img.info(folder / "disk.swap", "qcow2")["virtual-size"] == 64 * 1024 ** 2
    blkid = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(driver.instances_dir / "_base" / "swap_64")],
                           capture_output=True, text=True)
    assert blkid.stdout.strip() == "swap"
    xml = ET.fromstring(driver.connection.get().lookupByUUIDString(server["uuid"]).XMLDesc(0))
    assert [disk.find("target").get("dev") for disk in xml.findall("devices/disk")] == ["vda", "vdb", "vdc"]


def test_rescue_boots_the_rescue_image_first_and_unrescue_gives_the_guest_its_disk_back(
        driver, images, qcow2_image):
    server = instance()
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    driver.rescue(server, {"id": images.add(qcow2_image, "qcow2")})
    xml = ET.fromstring(driver.connection.get().lookupByUUIDString(server["uuid"]).XMLDesc(0))
    sources = [disk.find("source").get("file").rsplit("/", 1)[1] for disk in xml.findall("devices/disk")]
    assert sources == ["disk.rescue", "disk"]
    driver.unrescue(server)
    xml = ET.fromstring(driver.connection.get().lookupByUUIDString(server["uuid"]).XMLDesc(0))
    assert [disk.find("source").get("file").rsplit("/", 1)[1] for disk in xml.findall("devices/disk")] == ["disk"]
    assert not (driver.instances_dir / server["uuid"] / "disk.rescue").exists()


def test_the_image_cache_removes_old_unused_images_but_never_one_in_use(driver, images, qcow2_image):
    used_id, unused_id = images.add(qcow2_image, "qcow2"), images.add(qcow2_image + b"\0", "qcow2")
    driver.spawn(instance(), {"id": used_id})
    driver.cache_image({"id": unused_id})
    assert driver.clean_image_cache() == []  # both recently used
    driver.conf = driver.conf.with_overrides({"libvirt": {"image_cache_max_age": 0}})
    time.sleep(0.01)
    assert driver.clean_image_cache() == [unused_id]
    assert (driver.instances_dir / "_base" / base_name(used_id)).exists()
    assert not (driver.instances_dir / "_base" / base_name(unused_id)).exists()


def test_the_domain_definition_carries_nic_cpu_and_consoles_as_configured():
    guest = domain.GuestConfig(
        uuid="u-1", name="ncloud-u-1", display_name="a <b>", host="h", project_id="p", user_id="u",
        flavor_name="f", vcpus=2, memory_mb=256, root_gb=1, image_id="i", virt_type="kvm", cpu_mode="host-model",
        cpu_model="", console_log="/x/console.log", console_listen="0.0.0.0", spice=True,
        disks=[domain.Disk(path="/x/disk", target="vda", boot_order=1)],
        nics=[domain.Nic(mac="fa:16:3e:00:00:01", tap=domain.tap_name("u-1"), bridge="br0", mtu=1450)])
    xml = ET.fromstring(domain.render(guest))
    assert xml.get("type") == "kvm" and xml.findtext("uuid") == "u-1"
    assert xml.findtext("title") == "a <b>"  # escaped in the XML, intact when read
    assert xml.find("cpu").get("mode") == "host-model"
    interface = xml.find("devices/interface")
    assert interface.get("type") == "bridge" and interface.find("source").get("bridge") == "br0"
    assert interface.find("model").get("type") == "virtio" and interface.find("mtu").get("size") == "1450"
    assert [g.get("type") for g in xml.findall("devices/graphics")] == ["vnc", "spice"]
    assert domain.cpu_mode("", "qemu") == "maximum" and domain.cpu_mode("", "kvm") == "host-model"


@pytest.mark.parametrize(("modules", "hardware"), [(["kvm", "kvm_intel"], True), (["kvm", "kvm_amd"], True),
                                                    (["kvm", "kvm_pvm"], False), ([], False)])
def test_only_hardware_kvm_counts_as_kvm(tmp_path, modules, hardware):
    """A nested PVM host's /dev/kvm (these CI machines) kills stock guests: they get TCG."""
    for name in modules:
        (tmp_path / name).mkdir()
    assert domain.hardware_kvm(tmp_path) is hardware


def test_a_snapshot_is_the_root_disk_flattened_into_the_images_format(driver, images, qcow2_image, tmp_path):
    server = instance()
    driver.spawn(server, {"id": images.add(qcow2_image, "qcow2")})
    snapshot = tmp_path / "snapshot"
    snapshot.write_bytes(b"".join(driver.snapshot(server)))
    info = qemu_img.info(snapshot)
    assert info["format"] == "qcow2" and "backing-filename" not in info  # standalone
    assert info["virtual-size"] == 1024 ** 3  # the guest's disk, not the image's
    assert driver.get_info(server).power_state == states.RUNNING  # and the guest runs on
    assert not list((driver.instances_dir / server["uuid"]).glob("snapshot*"))


def test_the_host_offers_what_libvirt_reports(driver):
    conn = driver.connection.get()
    offered = driver.host_resources()
    assert offered.vcpus == conn.getInfo()[2] and offered.memory_mb > 0 and offered.local_gb > 0
    assert offered.hypervisor_type == "QEMU" and offered.hypervisor_version == conn.getVersion()
    assert offered.cpu_info["arch"] == "i686"  # test:///default's host


def test_an_embedded_hypervisor_gets_its_qemu_conf_and_refuses_a_root_too_long_for_qemus_sockets():
    import shutil
    import tempfile

    from ncloud.daemons.compute.virt.libvirt.connection import prepare_embed_root

    root = Path(tempfile.mkdtemp(prefix="ncq-", dir="/tmp"))
    try:
        prepare_embed_root(f"qemu:///embed?root={root}")
        assert 'stdio_handler = "file"' in (root / "etc" / "qemu.conf").read_text()
    finally:
        shutil.rmtree(root)
    with pytest.raises(VirtError, match="a socket's path has 108 at most"):
        prepare_embed_root(f"qemu:///embed?root=/tmp/{'x' * 60}")


def test_a_migrating_guest_s_consoles_move_to_the_destination_s_address():
    """Consoles bound to the source's own address would keep QEMU from starting on the destination."""
    from ncloud.daemons.compute.virt.libvirt import domain as domain_xml

    xml = (f'<domain><metadata><ncloud:instance xmlns:ncloud="{domain_xml.NAMESPACE}"><ncloud:host>node2</ncloud:host>'
           '</ncloud:instance></metadata><devices>'
           '<graphics type="vnc" listen="198.51.100.12"><listen type="address" address="198.51.100.12"/></graphics>'
           '<graphics type="spice" listen="0.0.0.0"/></devices></domain>')
    moved = domain_xml.with_host(xml, "node3", ("198.51.100.12", "198.51.100.13"))
    assert 'listen="198.51.100.13"' in moved and 'address="198.51.100.13"' in moved
    assert 'listen="0.0.0.0"' in moved  # a wildcard stays
    assert ">node3</ncloud:host>" in moved
    assert "198.51.100.13" not in domain_xml.with_host(xml, "node3")  # without `listen`: untouched
