"""Where the heap metadata for an address lives: arena and page arithmetic (64-bit Linux).

Mirrors ``runtime/malloc.go`` (``heapArenaBytes``, ``arenaBaseOffset``, ``arenaL1Bits``,
``arenaIndex``) and ``runtime/mheap.go`` (``pagesPerArena``, ``spanOf``). The
constants have been the same from Go 1.21 to 1.27 on linux/amd64 and linux/arm64.
"""

from __future__ import annotations

from dataclasses import dataclass

# runtime/malloc.go: _PageShift = 13 (8 KiB pages); heapArenaBytes = 1 << logHeapArenaBytes = 64 MiB on 64-bit Linux.
PAGE_SIZE = 8192
HEAP_ARENA_BYTES = 64 << 20
PAGES_PER_ARENA = HEAP_ARENA_BYTES // PAGE_SIZE
# runtime/malloc.go: arenaBaseOffset = 0xffff800000000000*goarch.IsAmd64 (0 on arm64); arenaL1Bits = 0 on Linux.
ARENA_BASE_OFFSET = {"amd64": 0xFFFF800000000000, "arm64": 0}
ARENA_L2_BITS = 48 - 26  # heapAddrBits - logHeapArenaBytes
# runtime/mheap.go: mSpanDead = 0, mSpanInUse = 1 (allocated for the garbage-collected heap), mSpanManual = 2.
SPAN_IN_USE = 1
SPAN_MANUAL = 2


@dataclass(frozen=True, slots=True)
class ArenaSlot:
    l1: int
    l2: int
    page: int  # index into heapArena.spans


def arena_slot(addr: int, goarch: str = "amd64") -> ArenaSlot | None:
    """``arenaIndex(p)`` split into L1/L2 and the page within the arena; None for addresses outside the arena map."""
    ri = ((addr - ARENA_BASE_OFFSET[goarch]) % (1 << 64)) // HEAP_ARENA_BYTES
    if ri >> ARENA_L2_BITS:
        return None
    return ArenaSlot(ri >> ARENA_L2_BITS, ri & ((1 << ARENA_L2_BITS) - 1), (addr // PAGE_SIZE) % PAGES_PER_ARENA)


def span_class_size_class(spanclass: int) -> tuple[int, bool]:
    """``spanClass``: (size class, noscan) — ``spanclass = sizeclass<<1 | noscan`` (runtime/mheap.go)."""
    return spanclass >> 1, bool(spanclass & 1)
