"""The protobuf wire format, vectorized with numpy (plus the one scalar varint reader).

``decode`` walks top-level fields with ``read_varint`` and hands the sample
messages to ``step_fields`` / ``decode_varint_spans``, which read the same
field of many messages in one numpy step; ``encode`` writes varints with
``varint_len`` / ``put_varints``. Everything inside a pprof Sample is a
varint, which is what makes the sample table vectorizable at all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from goinspect.errors import ProfileError

# Wire types.
VARINT, I64, LEN, I32 = 0, 1, 2, 5
# Bytes of packed varints decoded per numpy step: bounds the temporaries (about 40x this).
CHUNK_BYTES = 1 << 17
_U64 = np.uint64


class WireError(Exception):
    """A malformed varint at ``pos`` (the caller turns it into a ProfileError with context)."""

    def __init__(self, pos: int, what: str) -> None:
        self.pos = pos
        self.what = what


class UnknownReference(ProfileError):
    """A value refers to something not (yet) in the profile, e.g. an unknown location id."""


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError(pos, "a varint longer than 10 bytes")


def step_fields(buf: np.ndarray, spans: np.ndarray, wanted: tuple[int, ...], kind: str, name: str,
                 base: int = 0) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Walk the fields of many small messages at once.

    Each round reads one field of every message that still has bytes left, so
    the number of rounds is the largest field count of any message (3-4 for
    a Go heap sample), not the number of messages. Returns, per wanted field
    number, ``(message index, payload start, payload end, wire type)`` of
    every occurrence, in input order. An unpacked varint's "payload" is the
    varint itself, so packed and unpacked repeated fields decode alike.
    Message indexes start at ``base`` (the samples of earlier chunks).
    """
    cur = spans[:, 0].copy()
    end = spans[:, 1]
    which = np.arange(base, base + len(spans), dtype=np.int64)
    found: dict[int, list[tuple[np.ndarray, ...]]] = {f: [] for f in wanted}
    while len(which):
        tag, p = varints_at(buf, cur, end, kind, which, name)
        field = (tag >> np.uint64(3)).astype(np.int64)
        wire = (tag & np.uint64(7)).astype(np.int64)
        payload_start = p.copy()
        payload_end = p.copy()
        is_len = wire == LEN
        is_var = wire == VARINT
        if is_len.any():
            length, after = varints_at(buf, p[is_len], end[is_len], kind, which[is_len], name)
            payload_start[is_len] = after
            payload_end[is_len] = after + length.astype(np.int64)
            if (length > np.uint64(1 << 40)).any():
                _raise_at(which[is_len][length > np.uint64(1 << 40)], kind, "has a field longer than the profile", name)
        if is_var.any():
            _, after = varints_at(buf, p[is_var], end[is_var], kind, which[is_var], name)
            payload_end[is_var] = after
        payload_end[wire == I64] += 8
        payload_end[wire == I32] += 4
        bad_wire = ~(is_len | is_var | (wire == I64) | (wire == I32))
        if bad_wire.any():
            i = int(np.argmax(bad_wire))
            _raise_at(which[i:i + 1], kind, f"has a field with invalid wire type {int(wire[i])}", name)
        if (field == 0).any():
            _raise_at(which[field == 0], kind, "has a field numbered 0", name)
        over = payload_end > end
        if over.any():
            _raise_at(which[over], kind, "has a field that runs past its end (truncated or corrupt)", name)
        for f in wanted:
            sel = field == f
            if sel.any():
                found[f].append((which[sel], payload_start[sel], payload_end[sel], wire[sel]))
        cur = payload_end
        more = cur < end
        which, cur, end = which[more], cur[more], end[more]
    out = {}
    for f, parts in found.items():
        if parts:
            cols = [np.concatenate([part[k] for part in parts]) for k in range(4)]
            order = np.argsort(cols[1], kind="stable")  # input order: messages never overlap
            out[f] = tuple(c[order] for c in cols)
        else:
            empty = np.zeros(0, dtype=np.int64)
            out[f] = (empty, empty, empty, empty)
    return out  # type: ignore[return-value]


def varints_at(buf: np.ndarray, pos: np.ndarray, limit: np.ndarray, kind: str, which: np.ndarray, name: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """The varint starting at each ``pos`` (not reaching ``limit``): values and the positions after them."""
    if (pos >= limit).any():
        _raise_at(which[pos >= limit], kind, "ends in the middle of a field (truncated or corrupt)", name)
    b = buf[pos]
    value = (b & 0x7F).astype(np.uint64)
    after = pos + 1
    more = np.flatnonzero(b >= 0x80)
    shift = 7
    while len(more):
        if shift >= 70:
            _raise_at(which[more], kind, "has a varint longer than 10 bytes", name)
        p = after[more]
        short = p >= limit[more]
        if short.any():
            _raise_at(which[more][short], kind, "ends in the middle of a varint (truncated or corrupt)", name)
        b = buf[p]
        value[more] |= (b & 0x7F).astype(np.uint64) << np.uint64(shift)
        after[more] = p + 1
        more = more[b >= 0x80]
        shift += 7
    return value, after


def _raise_at(which: np.ndarray, kind: str, what: str, name: str):
    raise ProfileError(f"{name}: {kind} {int(which.min())} {what}")


def decode_varint_spans(buf: np.ndarray, occurrences: tuple[np.ndarray, ...], n: int, base: int, kind: str,
                         field: str, name: str, convert: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
                         out: GrowArray) -> np.ndarray:
    """Decode the varints of every occurrence of a repeated scalar field, appending them to ``out``.

    ``convert`` maps a run of raw uint64 values to ``out``'s dtype and
    returns a mask of invalid values (or None), e.g. unknown location ids.
    Values land in message order, then field order; returns the number of
    values of each of the ``n`` messages (indexes ``base`` ...). Works a
    bounded run of bytes at a time, so temporaries stay small whatever the
    profile size.
    """
    which, start, end, wire = occurrences
    bad_wire = (wire != LEN) & (wire != VARINT)
    if bad_wire.any():
        i = int(np.argmax(bad_wire))
        raise ProfileError(f"{name}: {kind} {int(which[i])} has {field} with wire type {int(wire[i])}")
    lengths = end - start
    counts = np.zeros(n, dtype=np.int64)
    cum = np.concatenate(([0], np.cumsum(lengths)))
    first = 0
    while first < len(start):
        last = max(int(np.searchsorted(cum, cum[first] + CHUNK_BYTES, side="right")) - 1, first + 1)
        st, ln, owner = start[first:last], lengths[first:last], which[first:last]
        offsets = cum[first:last] - cum[first]
        size = int(cum[last] - cum[first])
        # Every payload byte of this chunk, in order.
        b = buf[np.repeat(st - offsets, ln) + np.arange(size, dtype=np.int64)]
        stops = np.flatnonzero(b < 0x80)
        span_last = offsets + ln - 1
        nonempty = ln > 0
        ends_ok = b[span_last[nonempty]] < 0x80
        if not ends_ok.all():
            _raise_at(owner[nonempty][~ends_ok], kind, f"has a {field} field that ends in the middle of a varint", name)
        begins = np.empty_like(stops)
        begins[:1] = 0
        begins[1:] = stops[:-1] + 1
        widths = stops - begins + 1
        value = (b[begins] & 0x7F).astype(np.uint64)
        for k in range(1, int(widths.max()) if len(widths) else 0):
            if k >= 10:
                _raise_at(owner, kind, f"has a {field} varint longer than 10 bytes", name)
            sel = np.flatnonzero(widths > k)
            value[sel] |= (b[begins[sel] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        del b, begins, widths
        per_span = np.searchsorted(stops, span_last, side="right") - np.searchsorted(stops, offsets, side="left")
        per_span[~nonempty] = 0
        converted, invalid = convert(value)
        if invalid is not None and invalid.any():
            j = int(np.argmax(invalid))
            i = int(np.repeat(owner, per_span)[j])
            raise UnknownReference(f"{name}: {kind} {i} refers to {field} {int(value[j])}, which does not exist")
        out.append(converted)
        counts += np.bincount(owner - base, weights=per_span, minlength=n).astype(np.int64)
        first = last
    return counts


class GrowArray:
    """An array appended to in place: numpy's resize reallocs (mremap for big arrays), so growing
    never holds two copies."""

    def __init__(self, dtype: type, capacity: int) -> None:
        self.a = np.empty(max(capacity, 16), dtype=dtype)
        self.n = 0

    def retype(self, dtype: type) -> None:
        """Widen the element type (more locations than the current dtype can index)."""
        wider = np.empty(len(self.a), dtype=dtype)
        wider[: self.n] = self.a[: self.n]
        self.a = wider

    def append(self, chunk: np.ndarray) -> None:
        need = self.n + len(chunk)
        if need > len(self.a):
            # numpy zero-fills the new tail, so every byte of slack is resident: keep it to 1/32.
            self.a.resize(need + need // 32 + 4096, refcheck=False)
        self.a[self.n:need] = chunk
        self.n = need

    def finish(self) -> np.ndarray:
        self.a.resize(self.n, refcheck=False)
        return self.a


def varint_len(v: np.ndarray) -> np.ndarray:
    """Bytes of each uint64 as a varint (1..10)."""
    n = np.ones(v.shape, dtype=np.int64)
    for k in range(1, 10):
        n += v >= (_U64(1) << _U64(7 * k))
    return n


def put_varints(out: np.ndarray, pos: np.ndarray, v: np.ndarray, width: np.ndarray) -> None:
    for k in range(int(width.max()) if len(width) else 0):
        sel = np.flatnonzero(width > k)
        byte = (v[sel] >> _U64(7 * k)) & _U64(0x7F)
        byte |= (width[sel] > k + 1).astype(np.uint64) << _U64(7)
        out[pos[sel] + k] = byte.astype(np.uint8)


def varint_bytes(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)
