"""Which heap allocation holds an address: ``mheap_.arenas`` -> ``heapArena.spans`` -> ``mspan``.

This is ``runtime.spanOf`` done from outside: it answers the base and size of the
object an interior pointer points into, which is how a small tail slice is seen
to pin a whole 64 MiB array. Layouts come from DWARF (``runtime.mheap``,
``runtime.heapArena``, ``runtime.mspan``); arena arithmetic from
``goinspect.model.heaparena``. Arena, span-table and span reads are cached.

``owners`` answers, for many addresses at once, which span owns each one, its
object index and whether that object is allocated (``mspan.isFree``,
runtime/mbitmap.go): the proof that a structure really is a live heap object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from goinspect.model.heaparena import (HEAP_ARENA_BYTES, PAGE_SIZE, PAGES_PER_ARENA, SPAN_IN_USE, SPAN_MANUAL, arena_slot,
                                       span_class_size_class)
from goinspect.model.version import GoVersion
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
    nelems: int = 0
    freeindex: int = 0
    free_index_for_scan: int = 0
    alloc_bits: int = 0  # *gcBits: one bit per object, set for objects allocated before the last sweep

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


#: Where an address lives, as ``owners`` reports it. Only "heap" is a heap object;
#: "stack" (a manually-managed span: goroutine stacks) and "outside heap" (data, bss,
#: off-heap mmap) are legitimate homes for a map header or a small group, not failures.
HEAP, STACK, OUTSIDE = "heap", "stack", "outside heap"
#: Heap addresses that no live object explains (failures for anything the runtime allocated).
NO_SPAN, DEAD_SPAN, UNREADABLE = "no span", "span not in use", "unreadable span"



#: Codes of ``OwnerArrays.where``.
WHERE = (HEAP, STACK, OUTSIDE, NO_SPAN, DEAD_SPAN, UNREADABLE)


@dataclass(frozen=True, slots=True)
class OwnerArrays:
    """``Owner`` of many addresses as columns (``where`` indexes ``WHERE``; obj -1 outside heap objects)."""

    addrs: np.ndarray
    where: np.ndarray
    span: np.ndarray  # *mspan, 0 when none
    obj: np.ndarray
    base: np.ndarray
    allocated: np.ndarray
    elemsize: np.ndarray


@dataclass(frozen=True, slots=True)
class Owner:
    """The span and object that own one address."""

    addr: int
    where: str
    span: Span | None = None
    object_index: int | None = None
    object_base: int | None = None
    allocated: bool | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"addr": hex(self.addr), "where": self.where}
        if self.span is not None:
            s = self.span
            d["span"] = {"addr": hex(s.addr), "start": hex(s.start), "npages": s.npages, "elemsize": s.elemsize,
                         "sizeclass": s.size_class, "noscan": s.noscan, "state": s.state, "nelems": s.nelems}
        if self.object_index is not None:
            d.update(object_index=self.object_index, object_base=hex(self.object_base or 0),
                     allocated=self.allocated)
        return d



class SpanIndex:
    """Looks up the span (and object) of heap addresses of one target."""

    def __init__(self, mem: Memory, types: Types, mheap_addr: int, goarch: str = "amd64",
                 go_version: str | None = None):
        self.mem = mem
        self.goarch = goarch
        # mspan.isFree: objects below freeIndexForScan are allocated up to Go 1.24; from 1.25 on, below freeindex.
        v = GoVersion.parse(go_version) if go_version else None
        self._free_by_freeindex = v is not None and (v.major, v.minor) >= (1, 25)
        mheap = types.layout("runtime.mheap")
        self._arenas_addr = mheap_addr + mheap.fields["arenas"].offset
        self._arenas_l1 = mheap.fields["arenas"].size // PTR_SIZE
        arena = types.layout("runtime.heapArena")
        self._spans_off = arena.fields["spans"].offset
        ms = types.layout("runtime.mspan")
        self._span_size = ms.size
        self._f = {n: (ms.fields[n].offset, ms.fields[n].size)
                   for n in ("startAddr", "npages", "elemsize", "spanclass", "state", "nelems", "freeindex",
                             "freeIndexForScan", "allocBits") if n in ms.fields}
        self._l2_cache: dict[int, int] = {}
        self._arena_cache: dict[tuple[int, int], int] = {}
        self._span_cache: dict[int, Span | None] = {}
        self._spans_table: dict[int, np.ndarray | None] = {}
        self._alloc_bits: dict[int, np.ndarray | None] = {}

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
                                                   v["spanclass"], v["state"], v.get("nelems", 0),
                                                   v.get("freeindex", 0), v.get("freeIndexForScan", 0),
                                                   v.get("allocBits", 0))
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

    def owners(self, addrs: np.ndarray) -> list[Owner]:
        """``owner_arrays`` as one ``Owner`` per address (for a handful of structures)."""
        a = self.owner_arrays(addrs)
        out = []
        for i in range(len(a.addrs)):
            where = WHERE[a.where[i]]
            span = self.span_at(int(a.span[i])) if a.span[i] else None
            if where == HEAP:
                out.append(Owner(int(a.addrs[i]), where, span, int(a.obj[i]), int(a.base[i]), bool(a.allocated[i])))
            else:
                out.append(Owner(int(a.addrs[i]), where, span))
        return out

    def owner_arrays(self, addrs: np.ndarray) -> OwnerArrays:
        """Owners of many addresses, as columns: one read of each arena's span table, one of each span's
        allocBits, numpy over the addresses of each span."""
        addrs = np.asarray(addrs, dtype=np.uint64)
        n = len(addrs)
        out = OwnerArrays(addrs, np.full(n, WHERE.index(OUTSIDE), np.int8), np.zeros(n, np.uint64),
                          np.full(n, -1, np.int64), np.zeros(n, np.uint64), np.zeros(n, bool), np.zeros(n, np.uint64))
        arena_no = addrs // np.uint64(HEAP_ARENA_BYTES)  # addresses of one arena share its span table
        for a_no in np.unique(arena_no).tolist():
            idx = np.flatnonzero(arena_no == a_no)
            first = int(addrs[idx[0]])
            slot = arena_slot(first, self.goarch) if first else None
            arena = self._arena(slot.l1, slot.l2) if slot else 0
            table = self._span_table(arena) if arena else None
            if table is None:
                out.where[idx] = WHERE.index(UNREADABLE if arena else OUTSIDE)
                continue
            sp = table[(addrs[idx] // np.uint64(PAGE_SIZE)) % np.uint64(PAGES_PER_ARENA)]
            out.span[idx] = sp
            out.where[idx] = np.where(sp == 0, WHERE.index(NO_SPAN), WHERE.index(UNREADABLE))
        order = np.argsort(out.span, kind="stable")
        for idx in np.split(order, np.flatnonzero(np.diff(out.span[order])) + 1):
            if not len(idx) or not out.span[idx[0]]:
                continue
            span = self.span_at(int(out.span[idx[0]]))
            if span is None:
                continue  # stays UNREADABLE
            sel = addrs[idx]
            inside = (sel >= span.start) & (sel < span.limit)
            where = STACK if span.state == SPAN_MANUAL else HEAP if span.state == SPAN_IN_USE else DEAD_SPAN
            out.where[idx] = np.where(inside, WHERE.index(where), WHERE.index(DEAD_SPAN))
            out.elemsize[idx] = span.elemsize
            if where != HEAP or span.elemsize <= 0:
                continue
            obj = ((np.where(inside, sel, span.start) - np.uint64(span.start)) // np.uint64(span.elemsize)).astype(np.int64)
            out.obj[idx] = np.where(inside, obj, -1)
            out.base[idx] = np.uint64(span.start) + obj.astype(np.uint64) * np.uint64(span.elemsize)
            out.allocated[idx] = inside & self._allocated(span, obj)
        return out

    def _span_table(self, arena: int) -> np.ndarray | None:
        """``heapArena.spans``: the *mspan of every page of one arena (read once, 64 KiB)."""
        if arena not in self._spans_table:
            data = read_or_none(self.mem, arena + self._spans_off, PAGES_PER_ARENA * PTR_SIZE)
            self._spans_table[arena] = None if data is None else np.frombuffer(data, dtype="<u8")
        return self._spans_table[arena]


    def _allocated(self, span: Span, obj: np.ndarray) -> np.ndarray:
        """``!mspan.isFree(index)``: below the free index (freeIndexForScan before 1.25, freeindex from 1.25), or
        its allocBits bit set. Indexes at or past nelems are never allocated."""
        first_free = span.freeindex if self._free_by_freeindex else span.free_index_for_scan
        nelems = span.nelems or 1
        if span.addr not in self._alloc_bits:
            data = read_or_none(self.mem, span.alloc_bits, (nelems + 7) // 8) if span.alloc_bits else None
            self._alloc_bits[span.addr] = None if data is None else np.frombuffer(data, dtype=np.uint8)
        bits = self._alloc_bits[span.addr]
        obj = obj.astype(np.int64)
        valid = obj < nelems
        below = obj < first_free
        if bits is None:
            return valid & below
        safe = np.where(valid, obj, 0)
        bit = (bits[safe // 8] >> (safe % 8).astype(np.uint8)) & 1
        return valid & (below | (bit == 1))

