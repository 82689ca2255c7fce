"""`ncloud genpwd` and `ncloud mergepwd`: the deployment's secrets, made once, never overwritten."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from ncloud.cli.deploy import passwords


def ncloud(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "ncloud"), *args], capture_output=True, text=True)


def test_genpwd_writes_every_secret_privately(tmp_path):
    path = tmp_path / "passwords.yml"
    done = ncloud("genpwd", "-p", str(path))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert set(data) == set(passwords.SECRETS)
    assert len(data["ncloud_database_password"]) == 32 and data["ncloud_database_password"].isalnum()
    assert len({data["ncloud_database_password"], data["ncloud_rabbitmq_password"], data["ncloud_admin_password"]}) == 3
    assert len(data["ncloud_token_keys"]) == 2
    for key in data["ncloud_token_keys"]:
        Fernet(key.encode())  # a valid Fernet key, or this raises
    assert data["ncloud_migration_ssh_key"]["private"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert data["ncloud_migration_ssh_key"]["public"].startswith("ssh-ed25519 ")


def test_the_migration_key_is_a_working_ssh_key_pair(tmp_path):
    path = tmp_path / "passwords.yml"
    passwords.generate(path)
    key = yaml.safe_load(path.read_text())["ncloud_migration_ssh_key"]
    private = tmp_path / "key"
    private.write_text(key["private"])
    private.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == key["public"].split()[:2]


def test_genpwd_again_changes_nothing_and_fills_only_what_is_missing(tmp_path):
    path = tmp_path / "passwords.yml"
    passwords.generate(path)
    first = yaml.safe_load(path.read_text())
    again = ncloud("genpwd", "-p", str(path))
    assert "nothing changed" in again.stdout
    assert yaml.safe_load(path.read_text()) == first
    edited = dict(first, ncloud_admin_password="chosen-by-the-operator", ncloud_rabbitmq_password="")
    del edited["ncloud_metadata_secret"]
    path.write_text(yaml.safe_dump(edited))
    done = ncloud("genpwd", "-p", str(path))
    assert "added ncloud_rabbitmq_password, ncloud_metadata_secret" in done.stdout
    now = yaml.safe_load(path.read_text())
    assert now["ncloud_admin_password"] == "chosen-by-the-operator"
    assert now["ncloud_database_password"] == first["ncloud_database_password"]
    assert now["ncloud_rabbitmq_password"] and now["ncloud_metadata_secret"]


def test_a_vault_encrypted_file_stays_encrypted(tmp_path):
    vault = tmp_path / "vault-pass"
    vault.write_text("open sesame\n")
    path = tmp_path / "passwords.yml"
    path.write_text(yaml.safe_dump({"ncloud_admin_password": "kept"}))
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(vault), str(path)], check=True, capture_output=True)
    refused = ncloud("genpwd", "-p", str(path))
    assert refused.returncode == 1 and "encrypted with ansible-vault: give --vault-password-file" in refused.stderr
    done = ncloud("genpwd", "-p", str(path), "--vault-password-file", str(vault))
    assert done.returncode == 0, done.stderr
    assert path.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    data, encrypted = passwords.load(path, "open sesame")
    assert encrypted and data["ncloud_admin_password"] == "kept" and set(data) == set(passwords.SECRETS)
    wrong = ncloud("genpwd", "-p", str(path), "--vault-password-file", str(tmp_path / "missing"))
    assert wrong.returncode == 1 and "cannot read the vault password file" in wrong.stderr


def test_mergepwd_keeps_the_old_values_and_takes_the_new_names(tmp_path):
    old, new, final = tmp_path / "old.yml", tmp_path / "new.yml", tmp_path / "final.yml"
    old.write_text(yaml.safe_dump({"ncloud_admin_password": "old-admin", "retired_secret": "x"}))
    passwords.generate(new)
    done = ncloud("mergepwd", "--old", str(old), "--new", str(new), "--final", str(final), "--clean")
    assert done.returncode == 0, done.stderr
    merged = yaml.safe_load(final.read_text())
    assert merged["ncloud_admin_password"] == "old-admin"
    assert "retired_secret" not in merged and set(merged) == set(passwords.SECRETS)
    assert "dropped: retired_secret" in done.stdout
    kept = ncloud("mergepwd", "--old", str(old), "--new", str(new), "--final", str(final))
    assert yaml.safe_load(final.read_text())["retired_secret"] == "x", kept.stdout
