"""Token keys and tokens: Keystone's key repository semantics, and tokens nobody can forge or stretch."""

import datetime as dt
import json
import os
import stat

import pytest

from ncloud.daemons.core.identity import keys
from ncloud.daemons.core.identity.tokens import Token, TokenExpired, TokenNotValid, TokenProvider

HOUR = dt.timedelta(hours=1)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def repository(tmp_path):
    path = tmp_path / "token-keys"
    assert keys.setup(path, max_active_keys=3)
    return path


def test_setup_makes_a_private_staged_and_primary_key_once(repository):
    assert keys.key_numbers(repository) == [0, 1]
    assert stat.S_IMODE(os.stat(repository).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(repository / name).st_mode) for name in ("0", "1")} == {0o600}
    before = (repository / "1").read_bytes()
    assert not keys.setup(repository, max_active_keys=3)  # idempotent: existing keys are kept
    assert (repository / "1").read_bytes() == before


def test_rotation_promotes_the_staged_key_and_prunes_the_oldest(repository):
    staged = (repository / "0").read_bytes()
    assert keys.rotate(repository, max_active_keys=3) == 2
    assert (repository / "2").read_bytes() == staged
    assert keys.key_numbers(repository) == [0, 1, 2]
    keys.rotate(repository, max_active_keys=3)
    assert keys.key_numbers(repository) == [0, 2, 3]


def test_a_token_round_trips_with_everything_it_carries(repository):
    provider = TokenProvider(repository)
    issued = Token(user_id="u1", methods=("password",), project_id="p1", expires_at=now() + HOUR,
                   application_credential_id="ac1")
    token = provider.validate(provider.issue(issued))
    assert (token.user_id, token.methods, token.project_id, token.audit_ids, token.application_credential_id) == (
        "u1", ("password",), "p1", issued.audit_ids, "ac1")
    assert token.expires_at == issued.expires_at.replace(microsecond=0)
    assert abs(token.issued_at - now()) < dt.timedelta(seconds=5)


def test_a_domain_scoped_token_carries_its_domain_and_a_token_of_version_1_still_validates(repository):
    provider = TokenProvider(repository)
    token = provider.validate(provider.issue(Token(user_id="u1", methods=("password",), domain_id="d1",
                                                   expires_at=now() + HOUR)))
    assert (token.domain_id, token.project_id, token.scoped) == ("d1", None, True)
    # A token issued before the upgrade that added domain scope (payload version 1, 8 fields).
    expires = int((now() + HOUR).timestamp())
    old = [1, "u2", ["password"], "p2", expires, ["audit"], None, int(now().timestamp() * 1_000_000)]
    text = provider._keys().encrypt(json.dumps(old).encode()).decode().rstrip("=")
    token = provider.validate(text)
    assert (token.user_id, token.project_id, token.domain_id) == ("u2", "p2", None)
    for wrong in ([1, *old[1:], "d"], [2, *old[1:]], [3, *old[1:], None]):  # a length that is not its version's
        with pytest.raises(TokenNotValid):
            provider.validate(provider._keys().encrypt(json.dumps(wrong).encode()).decode())


def test_tokens_survive_rotations_while_their_key_is_kept(repository):
    provider = TokenProvider(repository)
    text = provider.issue(Token(user_id="u1", methods=("password",), expires_at=now() + HOUR))
    keys.rotate(repository, max_active_keys=3)  # its key is now a secondary
    assert provider.validate(text).user_id == "u1"
    keys.rotate(repository, max_active_keys=3)  # and now it is gone
    with pytest.raises(TokenNotValid):
        provider.validate(text)


def test_a_token_from_a_controller_that_rotated_first_is_accepted(tmp_path, repository):
    other = tmp_path / "copy"
    other.mkdir(mode=0o700)
    for name in os.listdir(repository):  # both controllers share the repository
        (other / name).write_bytes((repository / name).read_bytes())
    ours = TokenProvider(repository)
    ours.validate(ours.issue(Token(user_id="u", methods=("password",), expires_at=now() + HOUR)))  # keys loaded
    keys.rotate(other, max_active_keys=3)  # the other controller rotated, ours has not yet
    theirs = TokenProvider(other).issue(Token(user_id="u2", methods=("password",), expires_at=now() + HOUR))
    assert ours.validate(theirs).user_id == "u2"  # issued with our staged key


def test_tampered_truncated_foreign_and_expired_tokens_are_refused(tmp_path, repository):
    provider = TokenProvider(repository)
    text = provider.issue(Token(user_id="u1", methods=("password",), expires_at=now() + HOUR))
    flipped = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    foreign_keys = tmp_path / "foreign"
    keys.setup(foreign_keys, max_active_keys=3)
    foreign = TokenProvider(foreign_keys).issue(Token(user_id="u1", methods=("password",), expires_at=now() + HOUR))
    for bad in (flipped, text[:-10], foreign, "", "not-a-token", "x" * 5000):
        with pytest.raises(TokenNotValid):
            provider.validate(bad)
    late = provider.issue(Token(user_id="u1", methods=("password",), expires_at=now() + dt.timedelta(seconds=30)))
    with pytest.raises(TokenExpired):
        provider.validate(late, now=now() + dt.timedelta(minutes=1))


def test_a_repository_others_can_read_is_refused(repository):
    os.chmod(repository, 0o755)
    with pytest.raises(keys.KeyRepositoryError, match="readable by others"):
        TokenProvider(repository).issue(Token(user_id="u", methods=("password",), expires_at=now() + HOUR))


def test_a_missing_repository_says_how_to_create_it(tmp_path):
    with pytest.raises(keys.KeyRepositoryError, match="ncloud identity setup-keys"):
        keys.load(tmp_path / "nothing")
