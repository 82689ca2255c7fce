"""The image store: hashes computed on the way in, and never a partial file left behind."""

import hashlib
import os

import pytest

from ncloud.daemons.api.image.store import FileStore, ImageTooLarge

DATA = os.urandom(3 * 65536 + 17)


def chunks(data: bytes, size: int = 65536):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_an_upload_is_stored_with_its_size_and_hashes(tmp_path):
    store = FileStore(tmp_path / "images")
    stored = store.put("img1", chunks(DATA), limit=len(DATA))
    assert stored.size == len(DATA)
    assert stored.checksum == hashlib.md5(DATA).hexdigest()
    assert stored.os_hash_value == hashlib.sha512(DATA).hexdigest()
    with store.open("img1") as handle:
        assert handle.read() == DATA
    assert os.listdir(tmp_path / "images") == ["img1"]
    store.delete("img1")
    store.delete("img1")  # twice is fine
    assert os.listdir(tmp_path / "images") == []


def test_an_upload_over_the_limit_leaves_nothing(tmp_path):
    store = FileStore(tmp_path / "images")
    with pytest.raises(ImageTooLarge, match=f"the limit is {len(DATA) - 1} bytes"):
        store.put("img1", chunks(DATA), limit=len(DATA) - 1)
    assert os.listdir(tmp_path / "images") == []


def test_an_upload_cut_off_mid_stream_leaves_nothing(tmp_path):
    store = FileStore(tmp_path / "images")

    def broken():
        yield DATA[:65536]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put("img1", broken(), limit=len(DATA))
    assert os.listdir(tmp_path / "images") == []
