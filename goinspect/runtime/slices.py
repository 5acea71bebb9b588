"""Slices: the header, and the heap allocation that really holds the backing array.

``cap`` only says how far the slice may grow; the memory kept alive is the whole
object its array pointer points into (``spans.SpanIndex.allocation_of``), which
for a tail slice (``big[len(big)-16:]``) is the entire original array.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from goinspect.runtime.bulk import read_or_none, uint_at
from goinspect.runtime.spans import SpanIndex
from goinspect.runtime.types import PTR_SIZE, Memory

#: A slice header: {array unsafe.Pointer; len int; cap int} (runtime/slice.go).
SLICE_HEADER_SIZE = 3 * PTR_SIZE


@dataclass(slots=True)
class SliceInfo:
    name: str
    root: str
    type: str
    elem_type: str
    addr: str
    len: int
    cap: int
    elem_size: int
    array_addr: str
    alloc_base: str | None  # None: the array is not in the Go heap (static data, stack) or is unreadable
    alloc_size_bytes: int | None
    offset_in_alloc: int | None
    cap_bytes: int
    pinned_bytes: int | None  # bytes of the allocation the slice cannot reach (before its start, after its cap)
    span: dict[str, Any] | None = None  # the span owning the array (goinspect.runtime.ownership.slice_owner)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_slice(mem: Memory, addr: int, *, name: str, root: str, type_name: str, elem_type: str,
               elem_size: int, spans: SpanIndex | None, words: tuple[int, ...] = ()) -> SliceInfo | None:
    """Read the slice header at ``addr`` (or its three words at ``words``, for a header the compiler
    split over separate stack slots); None when it is unreadable."""
    if words:
        parts = [read_or_none(mem, w, PTR_SIZE) for w in words]
        data = None if None in parts else b"".join(parts)  # type: ignore[arg-type]
    else:
        data = read_or_none(mem, addr, SLICE_HEADER_SIZE)
    if data is None or len(data) != SLICE_HEADER_SIZE:
        return None
    array, length, cap = (uint_at(data, i * PTR_SIZE, PTR_SIZE) for i in range(3))
    alloc = spans.allocation_of(array) if (spans and array) else None
    cap_bytes = cap * elem_size
    return SliceInfo(
        name=name, root=root, type=type_name, elem_type=elem_type, addr=hex(addr), len=length, cap=cap,
        elem_size=elem_size, array_addr=hex(array),
        alloc_base=hex(alloc.base) if alloc else None,
        alloc_size_bytes=alloc.size if alloc else None,
        offset_in_alloc=array - alloc.base if alloc else None,
        cap_bytes=cap_bytes,
        pinned_bytes=max(alloc.size - cap_bytes, 0) if alloc else None,
    )
