"""`ncloud image build-tiny`: the tiny guest built from Debian packages and uploaded to a cloud
named in clouds.yaml. Booting it is shown in tests/integration/test_libvirt_guests.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_compute_clients import osc, up
from tests.libvirt_host import TINY_CACHE

NCLOUD = str(Path(sys.executable).parent / "ncloud")


def test_build_tiny_writes_a_bootable_qcow2_and_uploads_it_to_the_cloud(tmp_path):
    (tmp_path / "cloud").mkdir()
    with up(tmp_path / "cloud") as cloud:
        image = tmp_path / "tiny.qcow2"
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud / "clouds.yaml")}
        result = subprocess.run([NCLOUD, "image", "build-tiny", "--output", str(image), "--cache",
                                 str(TINY_CACHE / "packages"), "--upload", "--os-cloud", "ncloud", "--name", "tiny"],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"built {image}" in result.stdout and "uploaded as image tiny (" in result.stdout
        info = json.loads(subprocess.run(["qemu-img", "info", "--output", "json", str(image)], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] < 64 * 1024 ** 2
        shown = json.loads(osc(cloud, "image", "show", "-f", "json", "tiny").stdout)
        assert (shown["status"], shown["disk_format"], shown["visibility"]) == ("active", "qcow2", "public")
        assert shown["size"] == image.stat().st_size


def test_build_tiny_without_a_cloud_says_what_is_missing(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    result = subprocess.run([NCLOUD, "image", "build-tiny", "--output", str(tmp_path / "t.qcow2"), "--cache",
                             str(TINY_CACHE / "packages"), "--upload"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 4
    assert result.stderr == ("error: no cloud given: name one of clouds.yaml with --os-cloud or OS_CLOUD, or source "
                             "an openrc file (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...)\n")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "t.qcow2").exists()  # it said so before building anything
