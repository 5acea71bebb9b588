"""The protobuf decoder and encoder against ``go tool pprof`` on real fleet profiles.

Ground truth is google/pprof's own parse of the same file (``go tool pprof -raw``
of the toolchain that built the program): every sample's values, stack and
``bytes`` label, and every location's address and functions must agree.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

from goinspect.profile import decode as decode_module
from goinspect.profile import profile_pb2
from goinspect.profile.decode import decode, decode_chunks, decode_stream
from goinspect.profile.encode import encode, encode_raw
from goinspect.profile.load import load_profile
from goinspect.errors import ProfileError
from goinspect.profile.model import Label, Profile
from goinspect.profile.source import open_source
from goinspect.profile.validate import check_profile
from pprof_raw import RawProfile, go_env, pprof, pprof_raw

# (program, steps to advance): leakmap is the fleet's plain leak; manystacks has ~50k deep distinct stacks.
PROGRAMS = [("leakmap", 3), ("manystacks", 1)]


@pytest.fixture(scope="session")
def real_profiles(fleet_service, tmp_path_factory, go_version) -> dict[str, Path]:
    """gzip'd heap profiles served by fleet programs at MemProfileRate=1, saved to files."""
    out = tmp_path_factory.mktemp(f"profiles-{go_version}")
    paths = {}
    for name, steps in PROGRAMS:
        with fleet_service(name, memprofilerate=1) as svc:
            svc.advance(steps)
            paths[name] = out / f"{name}.pb.gz"
            paths[name].write_bytes(svc.heap_profile())
    return paths


def assert_matches_pprof(p: Profile, raw: RawProfile) -> None:
    assert [f"{t.type}/{t.unit}" for t in p.sample_types] == raw.sample_types
    assert len(p.samples) == len(raw.samples)
    assert p.samples.values.sum(axis=0).tolist() == raw.totals()
    assert p.samples.values.tolist() == [s.values for s in raw.samples]
    ids = np.array([loc.id for loc in p.locations], dtype=np.uint64)
    for i, rs in enumerate(raw.samples):
        assert ids[p.samples.stack(i)].tolist() == rs.location_ids, f"sample {i}"
    assert [our_labels(p, i) for i in range(len(p.samples))] == [s.labels for s in raw.samples]
    assert len(p.locations) == len(raw.locations)
    for loc in p.locations:
        address, functions = raw.locations[loc.id]
        assert loc.address == address
        assert [line.function.name for line in loc.lines] == functions
    # Go's writer emits exactly the functions its locations use.
    assert {line.function.id for loc in p.locations for line in loc.lines} == {f.id for f in p.functions}


def our_labels(p: Profile, i: int) -> dict[str, str]:
    """Sample ``i``'s labels as ``pprof -raw`` prints them: key -> values joined, numbers with their unit."""
    out: dict[str, list[str]] = {}
    for key, col in p.samples.num_labels.items():
        if col.present[i]:
            out.setdefault(key, []).append(f"{col.values[i]} {col.unit}" if col.unit else str(col.values[i]))
    for label in p.samples.other_labels.get(i, ()):
        text = label.str if label.str else (f"{label.num} {label.num_unit}" if label.num_unit else str(label.num))
        out.setdefault(label.key, []).append(text)
    return {k: " ".join(v) for k, v in out.items()}


def assert_same_profile(a: Profile, b: Profile) -> None:
    """Field-by-field equality (dataclass == cannot compare numpy arrays)."""
    assert a.sample_types == b.sample_types
    assert a.locations == b.locations and a.functions == b.functions and a.mappings == b.mappings
    assert (a.period_type, a.period, a.time_nanos, a.duration_nanos, a.comments, a.drop_frames, a.keep_frames,
            a.default_sample_type) == (b.period_type, b.period, b.time_nanos, b.duration_nanos, b.comments,
                                       b.drop_frames, b.keep_frames, b.default_sample_type)
    sa, sb = a.samples, b.samples
    assert np.array_equal(sa.values, sb.values) and sa.values.dtype == sb.values.dtype
    assert np.array_equal(sa.loc_offsets, sb.loc_offsets)
    assert np.array_equal(sa.locs, sb.locs) and sa.locs.dtype == sb.locs.dtype
    assert sa.num_labels.keys() == sb.num_labels.keys()
    for key in sa.num_labels:
        ca, cb = sa.num_labels[key], sb.num_labels[key]
        assert ca.unit == cb.unit and np.array_equal(ca.present, cb.present)
        assert np.array_equal(ca.values[ca.present], cb.values[cb.present])
    assert sa.other_labels == sb.other_labels


@pytest.mark.parametrize("program", [name for name, _ in PROGRAMS])
def test_decode_agrees_with_pprof_raw(real_profiles, toolchain, program):
    path = real_profiles[program]
    p = load_profile(str(path))
    check_profile(p)
    assert len(p.samples) > 0
    assert_matches_pprof(p, pprof_raw(toolchain.go, path))


def test_uncompressed_and_gzip_decode_alike(real_profiles, tmp_path):
    path = real_profiles["leakmap"]
    plain = tmp_path / "plain.pb"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    assert_same_profile(load_profile(str(plain)), load_profile(str(path)))


@pytest.mark.parametrize("program", [name for name, _ in PROGRAMS])
def test_encode_round_trip(real_profiles, toolchain, tmp_path, program):
    """decode(encode(p)) == p, and pprof reads the encoded file exactly as it read the original."""
    path = real_profiles[program]
    p = load_profile(str(path))
    encoded = tmp_path / "encoded.pb.gz"
    encoded.write_bytes(encode(p))
    assert_same_profile(decode(gzip.decompress(encoded.read_bytes()), "encoded"), p)
    assert_matches_pprof(p, pprof_raw(toolchain.go, encoded))
    for index in ("alloc_space", "inuse_objects"):
        args = ("-top", "-nodecount=20", f"-sample_index={index}", "-unit=B", "-symbolize=none")
        original = pprof(toolchain.go, *args, str(path)).splitlines()
        again = pprof(toolchain.go, *args, str(encoded)).splitlines()
        # Everything from the "Showing nodes accounting for ..." line on: totals and rows.
        assert _from_showing(again) == _from_showing(original)


def _from_showing(lines: list[str]) -> list[str]:
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Showing")):]


def _unpacked(data: bytes) -> bytes:
    """The same profile with every sample's location ids and values written unpacked (one field each)."""
    pb = profile_pb2.Profile()
    pb.ParseFromString(data)
    samples = list(pb.sample)
    del pb.sample[:]
    out = bytearray(pb.SerializeToString())

    def varint(v: int) -> bytes:
        v &= (1 << 64) - 1
        b = bytearray()
        while v >= 0x80:
            b.append((v & 0x7F) | 0x80)
            v >>= 7
        b.append(v)
        return bytes(b)

    for s in samples:
        body = b"".join(b"\x08" + varint(i) for i in s.location_id)
        body += b"".join(b"\x10" + varint(v) for v in s.value)
        body += b"".join(b"\x1a" + varint(lab.ByteSize()) + lab.SerializeToString() for lab in s.label)
        out += b"\x12" + varint(len(body)) + body
    return bytes(out)


def test_unpacked_repeated_fields_decode_like_packed(real_profiles):
    """proto3 parsers must accept both encodings of repeated scalars; Go writes packed."""
    data = gzip.decompress(real_profiles["leakmap"].read_bytes())
    assert_same_profile(decode(_unpacked(data), "unpacked"), decode(data, "packed"))


def test_encode_raw_is_what_encode_compresses(real_profiles):
    p = load_profile(str(real_profiles["leakmap"]))
    assert gzip.decompress(encode(p)) == encode_raw(p)


def test_profile_rewritten_by_pprof(real_profiles, toolchain, tmp_path, monkeypatch):
    """pprof's own writer puts samples before locations: the decoder takes its second-pass route."""
    rewritten = tmp_path / "rewritten.pb.gz"
    rewritten.write_bytes(subprocess.run([str(toolchain.go), "tool", "pprof", "-proto", "-symbolize=none",
                                          str(real_profiles["manystacks"])], capture_output=True, check=True,
                                         env=go_env(), timeout=300).stdout)
    data = gzip.decompress(rewritten.read_bytes())
    pieces = lambda: (data[i:i + 65536] for i in range(0, len(data), 65536))  # noqa: E731
    passes = []
    real_pass = decode_module._decode_pass
    monkeypatch.setattr(decode_module, "_decode_pass", lambda *a, **k: passes.append(k) or real_pass(*a, **k))
    p = decode_chunks(pieces, "rewritten")
    assert len(passes) == 3  # the single pass gave up at the first sample, then tables, then samples
    assert_matches_pprof(p, pprof_raw(toolchain.go, rewritten))
    assert_same_profile(p, load_profile(str(rewritten)))
    original = load_profile(str(real_profiles["manystacks"]))
    assert p.samples.values.sum(axis=0).tolist() == original.samples.values.sum(axis=0).tolist()


@pytest.mark.parametrize("chunk", [7, 1000, 65536])
def test_streamed_in_chunks_equals_whole(real_profiles, chunk):
    """Decoding piece by piece (as decode_stream does) gives exactly the whole-buffer result."""
    data = gzip.decompress(real_profiles["leakmap"].read_bytes())
    pieces = lambda: (data[i:i + chunk] for i in range(0, len(data), chunk))  # noqa: E731
    assert_same_profile(decode_chunks(pieces, "chunks"), decode(data, "whole"))


def test_decode_stream_from_gzip(real_profiles):
    stream = open_source(str(real_profiles["manystacks"]), timeout=10)
    assert_same_profile(decode_stream(stream, "stream"), decode(stream.read(), "whole"))


def test_string_repeated_and_unit_labels(real_profiles, toolchain, tmp_path):
    """Labels Go's heap profiles do not use, added to a real profile: pprof -raw is still the reference."""
    pb = profile_pb2.Profile()
    pb.ParseFromString(gzip.decompress(real_profiles["leakmap"].read_bytes()))
    strings = list(pb.string_table)

    def s(text: str) -> int:
        if text not in strings:
            strings.append(text)
            pb.string_table.append(text)
        return strings.index(text)

    labelled = [i for i, sample in enumerate(pb.sample) if sample.label]
    a, b, c, d = labelled[:4]
    pb.sample[a].label.add(key=s("goroutine"), str=s("worker 7"))  # a string label
    pb.sample[b].label.add(key=s("bytes"), num=99)  # a repeated numeric key
    pb.sample[c].label.add(key=s("extra"), num=5, num_unit=s("count"))  # a second numeric key, with a unit
    pb.sample[d].label.add(key=s("extra"), num=6, num_unit=s("seconds"))  # same key, another unit
    path = tmp_path / "labels.pb"
    path.write_bytes(pb.SerializeToString())
    p = load_profile(str(path))
    assert_matches_pprof(p, pprof_raw(toolchain.go, path))
    assert p.samples.other_labels[a] == (Label(key="goroutine", str="worker 7"),)
    assert [(lab.key, lab.num) for lab in p.samples.other_labels[b]][1:] == [("bytes", 99)]
    assert not p.samples.num_labels["bytes"].present[b]
    assert_same_profile(decode(encode_raw(p), "again"), p)


def test_large_field_streamed_in_small_pieces():
    """A field far larger than the pieces it arrives in is joined once, not rescanned per piece."""
    pb = profile_pb2.Profile()
    pb.string_table.extend(["", "x" * 5_000_000])
    data = pb.SerializeToString()
    pieces = lambda: (data[i:i + 4096] for i in range(0, len(data), 4096))  # noqa: E731
    assert decode_chunks(pieces, "big").comments == []
    cut = data[:-5]
    with pytest.raises(ProfileError):
        decode_chunks(lambda: (cut[i:i + 4096] for i in range(0, len(cut), 4096)), "cut")
