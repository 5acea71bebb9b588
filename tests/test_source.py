"""Reading profile bytes: files, gzip members, caps, and the streamed form the decoder uses."""

from __future__ import annotations

import gzip

import pytest

from goinspect.errors import InputError, ProfileError
from goinspect.profile.source import MAX_BYTES_ENV, open_source, read_source


@pytest.fixture(scope="module")
def served_profile(fleet_service, tmp_path_factory, go_version) -> bytes:
    """A real gzip'd heap profile, exactly as a fleet program served it."""
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(1)
        return svc.heap_profile()


def test_gzip_and_plain_read_alike(served_profile, tmp_path):
    gz, plain = tmp_path / "p.pb.gz", tmp_path / "p.pb"
    gz.write_bytes(served_profile)
    plain.write_bytes(gzip.decompress(served_profile))
    assert read_source(str(gz), timeout=5) == read_source(str(plain), timeout=5) == gzip.decompress(served_profile)


def test_stream_chunks_repeatable_and_head(served_profile, tmp_path):
    path = tmp_path / "p.pb.gz"
    path.write_bytes(served_profile)
    stream = open_source(str(path), timeout=5)
    data = gzip.decompress(served_profile)
    assert b"".join(stream.chunks()) == data
    assert b"".join(stream.chunks()) == data  # a second pass inflates again
    assert stream.head(100) == data[:100]
    assert stream.head(len(data) + 10) == data


def test_trailing_garbage_after_gzip_is_ignored(served_profile, tmp_path):
    """As gzip(1) does: what follows a complete member and is not another member is dropped."""
    path = tmp_path / "p.pb.gz"
    path.write_bytes(served_profile + b"\n\n")
    assert read_source(str(path), timeout=5) == gzip.decompress(served_profile)


def test_cap_applies_to_plain_input_too(served_profile, tmp_path, monkeypatch):
    path = tmp_path / "p.pb"
    path.write_bytes(gzip.decompress(served_profile))
    monkeypatch.setenv(MAX_BYTES_ENV, "1000")
    with pytest.raises(InputError, match="larger than 1000 bytes"):
        read_source(str(path), timeout=5)
    monkeypatch.setenv(MAX_BYTES_ENV, "-5")
    with pytest.raises(InputError, match="positive"):
        read_source(str(path), timeout=5)


def test_gzip_of_nothing_is_empty(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(ProfileError, match="empty"):
        read_source(str(path), timeout=5)
