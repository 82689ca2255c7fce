"""`ncloud config ...`, `ncloud db ...` and `ncloud identity ...`, run as an operator runs them."""

import os
import subprocess
import sys
from pathlib import Path

NCLOUD = str(Path(sys.executable).parent / "ncloud")


def ncloud(*args, env=None):
    return subprocess.run([NCLOUD, *args], capture_output=True, text=True, env=env, timeout=60)


def test_config_validate_accepts_a_good_file(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text("[DEFAULT]\nhost = node1\n[scheduler]\nmax_attempts = 5\n")
    result = ncloud("config", "validate", str(path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{path}: valid"


def test_config_validate_names_line_and_suggestion_for_a_typo(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text("[DEFAULT]\nhost = node1\n\n[database]\nconection = sqlite://\n")
    result = ncloud("config", "validate", str(path))
    assert result.returncode == 2
    assert f"{path}:5: unknown option 'conection' in [database]; did you mean 'connection'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_sample_is_a_valid_file(tmp_path):
    sample = ncloud("config", "sample")
    assert sample.returncode == 0
    path = tmp_path / "sample.conf"
    path.write_text(sample.stdout)
    assert ncloud("config", "validate", str(path)).returncode == 0
    assert "#transport_url = memory://" in sample.stdout


def test_config_show_masks_secrets(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text("[database]\nconnection = mysql+pymysql://ncloud:hunter2@db/ncloud\n")
    result = ncloud("config", "show", "--config-file", str(path))
    assert result.returncode == 0
    assert "mysql+pymysql://ncloud:***@db/ncloud" in result.stdout
    assert "hunter2" not in result.stdout


def test_db_status_says_when_migrations_are_pending_and_sync_applies_them(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text(f"[database]\nconnection = sqlite:///{tmp_path / 'n.db'}\n")
    pending = ncloud("db", "status", "--config-file", str(path))
    assert pending.returncode == 1
    assert "migration(s) pending" in pending.stdout and "ncloud db sync" in pending.stdout
    assert ncloud("db", "sync", "--config-file", str(path)).returncode == 0
    current = ncloud("db", "status", "--config-file", str(path))
    assert current.returncode == 0
    assert "up to date" in current.stdout


def test_identity_keys_are_set_up_once_and_rotated(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    rotate_first = ncloud("identity", "rotate-keys", "--config-file", str(path))
    assert rotate_first.returncode == 1 and "ncloud identity setup-keys" in rotate_first.stderr
    created = ncloud("identity", "setup-keys", "--config-file", str(path))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"created token keys in {tmp_path / 'token-keys'}: primary 1, 2 keys"
    again = ncloud("identity", "setup-keys", "--config-file", str(path))
    assert again.stdout.startswith("kept the existing token keys")
    for expected in ("0, 1, 2", "0, 2, 3"):
        rotated = ncloud("identity", "rotate-keys", "--config-file", str(path))
        assert rotated.returncode == 0 and rotated.stdout.strip().endswith(f"keys: {expected}"), rotated


def test_identity_bootstrap_needs_a_password_then_creates_keys_and_admin(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\nhost = ctl1\n")
    assert ncloud("db", "sync", "--config-file", str(path)).returncode == 0
    missing = ncloud("identity", "bootstrap", "--config-file", str(path))
    assert missing.returncode == 1 and "[identity] admin_password is empty" in missing.stderr
    done = ncloud("identity", "bootstrap", "--config-file", str(path),
                  env={**os.environ, "NCLOUD_IDENTITY__ADMIN_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("user admin (") and "identity at http://ctl1:8774/identity/v3" in done.stdout
    assert sorted(os.listdir(tmp_path / "token-keys")) == ["0", "1"]


def test_help_lists_the_commands():
    result = ncloud("--help")
    assert result.returncode == 0
    for command in ("up", "config", "db", "identity"):
        assert command in result.stdout


def test_a_daemon_of_its_own_refuses_the_in_process_transport(tmp_path):
    path = tmp_path / "ncloud.conf"
    path.write_text(f"[database]\nconnection = sqlite:///{tmp_path / 'n.db'}\n")
    result = subprocess.run([str(Path(sys.executable).parent / "ncloud-conductor"), "--config-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "transport_url is memory://, which only reaches daemons in the same process" in result.stderr
