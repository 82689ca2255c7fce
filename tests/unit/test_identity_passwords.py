"""Password hashes: salted argon2id, and every failure is just `False`."""

from ncloud.daemons.core.identity import passwords


def test_hashes_are_salted_argon2id_and_verify_only_the_right_secret():
    first, second = passwords.hash_secret("correct horse"), passwords.hash_secret("correct horse")
    assert first != second and first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(first, "correct horse") and passwords.verify(second, "correct horse")
    assert not passwords.verify(first, "correct horse ") and not passwords.verify(first, "")
    assert not passwords.needs_rehash(first)


def test_nothing_stored_or_a_broken_hash_never_verifies():
    assert not passwords.verify(None, "ncloud: no such user")  # not even the dummy's own secret
    assert not passwords.verify("not-a-hash", "x")
    assert not passwords.verify("$argon2id$v=19$m=19456,t=2,p=1$broken", "x")
