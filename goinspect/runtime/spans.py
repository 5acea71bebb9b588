"""Which heap allocation holds an address: ``mheap_.arenas`` -> ``heapArena.spans`` -> ``mspan``.

This is ``runtime.spanOf`` done from outside: it answers the base and size of the
object an interior pointer points into, which is how a small tail slice is seen
to pin a whole 64 MiB array. Layouts come from DWARF (``runtime.mheap``,
``runtime.heapArena``, ``runtime.mspan``); arena arithmetic from
``goinspect.model.heaparena``. Arena, span-table and span reads are cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from goinspect.model.heaparena import PAGE_SIZE, SPAN_IN_USE, arena_slot, span_class_size_class
from goinspect.runtime.bulk import read_or_none, uint_at
from goinspect.runtime.types import PTR_SIZE, Memory, Types


@dataclass(frozen=True, slots=True)
class Span:
    addr: int
    start: int
    npages: int
    elemsize: int
    spanclass: int
    state: int

    @property
    def size_class(self) -> int:
        return span_class_size_class(self.spanclass)[0]

    @property
    def noscan(self) -> bool:
        return span_class_size_class(self.spanclass)[1]

    @property
    def limit(self) -> int:
        return self.start + self.npages * PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Allocation:
    """The heap object holding an address."""

    base: int
    size: int  # span elemsize: the whole block, as a heap profile's ``bytes`` label counts it
    span: Span


class SpanIndex:
    """Looks up the span (and object) of heap addresses of one target."""

    def __init__(self, mem: Memory, types: Types, mheap_addr: int, goarch: str = "amd64"):
        self.mem = mem
        self.goarch = goarch
        mheap = types.layout("runtime.mheap")
        self._arenas_addr = mheap_addr + mheap.fields["arenas"].offset
        self._arenas_l1 = mheap.fields["arenas"].size // PTR_SIZE
        arena = types.layout("runtime.heapArena")
        self._spans_off = arena.fields["spans"].offset
        ms = types.layout("runtime.mspan")
        self._span_size = ms.size
        self._f = {n: (ms.fields[n].offset, ms.fields[n].size)
                   for n in ("startAddr", "npages", "elemsize", "spanclass", "state")}
        self._l2_cache: dict[int, int] = {}
        self._arena_cache: dict[tuple[int, int], int] = {}
        self._span_cache: dict[int, Span | None] = {}

    def _word(self, addr: int) -> int | None:
        data = read_or_none(self.mem, addr, PTR_SIZE)
        return None if data is None else uint_at(data, 0, PTR_SIZE)

    def _arena(self, l1: int, l2: int) -> int:
        key = (l1, l2)
        if key not in self._arena_cache:
            if l1 not in self._l2_cache:
                self._l2_cache[l1] = (self._word(self._arenas_addr + l1 * PTR_SIZE) or 0) if l1 < self._arenas_l1 else 0
            l2_arr = self._l2_cache[l1]
            self._arena_cache[key] = (self._word(l2_arr + l2 * PTR_SIZE) or 0) if l2_arr else 0
        return self._arena_cache[key]

    def span_at(self, span_addr: int) -> Span | None:
        if span_addr not in self._span_cache:
            data = read_or_none(self.mem, span_addr, self._span_size)
            if data is None:
                self._span_cache[span_addr] = None
            else:
                v = {n: uint_at(data, off, sz) for n, (off, sz) in self._f.items()}
                self._span_cache[span_addr] = Span(span_addr, v["startAddr"], v["npages"], v["elemsize"],
                                                   v["spanclass"], v["state"])
        return self._span_cache[span_addr]

    def span_of(self, addr: int) -> Span | None:
        """``spanOf``: the in-use span whose pages contain ``addr``, or None (not heap, or freed)."""
        slot = arena_slot(addr, self.goarch)
        if slot is None or addr == 0:
            return None
        arena = self._arena(slot.l1, slot.l2)
        if not arena:
            return None
        span_addr = self._word(arena + self._spans_off + slot.page * PTR_SIZE)
        if not span_addr:
            return None
        span = self.span_at(span_addr)
        if span is None or span.state != SPAN_IN_USE or not (span.start <= addr < span.limit) or span.elemsize <= 0:
            return None
        return span

    def allocation_of(self, addr: int) -> Allocation | None:
        """The object holding ``addr``: base = start + index*elemsize (``mspan.objIndex``), size = elemsize."""
        span = self.span_of(addr)
        if span is None:
            return None
        base = span.start + (addr - span.start) // span.elemsize * span.elemsize
        if base + span.elemsize > span.limit:
            return None  # the tail of a span that holds no whole object
        return Allocation(base, span.elemsize, span)
