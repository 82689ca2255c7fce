"""The token key repository: the Fernet keys every daemon reads to validate tokens locally.

The layout and the rotation are Keystone's, so operators' habits and tooling carry over. A
directory holds one key per file, named by number:

- `0` is the *staged* key: not used to issue tokens yet, but already accepted, so that a
  rotation on one controller never makes another controller's fresh tokens invalid while the
  repository is being copied to it;
- the highest number is the *primary* key, which issues every new token;
- the numbers between are *secondary* keys, kept only to validate tokens issued before the last
  rotations.

`rotate()` promotes the staged key to primary (the next number), stages a new key as `0`, and
removes the oldest secondaries beyond `max_active_keys` (staged + primary + secondaries). A token
stays valid across rotations as long as its key is kept: `max_active_keys` must exceed the number of
rotations in a token's lifetime plus two.

Files are written atomically (a temporary file renamed into place) with mode 0600 in a 0700
directory; a key is 32 random bytes, url-safe base64, as `cryptography`'s Fernet expects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

LOG = logging.getLogger(__name__)

STAGED = 0


class KeyRepositoryError(RuntimeError):
    """The key repository is missing, unreadable, or not private to its owner."""


def key_numbers(repository: Path) -> list[int]:
    """The numbers of the keys present, in ascending order (0, the staged key, first)."""
    try:
        names = os.listdir(repository)
    except FileNotFoundError:
        return []
    except OSError as error:
        raise KeyRepositoryError(f"cannot read the token key repository {repository}: {error}") from None
    return sorted(int(name) for name in names if name.isdigit())


def setup(repository: Path, max_active_keys: int) -> bool:
    """Create the repository with a staged and a primary key unless it has keys; True if created."""
    if key_numbers(repository):
        return False
    repository.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(repository, 0o700)
    _write_key(repository, STAGED)
    rotate(repository, max_active_keys)
    return True


def rotate(repository: Path, max_active_keys: int) -> int:
    """Promote the staged key to primary, stage a new one, prune; returns the new primary's number."""
    if max_active_keys < 2:
        raise KeyRepositoryError("max_active_keys must be at least 2 (a staged and a primary key)")
    numbers = key_numbers(repository)
    if STAGED not in numbers:
        raise KeyRepositoryError(f"no staged key (0) in {repository}: run 'ncloud identity setup-keys' first")
    primary = max(numbers) + 1
    os.replace(repository / str(STAGED), repository / str(primary))
    _write_key(repository, STAGED)
    kept = [STAGED, *sorted((n for n in numbers if n != STAGED), reverse=True)[: max_active_keys - 2], primary]
    for number in numbers:
        if number not in kept:
            with contextlib.suppress(FileNotFoundError):
                (repository / str(number)).unlink()
            LOG.info("removed token key %d from %s", number, repository)
    LOG.info("token key %d is now primary in %s", primary, repository)
    return primary


def load(repository: Path) -> MultiFernet:
    """Every key, the primary first (it encrypts; all of them decrypt)."""
    numbers = key_numbers(repository)
    if len(numbers) < 2:
        raise KeyRepositoryError(
            f"the token key repository {repository} has {len(numbers)} key(s), at least 2 are needed: "
            "run 'ncloud identity setup-keys' (or 'ncloud identity bootstrap')")
    mode = os.stat(repository).st_mode & 0o777
    if mode & 0o077:
        raise KeyRepositoryError(
            f"the token key repository {repository} is readable by others (mode {mode:o}): chmod 700 it")
    ordered = [numbers[-1], *reversed(numbers[:-1])]  # primary, newest secondaries, staged last
    try:
        return MultiFernet([Fernet((repository / str(number)).read_bytes().strip()) for number in ordered])
    except (OSError, ValueError) as error:
        raise KeyRepositoryError(f"cannot load the token keys in {repository}: {error}") from None


def _write_key(repository: Path, number: int) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=repository, prefix=".key-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, repository / str(number))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
