"""Slice growth: the capacities and allocations that repeated ``append`` produces.

Mirrors ``runtime/slice.go``: ``nextslicecap`` (the 2x → 1.25x rule with
threshold 256, unchanged from 1.20 to 1.27) then ``growslice``'s rounding of
the byte size up to a malloc size class, which is why the final capacity
depends on the element size.
"""

from __future__ import annotations

from dataclasses import dataclass

from goinspect.model.sizeclasses import for_version
from goinspect.model.version import GoVersion

# runtime/slice.go: nextslicecap, const threshold = 256
GROWTH_THRESHOLD = 256


def nextslicecap(new_len: int, old_cap: int) -> int:
    """``runtime.nextslicecap``: the capacity before size-class rounding."""
    newcap = old_cap
    doublecap = newcap + newcap
    if new_len > doublecap:
        return new_len
    if old_cap < GROWTH_THRESHOLD:
        return doublecap
    while True:
        newcap += (newcap + 3 * GROWTH_THRESHOLD) >> 2
        if newcap >= new_len:
            return newcap


@dataclass(frozen=True, slots=True)
class Growth:
    """One ``growslice`` call: the new capacity and the block it allocated."""

    cap: int
    mem: int  # capmem: bytes requested from mallocgc (cap * elem_size)
    block: int  # span elemsize, what a heap profile's ``bytes`` label shows


def growslice(new_len: int, old_cap: int, elem_size: int, noscan: bool = True,
              version: str | GoVersion | None = None) -> Growth:
    """``runtime.growslice``: the capacity after growing to ``new_len`` and the allocation it makes."""
    if elem_size <= 0:
        raise ValueError("zero-size elements never allocate")
    sc = for_version(version)
    newcap = nextslicecap(new_len, old_cap)
    # Every branch of growslice's switch (1, PtrSize, power of two, default) comes to this.
    capmem = sc.roundupsize(newcap * elem_size, noscan)
    newcap = capmem // elem_size
    capmem = newcap * elem_size
    return Growth(newcap, capmem, sc.block_size(capmem, noscan))


# cmd/compile/internal/base/flag.go: Debug.VariableMakeThreshold = 32 (bytes of stack backing store).
STACK_BUFFER_BYTES = 32


def stack_buffer_cap(elem_size: int, version: str | GoVersion | None = None) -> int:
    """Capacity of the stack backing store Go 1.26+ gives an ``append`` the compiler proves does not escape.

    ``cmd/compile/internal/ssagen/ssa.go: getBackingStoreInfo``: K = 32 / elem size (elements up
    to 32 bytes); such appends call ``growsliceBuf`` and stay on the stack up to K elements, and a
    slice that escapes later is copied out by ``moveSlice*``. Heap growth then starts from cap K.
    An append whose result escapes directly (``x.items = append(x.items, v)``) never uses it.
    """
    v = GoVersion.parse(version)
    if not v.append_stack_buffer or elem_size <= 0 or elem_size > STACK_BUFFER_BYTES:
        return 0
    return STACK_BUFFER_BYTES // elem_size


def append_growths(n: int, elem_size: int, noscan: bool = True,
                   version: str | GoVersion | None = None, start_cap: int = 0) -> list[Growth]:
    """Every heap growth of ``for i := 0; i < n; i++ { s = append(s, x) }``, starting from a nil slice
    (``start_cap`` 0) or from a full stack buffer of ``start_cap`` elements (see ``stack_buffer_cap``)."""
    out: list[Growth] = []
    cap = start_cap
    while cap < n:
        g = growslice(cap + 1, cap, elem_size, noscan, version)
        out.append(g)
        cap = g.cap
    return out


def append_capacities(n: int, elem_size: int, noscan: bool = True,
                      version: str | GoVersion | None = None, start_cap: int = 0) -> list[int]:
    """The distinct capacities ``cap(s)`` takes while appending one element at a time ``n`` times."""
    first = [start_cap] if start_cap else []
    return first + [g.cap for g in append_growths(n, elem_size, noscan, version, start_cap)]


def append_block_sizes(max_bytes: int, elem_size: int, noscan: bool = True,
                       version: str | GoVersion | None = None) -> list[int]:
    """The block sizes one-at-a-time appends allocate, up to blocks of ``max_bytes``: a slice's size ladder."""
    out: list[int] = []
    cap = 0
    while True:
        g = growslice(cap + 1, cap, elem_size, noscan, version)
        if g.block > max_bytes:
            return out
        out.append(g.block)
        cap = g.cap


def make_block_size(cap: int, elem_size: int, noscan: bool = True,
                    version: str | GoVersion | None = None) -> int:
    """``runtime.makeslice``: ``make([]T, len, cap)`` asks mallocgc for exactly ``cap * elem_size`` bytes."""
    return for_version(version).block_size(cap * elem_size, noscan)
