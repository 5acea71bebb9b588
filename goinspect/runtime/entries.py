"""``--entries N``: decode up to N live entries of a map, column by column with numpy.

Common key/elem types decode to JSON values: integers, floats, bool, strings
(first ``MAX_STRING`` bytes), pointers (hex), slice headers, small arrays and
structs of those. Anything else (interfaces, maps, channels, funcs) is shown as
its raw words. Every read is bounded; an unreadable string or indirect slot
decodes to None.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from goinspect.runtime.bulk import gather, read_or_none, words
from goinspect.runtime.types import PTR_SIZE, Memory, Types, array_type

#: Bytes of a string shown per value.
MAX_STRING = 256
#: Largest array (elements) or struct nesting decoded element by element.
MAX_ARRAY = 32
MAX_DEPTH = 4
#: Most entries ever decoded, whatever N says.
MAX_ENTRIES = 100_000

_NUMPY = {"bool": "?", "int8": "<i1", "uint8": "<u1", "byte": "<u1", "int16": "<i2", "uint16": "<u2",
          "int32": "<i4", "rune": "<i4", "uint32": "<u4", "int64": "<i8", "int": "<i8", "uint64": "<u8",
          "uint": "<u8", "uintptr": "<u8", "float32": "<f4", "float64": "<f8"}


def live_slots(mask: np.ndarray, n: int) -> np.ndarray:
    """(row, slot) pairs of the first ``n`` live slots of a [rows, 8] mask, in memory order."""
    return np.argwhere(mask)[:max(0, min(n, MAX_ENTRIES))]


def slot_bytes(rows: np.ndarray, where: np.ndarray, base: int, stride: int, size: int) -> np.ndarray:
    """The ``size`` bytes of each selected slot: rows[r, base + s*stride : ... + size]."""
    if len(where) == 0 or size == 0:
        return np.zeros((len(where), size), dtype=np.uint8)
    starts = base + where[:, 1].astype(np.int64) * stride
    return rows[where[:, 0][:, None], starts[:, None] + np.arange(size)]


def decode(mem: Memory, types: Types, type_name: str, raw: np.ndarray, depth: int = 0) -> list[Any]:
    """Decode every row of ``raw`` (uint8[n, sizeof(type)]) as a value of ``type_name``."""
    n = len(raw)
    name = type_name.removeprefix("noalg.")
    if n == 0:
        return []
    if name in _NUMPY:
        return np.ascontiguousarray(raw).view(_NUMPY[name]).ravel().tolist()
    if name in ("complex64", "complex128"):
        half = raw.shape[1] // 2
        f = "<f4" if name == "complex64" else "<f8"
        re = np.ascontiguousarray(raw[:, :half]).view(f).ravel()
        im = np.ascontiguousarray(raw[:, half:]).view(f).ravel()
        return [[a, b] for a, b in zip(re.tolist(), im.tolist())]
    if name == "string":
        return [_string(mem, p, ln) for p, ln in zip(words(raw, 0).tolist(), words(raw, PTR_SIZE).tolist())]
    if name.startswith("*") or name == "unsafe.Pointer" or name.startswith(("chan", "<-chan", "map[", "func(")):
        return [hex(p) for p in words(raw, 0).tolist()]
    if name.startswith("[]"):
        return [{"array": hex(a), "len": ln, "cap": c} for a, ln, c in
                zip(words(raw, 0).tolist(), words(raw, 8).tolist(), words(raw, 16).tolist())]
    if name.startswith("interface {") or name == "error" or name == "any":
        return [{"type": hex(t), "data": hex(d)} for t, d in zip(words(raw, 0).tolist(), words(raw, 8).tolist())]
    arr = array_type(name)
    if arr is not None and depth < MAX_DEPTH:
        count, elem = arr
        if count == 0:
            return [[] for _ in range(n)]
        esize = raw.shape[1] // count
        if count <= MAX_ARRAY:
            cols = [decode(mem, types, elem, raw[:, i * esize:(i + 1) * esize], depth + 1) for i in range(count)]
            return [list(vals) for vals in zip(*cols)]
        if elem in ("uint8", "byte"):
            return [bytes(r[:MAX_STRING]).hex() for r in raw]
    if depth < MAX_DEPTH and not name.startswith("struct {}"):
        try:
            lay = types.layout(type_name)
        except (LookupError, ValueError, AttributeError):
            lay = None
        if lay is not None and lay.fields:
            fields = [f for f in lay.fields.values() if f.name != "_"]
            cols = [decode(mem, types, f.type_name, raw[:, f.offset:f.offset + f.size], depth + 1) for f in fields]
            return [dict(zip((f.name for f in fields), vals)) for vals in zip(*cols)]
    if name.startswith("struct {}") or raw.shape[1] == 0:
        return [{} for _ in range(n)]
    return [{"raw": bytes(r[:64]).hex()} for r in raw]


def _string(mem: Memory, ptr: int, length: int) -> str | None:
    if length == 0:
        return ""
    data = read_or_none(mem, ptr, min(length, MAX_STRING))
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if length <= MAX_STRING else text + f"…(+{length - MAX_STRING} bytes)"


def decode_slots(mem: Memory, types: Types, type_name: str, raw: np.ndarray, indirect: bool, size: int) -> list[Any]:
    """Decode slot bytes; an indirect slot (key/elem over 128 bytes) holds a pointer to the value."""
    if not indirect:
        return decode(mem, types, type_name, raw)
    ptrs = words(raw, 0)
    vals, ok = gather(mem, ptrs, size)
    out = decode(mem, types, type_name, vals)
    return [v if good else None for v, good in zip(out, ok.tolist())]


