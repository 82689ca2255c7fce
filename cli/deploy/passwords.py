"""The deployment's secrets, in one YAML file the playbooks read as extra variables.

`generate` fills in every secret the file lacks and never changes one it has, so running it again
(after an upgrade added a secret, say) is safe. `merge` carries the values of an old file into a
new release's file, as kolla-mergepwd does. The file may be encrypted with ansible-vault; both
then need the vault password, and the file stays encrypted.
"""

from __future__ import annotations

import os
import secrets
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

ALPHABET = string.ascii_letters + string.digits  # safe in URLs, SQL literals and shell words
VAULT_HEADER = b"$ANSIBLE_VAULT"


def _password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(32))


def _token_keys() -> list[str]:
    """Two Fernet keys: 0 (staged) and 1 (primary), the layout `ncloud identity setup-keys` makes."""
    from cryptography.fernet import Fernet

    return [Fernet.generate_key().decode() for _ in range(2)]


def _ssh_key() -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {"private": private, "public": f"{public.decode()} ncloud-migration"}


# Every secret of a deployment and how to make one.
SECRETS: dict[str, Callable[[], object]] = {
    "ncloud_database_password": _password,
    "ncloud_rabbitmq_password": _password,
    "ncloud_admin_password": _password,
    "ncloud_metadata_secret": _password,
    "ncloud_token_keys": _token_keys,
    "ncloud_migration_ssh_key": _ssh_key,
}


class PasswordsError(Exception):
    """The passwords file cannot be read or written; the message says why."""


def _vault(password: str):
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password.encode()))])


def load(path: Path, vault_password: str | None = None) -> tuple[dict, bool]:
    """The file's secrets (empty when it does not exist) and whether it was vault-encrypted."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, False
    except OSError as error:
        raise PasswordsError(f"cannot read {path}: {error}") from None
    encrypted = raw.lstrip().startswith(VAULT_HEADER)
    if encrypted:
        if vault_password is None:
            raise PasswordsError(f"{path} is encrypted with ansible-vault: give --vault-password-file")
        from ansible.errors import AnsibleError

        try:
            raw = _vault(vault_password).decrypt(raw)
        except AnsibleError as error:
            raise PasswordsError(f"cannot decrypt {path}: {error}") from None
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as error:
        raise PasswordsError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise PasswordsError(f"{path} must hold a mapping of names to secrets")
    return data, encrypted


class _Dumper(yaml.SafeDumper):
    """Multi-line values (the SSH key) as literal blocks, readable and diffable."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def save(path: Path, data: dict, encrypt_with: str | None = None) -> None:
    """Write atomically, mode 0600 (encrypted with the vault password when given)."""
    text = ("# ncloud's secrets (`ncloud genpwd`): keep this file private and backed up.\n"
            + yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False)).encode()
    if encrypt_with is not None:
        text = _vault(encrypt_with).encrypt(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def generate(path: Path, vault_password: str | None = None) -> list[str]:
    """Add every missing (or empty) secret; returns the names added. Existing values are kept."""
    data, encrypted = load(path, vault_password)
    added = [name for name in SECRETS if data.get(name) in (None, "", [], {})]
    for name in added:
        data[name] = SECRETS[name]()
    if added or not path.exists():
        save(path, data, vault_password if encrypted else None)
    return added


def merge(old: Path, new: Path, final: Path, clean: bool = False,
          vault_password: str | None = None) -> dict[str, list[str]]:
    """`new`'s names with `old`'s values where it has them, written to `final`; secrets `new` lacks
    are kept unless `clean`. Returns the names kept, taken from new, and dropped."""
    old_data, old_encrypted = load(old, vault_password)
    if not old_data:
        raise PasswordsError(f"{old} has no secrets to merge")
    new_data, _ = load(new, vault_password)
    merged = dict(new_data)
    kept, dropped = [], []
    for name, value in old_data.items():
        if name in new_data or not clean:
            merged[name] = value
            kept.append(name)
        else:
            dropped.append(name)
    taken = sorted(set(new_data) - set(old_data))
    save(final, merged, vault_password if old_encrypted else None)
    return {"kept": sorted(kept), "new": taken, "dropped": sorted(dropped)}
