"""The vectorized varint reader/writer against the protobuf library's own encoding (pure logic)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from goinspect.profile import profile_pb2
from goinspect.profile.wire import GrowArray, decode_varint_spans, put_varints, varint_len

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(INT64, max_size=12), min_size=1, max_size=20))
def test_packed_values_decode_like_protobuf_encodes_them(samples):
    """Sample.value packed by upb, decoded by numpy; and re-encoded by numpy byte-identically."""
    msgs = [profile_pb2.Sample(value=v).SerializeToString() for v in samples]
    # Each message is "0x12 len payload" (or empty): collect the payload spans.
    buf = b"".join(msgs)
    starts, ends, owner, pos = [], [], [], 0
    for i, m in enumerate(msgs):
        if m:
            starts.append(pos + hdr_len(m))  # after the tag byte and the payload length varint
            ends.append(pos + len(m))
            owner.append(i)
        pos += len(m)
    occ = (np.array(owner, np.int64), np.array(starts, np.int64), np.array(ends, np.int64),
           np.full(len(owner), 2, np.int64))
    out = GrowArray(np.int64, 4)
    counts = decode_varint_spans(np.frombuffer(buf, np.uint8), occ, len(samples), 0, "sample", "value", "t",
                                 lambda v: (v.view(np.int64), None), out)
    flat = [x for v in samples for x in v]
    assert counts.tolist() == [len(v) for v in samples]
    assert out.finish().tolist() == flat
    values = np.array(flat, dtype=np.int64).view(np.uint64)
    width = varint_len(values)
    written = np.zeros(int(width.sum()), np.uint8)
    put_varints(written, np.concatenate(([0], np.cumsum(width)[:-1])).astype(np.int64), values, width)
    payload = b"".join(m[hdr_len(m):] for m in msgs if m)
    assert written.tobytes() == payload


def hdr_len(m: bytes) -> int:
    return 1 + (1 if m[1] < 0x80 else 2 if m[2] < 0x80 else 3)
