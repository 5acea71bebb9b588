"""Property-based tests of the decoder: whatever the bytes, a valid Profile or a ProfileError.

Arbitrary bytes, and mutations (byte flips, cuts, splices, inserted varints)
of a real profile served by a fleet program. Anything other than ProfileError
escaping ``decode`` would be a traceback for the user.
"""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goinspect.errors import ProfileError
from goinspect.profile.decode import decode
from goinspect.profile.encode import encode_raw
from goinspect.profile.validate import check_profile

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seed_profile(fleet_exe) -> bytes:
    """A small real profile (a few hundred samples) to mutate."""
    from goinspect.run.process import GoService

    with GoService(fleet_exe("leakmap"), env={"GODEBUG": "memprofilerate=64"}) as svc:
        svc.advance(1)
        return gzip.decompress(svc.heap_profile())


def decodes_or_profile_error(data: bytes) -> None:
    try:
        p = decode(data, "fuzz")
    except ProfileError as e:
        assert str(e).startswith("fuzz")
        return
    check_profile(p, "fuzz")  # whatever decodes is consistent...
    again = decode(encode_raw(p), "again")  # ...and survives a round trip
    assert len(again.samples) == len(p.samples)
    assert (again.samples.values == p.samples.values).all()


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data):
    if data:
        decodes_or_profile_error(data)


@FUZZ
@given(st.data())
def test_mutated_real_profile(seed_profile, data):
    buf = bytearray(seed_profile)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]), label="kind")
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)), label="pos")
        if kind == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and buf:
            buf[pos] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x12, 0x0A, 0x1A]))
        elif kind == "cut":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=12))
        elif kind == "delete":
            del buf[pos:pos + data.draw(st.integers(1, 16))]
    if buf:
        decodes_or_profile_error(bytes(buf))


@FUZZ
@given(st.data())
def test_spliced_samples(seed_profile, data):
    """Cut-and-paste of whole regions: structurally plausible, semantically random."""
    a = data.draw(st.integers(0, len(seed_profile)))
    b = data.draw(st.integers(0, len(seed_profile)))
    c = data.draw(st.integers(0, len(seed_profile)))
    mutated = seed_profile[:a] + seed_profile[min(b, c):max(b, c)] + seed_profile[a:]
    decodes_or_profile_error(mutated)
