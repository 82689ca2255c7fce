"""Password and secret hashing: argon2id, the Password Hashing Competition's winner.

Parameters are OWASP's recommendation for argon2id (19 MiB of memory, 2 passes, 1 lane): about
30 ms per check on these machines, slow enough to make guessing expensive and fast enough
that logging in is not. The parameters live in each hash (PHC string format), so they can be
raised later: `needs_rehash` tells when a stored hash was made with weaker ones.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Checked when the user or secret does not exist, so that answering takes as long either way.
_DUMMY = _HASHER.hash("ncloud: no such user")


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify(stored: str | None, secret: str) -> bool:
    """True when `secret` matches `stored`; with nothing stored, False after the same work."""
    try:
        return _HASHER.verify(stored or _DUMMY, secret) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
