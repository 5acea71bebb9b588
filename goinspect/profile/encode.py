"""Encode a ``Profile`` as gzip'd ``profile.proto``, the file ``go tool pprof`` opens.

The small tables (strings, functions, locations, mappings) go through the
generated ``profile_pb2`` module; the sample table is written column-wise with
numpy (every field of a sample is a varint, so the whole table is one vectorized
varint encoding plus a scatter), mirroring ``decode``.
"""

from __future__ import annotations

import gzip
import io

import numpy as np

from goinspect.profile import profile_pb2, validate
from goinspect.profile.wire import put_varints, varint_bytes, varint_len
from goinspect.profile.model import Label, Profile



def encode(profile: Profile, *, compresslevel: int = 6) -> bytes:
    """The profile as gzip'd profile.proto bytes; raises ProfileError if it is inconsistent."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
        for part in _encode_parts(profile):
            gz.write(part)
    return out.getvalue()


def encode_raw(profile: Profile) -> bytes:
    """The profile as uncompressed profile.proto bytes."""
    return b"".join(_encode_parts(profile))


def _encode_parts(profile: Profile) -> tuple[bytes, memoryview]:
    """The tables (serialized by profile_pb2) and the sample table (written by numpy), in that order."""
    validate.check_profile(profile, "the profile to export")
    strings = _StringTable()
    pb = profile_pb2.Profile()
    for vt in profile.sample_types:
        pb.sample_type.add(type=strings[vt.type], unit=strings[vt.unit])
    for m in profile.mappings:
        pb.mapping.add(id=m.id, memory_start=m.start, memory_limit=m.limit, file_offset=m.offset,
                       filename=strings[m.file], build_id=strings[m.build_id], has_functions=m.has_functions,
                       has_filenames=m.has_filenames, has_line_numbers=m.has_line_numbers,
                       has_inline_frames=m.has_inline_frames)
    for loc in profile.locations:
        pl = pb.location.add(id=loc.id, mapping_id=loc.mapping.id if loc.mapping else 0, address=loc.address,
                             is_folded=loc.is_folded)
        for line in loc.lines:
            pl.line.add(function_id=line.function.id, line=line.line, column=line.column)
    for f in profile.functions:
        if f.id:
            pb.function.add(id=f.id, name=strings[f.name], system_name=strings[f.system_name],
                            filename=strings[f.filename], start_line=f.start_line)
    if profile.period_type is not None:
        pb.period_type.type = strings[profile.period_type.type]
        pb.period_type.unit = strings[profile.period_type.unit]
    pb.period = profile.period
    pb.time_nanos = profile.time_nanos
    pb.duration_nanos = profile.duration_nanos
    pb.comment.extend(strings[c] for c in profile.comments)
    pb.drop_frames = strings[profile.drop_frames]
    pb.keep_frames = strings[profile.keep_frames]
    pb.default_sample_type = strings[profile.default_sample_type]
    samples = _encode_samples(profile, strings)
    pb.string_table.extend(strings.table)
    return pb.SerializeToString(), memoryview(samples)


class _StringTable:
    """Interns strings; index 0 is "" as profile.proto requires."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self._index: dict[str, int] = {"": 0}

    def __getitem__(self, s: str) -> int:
        i = self._index.get(s)
        if i is None:
            i = self._index[s] = len(self.table)
            self.table.append(s)
        return i


def _segment_sums(per_item: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cum = np.concatenate(([0], np.cumsum(per_item)))
    return cum[offsets[1:]] - cum[offsets[:-1]]


def _field_size(payload: np.ndarray) -> np.ndarray:
    """Size of a length-delimited field with a one-byte tag around ``payload`` bytes."""
    return 1 + varint_len(payload.astype(np.uint64)) + payload


def _frame_chunks(locs: np.ndarray, offsets: np.ndarray, loc_ids: np.ndarray, frames: int = 1 << 20):
    """``(first sample, end sample, location ids, their varint widths)`` for runs of about ``frames`` frames."""
    n = len(offsets) - 1
    a = 0
    while a < n:
        b = max(int(np.searchsorted(offsets, offsets[a] + frames, side="right")) - 1, a + 1)
        b = min(b, n)
        ids = loc_ids[locs[offsets[a]:offsets[b]].astype(np.intp)]
        yield a, b, ids, varint_len(ids)
        a = b


def _encode_samples(profile: Profile, strings: _StringTable) -> np.ndarray:
    """Every Sample message, with its Profile.sample tag and length, as one uint8 array."""
    s = profile.samples
    n = len(s)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    n_types = len(profile.sample_types)
    loc_ids = np.fromiter((loc.id for loc in profile.locations), dtype=np.uint64, count=len(profile.locations))
    depth = np.diff(s.loc_offsets)
    # Frame-level work goes a bounded number of frames at a time: tens of millions of frames would
    # otherwise need several 8-byte temporaries each.
    ids_payload = np.zeros(n, dtype=np.int64)
    for a, b, ids, id_width in _frame_chunks(s.locs, s.loc_offsets, loc_ids):
        ids_payload[a:b] = _segment_sums(id_width, s.loc_offsets[a:b + 1] - s.loc_offsets[a])
    f1 = np.where(depth > 0, _field_size(ids_payload), 0)

    vals = s.values.reshape(-1).view(np.uint64) if n_types else np.zeros(0, np.uint64)
    val_width = varint_len(vals)
    vals_payload = val_width.reshape(n, n_types).sum(axis=1) if n_types else np.zeros(n, np.int64)
    f2 = np.where(vals_payload > 0, _field_size(vals_payload), 0) if n_types else np.zeros(n, np.int64)

    # Numeric label columns: one Label message per present sample.
    columns = []
    label_bytes = np.zeros(n, dtype=np.int64)
    for key, col in s.num_labels.items():
        kx, ux = strings[key], strings[col.unit]
        num = col.values.view(np.uint64)
        content = 1 + int(varint_len(np.array([kx], np.uint64))[0]) + 1 + varint_len(num)
        if ux:
            content += 1 + int(varint_len(np.array([ux], np.uint64))[0])
        size = np.where(col.present, _field_size(content), 0)
        columns.append((kx, ux, num, col.present, content))
        label_bytes += size
    # Other labels (string labels, repeated keys): few, so built one by one.
    extra: dict[int, bytes] = {}
    for i, labels in s.other_labels.items():
        extra[i] = b"".join(_label_field(lab, strings) for lab in labels)
        label_bytes[i] += len(extra[i])

    body = f1 + f2 + label_bytes
    total = _field_size(body)
    start = np.concatenate(([0], np.cumsum(total)[:-1]))
    out = np.empty(int(total.sum()), dtype=np.uint8)  # every byte is written below

    out[start] = 0x12  # Profile.sample
    body_width = varint_len(body.astype(np.uint64))
    put_varints(out, start + 1, body.astype(np.uint64), body_width)
    p = start + 1 + body_width

    has = depth > 0
    out[p[has]] = 0x0A  # Sample.location_id, packed
    w = varint_len(ids_payload.astype(np.uint64))
    put_varints(out, (p + 1)[has], ids_payload[has].astype(np.uint64), w[has])
    id_start = p + 1 + w
    for a, b, ids, id_width in _frame_chunks(s.locs, s.loc_offsets, loc_ids):
        excl = np.concatenate(([0], np.cumsum(id_width)))  # byte offset of each frame in the chunk, plus the end
        sample_of = np.repeat(np.arange(b - a), depth[a:b])
        first = s.loc_offsets[a:b] - s.loc_offsets[a]
        put_varints(out, id_start[a:b][sample_of] + excl[:-1] - excl[first][sample_of], ids, id_width)
    p = np.where(has, id_start + ids_payload, p)

    if n_types:
        hv = vals_payload > 0
        out[p[hv]] = 0x12  # Sample.value, packed
        w = varint_len(vals_payload.astype(np.uint64))
        put_varints(out, (p + 1)[hv], vals_payload[hv].astype(np.uint64), w[hv])
        v_start = p + 1 + w
        excl = np.concatenate(([0], np.cumsum(val_width)[:-1])).reshape(n, n_types)
        pos = v_start[:, None] + excl - excl[:, :1]
        put_varints(out, pos.reshape(-1), vals, val_width)
        p = np.where(hv, v_start + vals_payload, p)

    for kx, ux, num, present, content in columns:
        idx = np.flatnonzero(present)
        q = p[idx]
        out[q] = 0x1A  # Sample.label
        c = np.broadcast_to(content, (n,))[idx].astype(np.uint64)
        cw = varint_len(c)
        put_varints(out, q + 1, c, cw)
        q = q + 1 + cw
        out[q] = 0x08  # Label.key
        put_varints(out, q + 1, np.full(len(idx), kx, np.uint64), varint_len(np.full(len(idx), kx, np.uint64)))
        q = q + 1 + int(varint_len(np.array([kx], np.uint64))[0])
        out[q] = 0x18  # Label.num
        nw = varint_len(num[idx])
        put_varints(out, q + 1, num[idx], nw)
        q = q + 1 + nw
        if ux:
            out[q] = 0x20  # Label.num_unit
            uw = varint_len(np.full(len(idx), ux, np.uint64))
            put_varints(out, q + 1, np.full(len(idx), ux, np.uint64), uw)
            q = q + 1 + uw
        p[idx] = q
    for i, blob in extra.items():  # the hand-built labels, at each sample's remaining position
        out[p[i]:p[i] + len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    return out


def _label_field(label: Label, strings: _StringTable) -> bytes:
    msg = profile_pb2.Label(key=strings[label.key])
    if label.str:
        msg.str = strings[label.str]
    else:
        msg.num = label.num
        msg.num_unit = strings[label.num_unit]
    content = msg.SerializeToString()
    return b"\x1a" + varint_bytes(len(content)) + content
