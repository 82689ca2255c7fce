"""The token cache: per cloud and credentials, private to the user, never past its use-by time."""

from __future__ import annotations

import time

from ncloud.cli.cloud import tokens


def test_a_cached_login_is_reused_until_shortly_before_it_expires(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = tokens.cache_key("work", "password", {"auth_url": "http://c", "username": "ann", "password": "pw"})
    now = time.time()
    tokens.save(key, {"token": "t", "expires_at": now + 3600})
    assert tokens.load(key, now)["token"] == "t"
    assert tokens.load(key, now + 3600 - tokens.REFRESH_MARGIN + 1) is None
    path = tmp_path / "ncloud" / "tokens" / f"{key}.json"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    tokens.drop(key)
    assert tokens.load(key, now) is None


def test_other_credentials_never_find_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    auth = {"auth_url": "http://c", "username": "ann", "password": "pw", "project_name": "web"}
    key = tokens.cache_key("work", "password", auth)
    assert key.startswith("work-")
    for changed in ({"password": "wrong"}, {"project_name": "db"}, {"auth_url": "http://d"}):
        assert tokens.cache_key("work", "password", {**auth, **changed}) != key
    assert tokens.cache_key("home", "password", auth) != key


def test_a_damaged_cache_file_is_no_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "ncloud" / "tokens").mkdir(parents=True)
    (tmp_path / "ncloud" / "tokens" / "k.json").write_text("{not json")
    assert tokens.load("k") is None
