"""Decode ``profile.proto`` bytes into a columnar ``Profile``, fast.

A heap profile taken at ``MemProfileRate=1`` has hundreds of thousands of
samples; building one Python object per sample (or per frame) would take
longer than ``go tool pprof`` needs for the whole report. So decoding is
split by what the data looks like:

* one light Python pass over the *top-level* fields records the byte span of
  every sample and collects the other fields (strings, functions, locations,
  mappings: thousands, not millions);
* the other fields are parsed by the generated ``profile_pb2`` module;
* the samples are decoded column-wise with numpy: their fields are stepped
  through for all samples at once, and the packed (or unpacked) varints of
  ``location_id`` and ``value`` are decoded in bulk, chunk by chunk, straight
  into the ``Samples`` arrays.

The input can arrive in pieces (``decode_stream`` inflates a gzip'd profile
a few MiB at a time), so the uncompressed profile and its decoded columns
never have to be in memory together: a 70 MB profile decodes in about 2x its
size, most of it the columns themselves.

Every reference is resolved and checked on the way (see ``validate``), so a
``Profile`` that comes out is consistent, and anything else is a ProfileError
that names the defect.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from goinspect.errors import ProfileError
from goinspect.profile import profile_pb2, validate
from goinspect.profile.wire import (
    I32, I64, LEN, VARINT, GrowArray, UnknownReference, WireError, decode_varint_spans, read_varint, step_fields,
    varints_at,
)
from goinspect.profile.source import ProfileStream
from goinspect.profile.model import (
    Function,
    Label,
    LabelColumn,
    Line,
    Location,
    Mapping,
    Profile,
    Samples,
    ValueType,
)

# Top-level Profile fields and the wire types they may use; 13 (comment) may be packed or not.
_TOP_WIRE = {1: (LEN,), 2: (LEN,), 3: (LEN,), 4: (LEN,), 5: (LEN,), 6: (LEN,), 7: (VARINT,),
             8: (VARINT,), 9: (VARINT,), 10: (VARINT,), 11: (LEN,), 12: (VARINT,),
             13: (VARINT, LEN), 14: (VARINT,), 15: (VARINT,)}
_SAMPLE_TAG = (2 << 3) | LEN  # 0x12
# Shared stand-in for a Line without a function (pprof allows function_id 0).
NO_FUNCTION = Function(id=0, name="")


def decode(data: bytes, name: str) -> Profile:
    """Decode uncompressed ``profile.proto`` bytes; ``name`` is used in error messages."""
    return decode_chunks(lambda: iter((data,)), name)


def decode_stream(stream: ProfileStream, name: str) -> Profile:
    """Decode a profile as it is decompressed, never holding the whole uncompressed profile.

    Peak memory is then the compressed input plus the decoded columns, not
    both the uncompressed bytes and the columns (see benchmarks/).
    """
    return decode_chunks(stream.chunks, name)


def decode_chunks(open_chunks: Callable[[], Iterable[bytes]], name: str) -> Profile:
    """Decode the profile whose uncompressed bytes ``open_chunks()`` yields, piece by piece.

    One pass suffices when every location precedes the samples that use it
    (Go's runtime writes profiles that way). Otherwise (pprof's own writer puts
    samples first) the first pass only collects the tables, and a second pass
    over a fresh ``open_chunks()`` decodes the samples.
    """
    try:
        return _decode_pass(open_chunks(), name, known=None)
    except _ForwardReference:
        tables = _decode_pass(open_chunks(), name, known=None, samples=False)
        return _decode_pass(open_chunks(), name, known=tables.location_ids)  # type: ignore[union-attr]


class _ForwardReference(Exception):
    """A sample used a location id that has not appeared (yet) in a single-pass decode."""


def _decode_pass(chunks: Iterable[bytes], name: str, known: np.ndarray | None, samples: bool = True):
    state = _SampleState(name, known)
    rest: list[bytes] = []
    carry = b""
    offset = 0  # absolute position of ``carry``'s first byte
    first = b""
    total = 0
    pending: list[bytes] = []  # pieces of one large field that is still incomplete
    waiting = 0  # bytes that field still needs
    for chunk in chunks:
        if not len(chunk):
            continue
        total += len(chunk)
        if waiting > len(chunk):
            # Do not rescan (and copy) a field that cannot be complete yet: that would be quadratic.
            pending.append(bytes(chunk))
            waiting -= len(chunk)
            continue
        buf = b"".join([carry, *pending, chunk]) if carry or pending else chunk
        pending, waiting = [], 0
        if not first:
            first = bytes(buf[:512])
        spans, parts, consumed = _scan_top_level(buf, name, offset, final=False, head=first)
        table_bytes = b"".join(parts)
        rest.append(table_bytes)
        if samples:
            if known is None:
                state.add_locations(table_bytes)
            state.add_samples(np.frombuffer(buf, dtype=np.uint8), spans)
        carry = bytes(buf[consumed:]) if consumed < len(buf) else b""
        waiting = _field_end(carry) - len(carry)
        offset += consumed
        del buf, spans
    if pending:
        carry = b"".join([carry, *pending])
    if total == 0:
        raise ProfileError(f"{name} is empty: no profile data")
    if carry:
        # Whatever is left is an incomplete field: let the scanner say so (or explain what the input is).
        _scan_top_level(carry, name, offset, final=True, head=first)
    pb = profile_pb2.Profile()
    try:
        pb.ParseFromString(b"".join(rest))
    except DecodeError as e:
        raise ProfileError(f"{name} is truncated or corrupt: {e}") from None
    del rest
    if len(pb.string_table) == 0:
        raise _explain(first, None, name)
    tables = _Tables.build(pb, name)  # table defects are reported before sample defects, as pprof does
    if not samples:
        return tables
    strings = tables.strings
    s = lambda i, what: validate.string_at(strings, i, what, name)  # noqa: E731
    return Profile(
        sample_types=tables.sample_types,
        samples=state.finish(tables),
        locations=tables.locations,
        functions=tables.functions,
        mappings=tables.mappings,
        period_type=_value_type(pb.period_type, strings, "period_type", name) if pb.HasField("period_type") else None,
        period=pb.period,
        time_nanos=pb.time_nanos,
        duration_nanos=pb.duration_nanos,
        comments=[s(c, f"comment {i}") for i, c in enumerate(pb.comment)],
        drop_frames=s(pb.drop_frames, "drop_frames"),
        keep_frames=s(pb.keep_frames, "keep_frames"),
        default_sample_type=s(pb.default_sample_type, "default_sample_type"),
    )


class _SampleState:
    """The sample columns as they are decoded, chunk after chunk."""

    def __init__(self, name: str, known: np.ndarray | None) -> None:
        self.name = name
        self.n = 0
        self.location_ids = known if known is not None else np.zeros(0, dtype=np.uint64)
        self.final_ids = known is not None
        self.convert, self.loc_dtype = _location_converter(self.location_ids)
        self.locs = GrowArray(self.loc_dtype, 1 << 16)
        self.values = GrowArray(np.int64, 1 << 12)
        # Per-sample counts fit 32 bits (a sample cannot be longer than the 2 GiB cap allows).
        self.id_counts = GrowArray(np.int32, 1 << 12)
        self.value_counts = GrowArray(np.int32, 1 << 12)
        self.labels = _LabelState()

    def add_locations(self, table_bytes: bytes) -> None:
        """Learn the ids of the locations in this chunk's table fields (in table order)."""
        if not table_bytes:
            return
        pb = profile_pb2.Profile()
        try:
            pb.ParseFromString(table_bytes)
        except DecodeError:
            return  # reported with a better message when all the tables are parsed
        if not len(pb.location):
            return
        new = np.fromiter((loc.id for loc in pb.location), dtype=np.uint64, count=len(pb.location))
        self.location_ids = np.concatenate([self.location_ids, new])
        self.convert, dtype = _location_converter(self.location_ids)
        if np.dtype(dtype).itemsize > np.dtype(self.loc_dtype).itemsize:
            self.locs.retype(dtype)
            self.loc_dtype = dtype

    def add_samples(self, buf: np.ndarray, spans: np.ndarray) -> None:
        n = len(spans)
        if not n:
            return
        base, name = self.n, self.name
        fields = step_fields(buf, spans, (1, 2, 3), "sample", name, base)
        try:
            id_counts = decode_varint_spans(buf, fields[1], n, base, "sample", "location id", name, self.convert,
                                             self.locs)
        except UnknownReference:
            if self.final_ids:
                raise
            raise _ForwardReference() from None
        value_counts = decode_varint_spans(buf, fields[2], n, base, "sample", "value", name, _as_int64,
                                            self.values)
        self.id_counts.append(id_counts)
        self.value_counts.append(value_counts)
        self.labels.add(_label_fields(buf, fields[3], name) if len(fields[3][0]) else None, base, n)
        self.n += n

    def finish(self, tables: _Tables) -> Samples:
        name, n = self.name, self.n
        n_types = len(tables.sample_types)
        if n and n_types == 0:
            raise ProfileError(f"{name}: it has {n} samples but no sample types")
        if not np.array_equal(self.location_ids, tables.location_ids):
            raise ProfileError(f"{name}: the location table changed while it was being read")
        validate.check_value_counts(self.value_counts.finish(), n_types, name)
        loc_offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.id_counts.finish(), out=loc_offsets[1:], dtype=np.int64)
        num_labels, other_labels = self.labels.finish(tables.strings, name)
        return Samples(values=self.values.finish().reshape(n, n_types), loc_offsets=loc_offsets,
                       locs=self.locs.finish(), num_labels=num_labels, other_labels=other_labels)


# -- top level ----------------------------------------------------------------------------


def _scan_top_level(data: bytes, name: str, offset: int = 0, *, final: bool = True, head: bytes | None = None
                    ) -> tuple[np.ndarray, list[bytes], int]:
    """Byte spans ``(start, end)`` of every sample message, the other fields' bytes, and the bytes consumed.

    The one Python loop over the input; it touches each top-level field once
    and is specialised for the common sample header (tag 0x12, 1-2 byte
    length). Unless ``final``, an incomplete last field is left for the next
    chunk (``consumed`` stops before it). ``offset`` is where ``data`` starts
    in the whole profile, for messages.
    """
    n = len(data)
    starts = array("q")
    ends = array("q")
    rest: list[bytes] = []
    rest_start = 0
    pos = 0
    try:
        while pos < n:
            if data[pos] == _SAMPLE_TAG:
                p = pos + 1
                length = data[p]
                if length < 0x80:
                    p += 1
                elif data[p + 1] < 0x80:  # most Go samples: 128 bytes .. 16 KiB
                    length = (length & 0x7F) | (data[p + 1] << 7)
                    p += 2
                else:
                    length, p = read_varint(data, p)
                end = p + length
                if end > n:
                    raise _Truncated(pos)
                if rest_start < pos:
                    rest.append(data[rest_start:pos])
                starts.append(p)
                ends.append(end)
                pos = rest_start = end
                continue
            tag, p = read_varint(data, pos)
            field, wire = tag >> 3, tag & 7
            if wire == VARINT:
                _, p = read_varint(data, p)
            elif wire == LEN:
                length, p = read_varint(data, p)
                p += length
            elif wire == I64:
                p += 8
            elif wire == I32:
                p += 4
            else:
                raise WireError(pos, f"field {field} has invalid wire type {wire}")
            if field == 0:
                raise WireError(pos, "field number 0")
            if field in _TOP_WIRE and wire not in _TOP_WIRE[field]:
                raise WireError(pos, f"field {field} of Profile has wire type {wire}")
            if p > n:
                raise _Truncated(pos)
            pos = p
    except (IndexError, _Truncated) as e:
        if final:
            at = e.pos if isinstance(e, _Truncated) else pos
            raise _explain(head or data, _Truncated(offset + at), name, total=offset + n) from None
        # The field at ``pos`` continues in the next chunk.
    except WireError as e:
        raise _explain(head or (data if offset == 0 else b""), WireError(offset + e.pos, e.what), name) from None
    if rest_start < pos:
        rest.append(data[rest_start:pos])
    spans = np.empty((len(starts), 2), dtype=np.int64)
    spans[:, 0] = np.frombuffer(starts, dtype=np.int64)
    spans[:, 1] = np.frombuffer(ends, dtype=np.int64)
    return spans, rest, pos


def _field_end(data: bytes) -> int:
    """Where the top-level field starting ``data`` ends, as far as its header tells (0 if unknown)."""
    try:
        tag, p = read_varint(data, 0)
        if tag & 7 == LEN:
            length, p = read_varint(data, p)
            return p + length
    except (IndexError, WireError):
        pass
    return 0


class _Truncated(Exception):
    def __init__(self, pos: int) -> None:
        self.pos = pos


def _explain(head: bytes, e: Exception | None, name: str, total: int = 0) -> ProfileError:
    """Tell 'this is not a profile at all' from 'this profile is damaged'.

    ``head`` is the start of the input; ``e`` is the structural defect found
    (None: the input parsed but has no string table, which every profile has).
    """
    start = bytes(head[:64]).lstrip()
    if start[:1] in (b"{", b"["):
        return ProfileError(f"{name}: not a pprof profile: it looks like JSON")
    if start[:1] == b"<":
        return ProfileError(f"{name}: not a pprof profile: it looks like HTML or XML")
    if _looks_textual(head):
        return ProfileError(f"{name}: not a pprof profile: it is text, and not the legacy heap profile format")
    if not head or not _starts_like_profile(head):
        return ProfileError(f"{name}: not a pprof profile: its first bytes are not a profile.proto field")
    if e is None:
        return ProfileError(f"{name}: not a pprof profile: it has no string table")
    if isinstance(e, _Truncated):
        return ProfileError(f"{name} is truncated: the field at byte {e.pos} runs past the end of the data "
                            f"({total} bytes)")
    return ProfileError(f"{name} is corrupt: {e.what} at byte {e.pos}")  # type: ignore[attr-defined]


def _looks_textual(data: bytes) -> bool:
    head = bytes(data[:512])
    if not head:
        return False
    printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(head) > 0.95


def _starts_like_profile(data: bytes) -> bool:
    """Does the first byte start a known Profile field with its proper wire type?"""
    tag = data[0]
    return tag < 0x80 and (tag >> 3) in _TOP_WIRE and (tag & 7) in _TOP_WIRE[tag >> 3]


# -- tables -------------------------------------------------------------------------------


@dataclass
class _Tables:
    strings: list[str]
    sample_types: list[ValueType]
    mappings: list[Mapping]
    functions: list[Function]
    locations: list[Location]
    location_ids: np.ndarray  # (len(locations),) uint64, in table order

    @classmethod
    def build(cls, pb: profile_pb2.Profile, name: str) -> _Tables:
        strings = list(pb.string_table)
        validate.check_string_table(strings, name)
        s = lambda i, what: validate.string_at(strings, i, what, name)  # noqa: E731
        sample_types = [_value_type(vt, strings, f"sample_type {i}", name) for i, vt in enumerate(pb.sample_type)]

        mappings = [
            Mapping(id=m.id, start=m.memory_start, limit=m.memory_limit, offset=m.file_offset,
                    file=s(m.filename, f"mapping {m.id} filename"), build_id=s(m.build_id, f"mapping {m.id} build_id"),
                    has_functions=m.has_functions, has_filenames=m.has_filenames,
                    has_line_numbers=m.has_line_numbers, has_inline_frames=m.has_inline_frames)
            for m in pb.mapping
        ]
        mapping_pos = validate.index_ids("mapping", (m.id for m in mappings), name)

        functions = [
            Function(id=f.id, name=s(f.name, f"function {f.id} name"),
                     system_name=s(f.system_name, f"function {f.id} system_name"),
                     filename=s(f.filename, f"function {f.id} filename"), start_line=f.start_line)
            for f in pb.function
        ]
        function_pos = validate.index_ids("function", (f.id for f in functions), name)

        locations = []
        for loc in pb.location:
            mapping = None
            if loc.mapping_id:
                if loc.mapping_id not in mapping_pos:
                    raise ProfileError(f"{name}: location {loc.id} refers to mapping {loc.mapping_id}, which does not exist")
                mapping = mappings[mapping_pos[loc.mapping_id]]
            lines = []
            for ln in loc.line:
                if ln.function_id == 0:
                    function = NO_FUNCTION
                elif ln.function_id in function_pos:
                    function = functions[function_pos[ln.function_id]]
                else:
                    raise ProfileError(
                        f"{name}: location {loc.id} refers to function {ln.function_id}, which does not exist"
                    )
                lines.append(Line(function=function, line=ln.line, column=ln.column))
            locations.append(Location(id=loc.id, address=loc.address, mapping=mapping, lines=tuple(lines),
                                      is_folded=loc.is_folded))
        validate.index_ids("location", (loc.id for loc in locations), name)
        location_ids = np.fromiter((loc.id for loc in locations), dtype=np.uint64, count=len(locations))
        return cls(strings, sample_types, mappings, functions, locations, location_ids)


def _value_type(vt: profile_pb2.ValueType, strings: list[str], what: str, name: str) -> ValueType:
    return ValueType(type=validate.string_at(strings, vt.type, f"{what} type", name),
                     unit=validate.string_at(strings, vt.unit, f"{what} unit", name))


# -- samples ------------------------------------------------------------------------------


def _location_converter(location_ids: np.ndarray) -> tuple[Callable, type]:
    """A ``convert`` for ``decode_varint_spans``: location ids to positions in ``Profile.locations``."""
    n_loc = len(location_ids)
    dtype = np.uint8 if n_loc <= 1 << 8 else np.uint16 if n_loc <= 1 << 16 else np.uint32
    max_id = int(location_ids.max()) if n_loc else 0
    if max_id <= 4 * n_loc + 1024:
        table = np.full(max_id + 2, -1, dtype=np.int64)
        table[location_ids.astype(np.int64)] = np.arange(n_loc)

        def convert(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            idx = table[np.minimum(ids, np.uint64(max_id + 1)).astype(np.int64)]
            return idx.astype(dtype), idx < 0
    else:
        order = np.argsort(location_ids)
        sorted_ids = location_ids[order]

        def convert(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.minimum(np.searchsorted(sorted_ids, ids), n_loc - 1)
            return order[pos].astype(dtype), sorted_ids[pos] != ids
    return convert, dtype


def _as_int64(values: np.ndarray) -> tuple[np.ndarray, None]:
    return values.view(np.int64), None


def _label_fields(buf: np.ndarray, occurrences: tuple[np.ndarray, ...], name: str) -> tuple[np.ndarray, ...]:
    """``(sample, key, str, num, num_unit)`` of every label, decoded for all labels at once."""
    which, start, end, wire = occurrences
    if np.any(wire != LEN):
        i = int(np.argmax(wire != LEN))
        raise ProfileError(f"{name}: sample {int(which[i])} has a label with wire type {int(wire[i])}")
    spans = np.stack([start, end], axis=1)
    fields = step_fields(buf, spans, (1, 2, 3, 4), "label of sample", name)
    cols = {}
    for f in (1, 2, 3, 4):
        owner, st, en, wt = fields[f]
        col = np.zeros(len(which), dtype=np.int64)
        if len(owner):
            if np.any(wt != VARINT):
                i = int(owner[np.argmax(wt != VARINT)])
                raise ProfileError(f"{name}: sample {int(which[i])} has a label field with wire type {int(wt[np.argmax(wt != VARINT)])}")
            v, _ = varints_at(buf, st, en, "label of sample", owner, name)
            col[owner] = v.view(np.int64)  # proto3: the last occurrence wins
        cols[f] = col
    return which, cols[1], cols[2], cols[3], cols[4]


class _LabelState:
    """Labels as they are decoded: one column per numeric key, filled chunk by chunk; the rest kept raw.

    A numeric key becomes a ``LabelColumn`` (the heap profile's ``bytes``);
    a string label, a key repeated within one sample, or a unit other than
    the one the key first came with go to ``other_labels``.
    """

    def __init__(self) -> None:
        self.columns: dict[int, tuple[GrowArray, GrowArray, int]] = {}  # key index -> values, present, unit index
        self.other: list[tuple[np.ndarray, ...]] = []
        self.n = 0

    def add(self, labels: tuple[np.ndarray, ...] | None, base: int, n: int) -> None:
        """The labels of samples ``base .. base+n`` (``labels`` is None if they have none)."""
        filled: set[int] = set()
        if labels is not None:
            which, key, strx, num, unit = labels
            numeric = (strx == 0) & ((num != 0) | (unit != 0))
            to_other = strx != 0
            keys = key[numeric]
            # The common case (Go heap profiles): every label is the numeric "bytes"; no masking needed.
            only_key = len(keys) == len(key) and len(keys) > 0 and bool((keys == keys[0]).all())
            for k in ([int(keys[0])] if only_key else np.unique(keys).tolist()):
                sel = np.arange(len(key)) if only_key else np.flatnonzero(numeric & (key == k))
                owners = which[sel]  # in sample order: labels are listed in input order
                if k not in self.columns:
                    self.columns[k] = (GrowArray(np.int64, n), GrowArray(np.bool_, n), int(unit[sel[0]]))
                    self.columns[k][0].append(np.zeros(self.n, np.int64))
                    self.columns[k][1].append(np.zeros(self.n, np.bool_))
                values, present, col_unit = self.columns[k]
                to_column = unit[sel] == col_unit
                dup = np.flatnonzero(owners[1:] == owners[:-1])
                if len(dup):  # a key repeated within a sample does not fit one column
                    to_column &= ~np.isin(owners, owners[dup])
                to_other[sel[~to_column]] = True
                v = np.zeros(n, dtype=np.int64)
                p = np.zeros(n, dtype=np.bool_)
                v[owners[to_column] - base] = num[sel[to_column]]
                p[owners[to_column] - base] = True
                values.append(v)
                present.append(p)
                filled.add(k)
            if to_other.any():
                self.other.append(tuple(a[to_other] for a in labels))
        for k, (values, present, _) in self.columns.items():
            if k not in filled:
                values.append(np.zeros(n, np.int64))
                present.append(np.zeros(n, np.bool_))
        self.n += n

    def finish(self, strings: list[str], name: str) -> tuple[dict[str, LabelColumn], dict[int, tuple[Label, ...]]]:
        n_strings = len(strings)
        other = [np.concatenate(cols) for cols in zip(*self.other)] if self.other else None
        for k, (_, present, unit_index) in self.columns.items():
            for what, index in (("key", k), ("unit", unit_index)):
                if not 0 <= index < n_strings:
                    sample = int(np.argmax(present.a[: present.n]))
                    raise ProfileError(f"{name}: sample {sample} has a label {what} with string index {index}, "
                                       f"but the string table has {n_strings} entries")
        if other is not None:
            which, key, strx, num, unit = other
            for what, arr in (("key", key), ("value", strx), ("unit", unit)):
                bad = np.flatnonzero((arr < 0) | (arr >= n_strings))
                if len(bad):
                    raise ProfileError(f"{name}: sample {int(which[bad[0]])} has a label {what} with string index "
                                       f"{int(arr[bad[0]])}, but the string table has {n_strings} entries")
        num_labels: dict[str, LabelColumn] = {}
        extra: list[tuple[int, Label]] = []
        for k, (values, present, unit_index) in self.columns.items():
            col = LabelColumn(values=values.finish(), present=present.finish(), unit=strings[unit_index])
            if strings[k] in num_labels:  # the same key string twice in the table: keep one column
                extra += [(int(i), Label(key=strings[k], num=int(col.values[i]), num_unit=col.unit))
                          for i in np.flatnonzero(col.present)]
                continue
            num_labels[strings[k]] = col
        if other is not None:
            for i in range(len(other[0])):
                label = (Label(key=strings[key[i]], str=strings[strx[i]]) if strx[i] != 0 else
                         Label(key=strings[key[i]], num=int(num[i]), num_unit=strings[unit[i]]))
                extra.append((int(which[i]), label))
        other_labels: dict[int, list[Label]] = {}
        for i, label in sorted(extra, key=lambda e: e[0]):
            other_labels.setdefault(i, []).append(label)
        return num_labels, {i: tuple(labels) for i, labels in other_labels.items()}
