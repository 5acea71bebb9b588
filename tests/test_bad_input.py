"""Bad input gives one clear error line, a non-zero exit and no traceback.

Run through the real command line (``python -m goinspect profile top ...`` in
a subprocess), on damaged copies of a real profile served by a fleet program,
on things that are not profiles, and on URLs that refuse, hang, trickle or 404.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from goinspect.errors import GoinspectError, InputError, ProfileError
from goinspect.profile import profile_pb2
from goinspect.profile.decode import decode
from goinspect.profile.load import load_profile
from goinspect.profile.source import inflate, read_source


def goinspect(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goinspect", *args], input=stdin.decode("latin-1") if stdin else None,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def assert_one_error_line(res: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exactly one stderr line, ``goinspect: error: ...``, non-zero exit, no traceback; returns the line."""
    assert res.returncode != 0, res.stdout[-500:]
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("goinspect: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def real_profile(fleet_service, tmp_path_factory, go_version) -> Path:
    path = tmp_path_factory.mktemp(f"bad-{go_version}") / "leakmap.pb.gz"
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(2)
        path.write_bytes(svc.heap_profile())
    return path


def test_real_profile_is_accepted_from_file_and_stdin(real_profile):
    assert goinspect("profile", "top", str(real_profile)).returncode == 0
    res = subprocess.run([sys.executable, "-m", "goinspect", "profile", "top", "-"], stdin=real_profile.open("rb"),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_empty(tmp_path):
    empty = tmp_path / "empty.pb.gz"
    empty.write_bytes(b"")
    assert_one_error_line(goinspect("profile", "top", str(empty)), "empty")
    assert_one_error_line(goinspect("profile", "top", "-", stdin=b""), "empty")
    empty_gzip = tmp_path / "empty-gzip.pb.gz"
    empty_gzip.write_bytes(gzip.compress(b""))
    assert_one_error_line(goinspect("profile", "top", str(empty_gzip)), "empty")


def test_missing_file_and_directory(tmp_path):
    assert_one_error_line(goinspect("profile", "top", str(tmp_path / "nope.pb.gz")), "no such file")
    assert_one_error_line(goinspect("profile", "top", str(tmp_path)), "directory")


def test_truncated_at_many_points_in_process(real_profile):
    """Every cut of the gzip file and of the raw protobuf is a ProfileError, never anything else.

    Go writes the string table last, so even a cut on a field boundary leaves
    dangling string indexes: no prefix of a real profile is a valid profile.
    """
    gz = real_profile.read_bytes()
    raw = gzip.decompress(gz)
    for data, label in ((gz, "gzip"), (raw, "raw")):
        for cut in sorted({1, 2, 3, 10, 11, 100, *range(0, len(data), max(1, len(data) // 150))} - {0}):
            if cut >= len(data):
                continue
            path_bytes = data[:cut]
            with pytest.raises(ProfileError) as err:
                if label == "gzip":
                    decode(b"".join(inflate([path_bytes], name="cut", limit=1 << 30)), "cut")
                else:
                    decode(path_bytes, "cut")
            assert str(err.value).startswith("cut")  # names the input; the defect depends on the cut


@pytest.mark.parametrize("fraction", [0.001, 0.3, 0.77, 0.999])
def test_truncated_through_cli(real_profile, tmp_path, fraction):
    gz = real_profile.read_bytes()
    for data, suffix in ((gz, ".pb.gz"), (gzip.decompress(gz), ".pb")):
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(data[: max(1, int(len(data) * fraction))])
        line = assert_one_error_line(goinspect("profile", "top", str(cut)))
        assert "truncated" in line or "not a pprof" in line or "corrupt" in line


def test_corrupt_gzip(real_profile, tmp_path):
    gz = bytearray(real_profile.read_bytes())
    for i in range(len(gz) // 2, len(gz) // 2 + 64):
        gz[i] ^= 0x5A
    bad = tmp_path / "corrupt.pb.gz"
    bad.write_bytes(bytes(gz))
    assert_one_error_line(goinspect("profile", "top", str(bad)), "corrupt")


def _edited(real_profile: Path, edit) -> bytes:
    pb = profile_pb2.Profile()
    pb.ParseFromString(gzip.decompress(real_profile.read_bytes()))
    edit(pb)
    return pb.SerializeToString()


def _drop_value(pb):
    del pb.sample[17].value[-1]


def _bad_location(pb):
    pb.sample[5].location_id[0] = 999_999


def _first_string(pb):
    pb.string_table[0] = "oops"


def _dup_location(pb):
    pb.location[1].id = pb.location[0].id


def _zero_function(pb):
    pb.function[0].id = 0


def _missing_function(pb):
    pb.location[0].line[0].function_id = 777_777


def _label_string(pb):
    labelled = [s for s in pb.sample if s.label]
    labelled[len(labelled) // 2].label[0].key = len(pb.string_table) + 5


def _function_name(pb):
    pb.function[2].name = 10**6


@pytest.mark.parametrize("edit, message", [
    (_drop_value, "sample 17 has 3 values but the profile has 4 sample types"),
    (_bad_location, "sample 5 refers to location id 999999, which does not exist"),
    (_first_string, "string_table[0] must be the empty string"),
    (_dup_location, "two locations have id"),
    (_zero_function, "function #0 has id 0"),
    (_missing_function, "refers to function 777777, which does not exist"),
    (_label_string, "has a label key with string index"),
    (_function_name, "name has string index 1000000, but the string table has"),
])
def test_defects_are_named(real_profile, tmp_path, edit, message):
    bad = tmp_path / "defect.pb"
    bad.write_bytes(_edited(real_profile, edit))
    assert_one_error_line(goinspect("profile", "top", str(bad)), message)


@pytest.mark.parametrize("content, fragment", [
    (b'{"profile": [1, 2, 3]}\n', "looks like JSON"),
    (b"<!DOCTYPE html><html><body>404 page not found</body></html>\n", "looks like HTML"),
    (b"this is just a note about the heap, not a profile\n" * 5, "not a pprof profile"),
    (bytes(range(256)) * 4, "not a pprof profile"),
])
def test_not_a_profile(tmp_path, content, fragment):
    for data, suffix in ((content, ".txt"), (gzip.compress(content), ".gz")):
        path = tmp_path / f"thing{suffix}"
        path.write_bytes(data)
        assert_one_error_line(goinspect("profile", "top", str(path)), fragment)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def test_gzip_bomb(tmp_path):
    """1 GiB in ~1 MiB of gzip: refused once the output passes the cap, without inflating it all.

    The payload starts like a real profile (a 1 GiB string-table entry), so nothing short of
    reading it can reject it: only the cap stops it.
    """
    bomb = tmp_path / "bomb.pb.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 << 20)
    with bomb.open("wb") as f:
        f.write(compressor.compress(b"\x32" + _varint(1 << 30)))  # field 6 (string_table), length 1 GiB
        for _ in range(64):
            f.write(compressor.compress(zeros))
        f.write(compressor.flush())
    start = time.monotonic()
    res = goinspect("profile", "top", str(bomb), env={"GOINSPECT_MAX_PROFILE_BYTES": str(64 << 20)})
    assert_one_error_line(res, "decompresses to more than 67108864 bytes", "GOINSPECT_MAX_PROFILE_BYTES")
    assert time.monotonic() - start < 30
    assert_one_error_line(goinspect("profile", "top", str(bomb), env={"GOINSPECT_MAX_PROFILE_BYTES": "lots"}),
                          "GOINSPECT_MAX_PROFILE_BYTES")


def test_gzip_bomb_of_zeros_is_rejected_from_its_first_bytes(tmp_path):
    """Zeros are no protobuf field: the streamed decoder says so without inflating the rest."""
    bomb = tmp_path / "zeros.pb.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with bomb.open("wb") as f:
        for _ in range(64):
            f.write(compressor.compress(bytes(16 << 20)))
        f.write(compressor.flush())
    start = time.monotonic()
    assert_one_error_line(goinspect("profile", "top", str(bomb)), "not a pprof profile")
    assert time.monotonic() - start < 30


def test_inflate_cap_counts_decompressed_bytes():
    data = gzip.compress(b"x" * 5000)
    assert b"".join(inflate([data], name="t", limit=5000)) == b"x" * 5000
    with pytest.raises(InputError):
        b"".join(inflate([data], name="t", limit=4999))
    # Two gzip members, as `cat a.gz b.gz` makes: both are read.
    assert b"".join(inflate([data + data], name="t", limit=10000)) == b"x" * 10000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_url_refused():
    url = f"http://127.0.0.1:{_free_port()}/debug/pprof/heap"
    assert_one_error_line(goinspect("profile", "top", url), url, "connection refused")


class _BadServer:
    """A loopback TCP server that accepts and then either says nothing or trickles bytes forever."""

    def __init__(self, trickle: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.trickle = trickle
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        conns = []
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                conns.append(conn)
            except OSError:
                pass
            if self.trickle:
                for c in conns:
                    try:
                        c.send(b"H")  # never completes a status line
                    except OSError:
                        pass
        for c in conns:
            c.close()

    def __enter__(self) -> _BadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickle"])
def test_url_that_hangs_is_cut_off(trickle):
    with _BadServer(trickle) as server:
        url = f"http://127.0.0.1:{server.port}/debug/pprof/heap"
        start = time.monotonic()
        res = goinspect("profile", "top", "--timeout", "2", url, timeout=30)
        elapsed = time.monotonic() - start
    assert_one_error_line(res, url, "within 2 seconds")
    assert elapsed < 15


def test_url_http_404(fleet_service):
    with fleet_service("leakmap") as svc:
        url = f"{svc.base_url}/debug/pprof/no-such-profile"
        assert_one_error_line(goinspect("profile", "top", url), url, "HTTP 404")


def test_url_serving_a_real_profile(fleet_service):
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(1)
        p = load_profile(f"{svc.base_url}/debug/pprof/heap", timeout=30)
        assert len(p.samples) > 0


def test_url_that_does_not_resolve():
    with pytest.raises(InputError) as err:
        read_source("http://no-such-host.invalid/debug/pprof/heap", timeout=10)
    assert "no-such-host.invalid" in str(err.value)


def test_unknown_sample_index(real_profile):
    res = goinspect("profile", "top", "--sample-index", "bogus_space", str(real_profile))
    assert_one_error_line(res, "bogus_space")
    assert res.returncode == 2


def test_errors_are_goinspect_errors_in_process(real_profile, tmp_path):
    """The library raises the documented error classes (the CLI relies on it)."""
    bad = tmp_path / "x.pb"
    bad.write_bytes(b"\x0a\x05\x08\x01")
    with pytest.raises(GoinspectError):
        load_profile(str(bad))


def test_loopback_url_ignores_environment_proxy(fleet_service, monkeypatch):
    """A proxy cannot reach this machine's 127.0.0.1: loopback profiles are fetched directly.
    (The proxy named here is a closed loopback port, so nothing leaves the machine either way.)"""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(1)
        p = load_profile(f"{svc.base_url}/debug/pprof/heap", timeout=30)
    assert len(p.samples) > 0
