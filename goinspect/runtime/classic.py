"""Classic Go maps (``runtime.hmap``, Go <= 1.23; 1.24/1.25 with GOEXPERIMENT=noswissmap).

Reads the header, the whole bucket array in one read, then every overflow chain
level by level (all next-buckets of a level fetched together, cycle-safe,
bounded), and, while a grow is under way, the old buckets not yet evacuated.
Live slots are counted from tophash with numpy. Mirrors ``runtime/map.go``;
constants from ``goinspect.model.classicmap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goinspect.model import classicmap
from goinspect.model.sizeclasses import for_version
from goinspect.runtime.bulk import KeptRows, gather, read_or_none, uint_at, words
from goinspect.runtime.spans import SpanIndex
from goinspect.runtime.types import PTR_SIZE, Memory, Types

# runtime/map.go: tophash values below minTopHash mark empty/evacuated slots.
EMPTY_REST, EMPTY_ONE, EVACUATED_X, EVACUATED_Y, EVACUATED_EMPTY, MIN_TOPHASH = 0, 1, 2, 3, 4, 5
# runtime/map.go: hmap.flags bits.
FLAG_SAME_SIZE_GROW = 8
#: Bounds on a walk through a target whose pointers may be garbage.
MAX_CHAIN_DEPTH = 1 << 16
MAX_OVERFLOW_BUCKETS = 1 << 24
MAX_B = 40


@dataclass(frozen=True, slots=True)
class ClassicLayout:
    """Offsets of ``runtime.hmap``, ``runtime.mapextra`` and this map's ``bucket<K,V>``."""

    hmap: dict[str, tuple[int, int]]
    hmap_size: int
    extra: dict[str, int]
    bucket_size: int
    keys_off: int
    key_slot: int
    elems_off: int
    elem_slot: int
    overflow_off: int
    noscan: bool
    key_type: str
    elem_type: str
    key_size: int
    elem_size: int

    @property
    def indirect_key(self) -> bool:
        return self.key_size > classicmap.MAX_KEY_BYTES

    @property
    def indirect_elem(self) -> bool:
        return self.elem_size > classicmap.MAX_ELEM_BYTES


def classic_layout(types: Types, key_type: str, elem_type: str, key_size: int, elem_size: int,
                   bucket_type: str = "") -> ClassicLayout:
    """Layouts from DWARF: ``runtime.hmap``, ``runtime.mapextra`` and ``bucket<K,V>``.

    The compiler makes a bucket's ``overflow`` field a ``uintptr`` when keys and elems
    hold no pointers (reflectdata.MapBucketType), which is how pointer-free buckets are
    told apart. If the binary has no ``bucket<K,V>`` (types the linker dropped), the
    layout is computed as the compiler does it. ``bucket_type`` is the DWARF name when the
    caller knows it (``goinspect.target`` reads it off the map's ``hash<K,V>`` type).
    """
    h = types.layout("runtime.hmap")
    x = types.layout("runtime.mapextra")
    ks, es = key_size, elem_size
    hmap = {n: (f.offset, f.size) for n, f in h.fields.items() if n != "_"}
    extra = {n: x.fields[n].offset for n in ("overflow", "oldoverflow", "nextOverflow")}
    try:
        b = types.layout(bucket_type or f"bucket<{key_type},{elem_type}>")
        f = b.fields
        return ClassicLayout(hmap, h.size, extra, b.size, f["keys"].offset, f["keys"].size // classicmap.BUCKET_COUNT,
                             f["values"].offset, f["values"].size // classicmap.BUCKET_COUNT, f["overflow"].offset,
                             f["overflow"].type_name == "uintptr", key_type, elem_type, ks, es)
    except (LookupError, ValueError, AttributeError):
        pass
    bt = classicmap.bucket_type(ks, es, key_pointers=True, elem_pointers=True)
    kslot = PTR_SIZE if bt.indirect_key else ks
    eslot = PTR_SIZE if bt.indirect_elem else es
    return ClassicLayout(hmap, h.size, extra, bt.size, classicmap.BUCKET_COUNT, kslot,
                         classicmap.BUCKET_COUNT * (1 + kslot), eslot, bt.size - PTR_SIZE, False,
                         key_type, elem_type, ks, es)


@dataclass(slots=True)
class ChainWalk:
    """Buckets reached from a set of first buckets by following ``overflow`` pointers."""

    overflow_addrs: list[np.ndarray] = field(default_factory=list)
    overflow: int = 0
    live: int = 0
    empty_one: int = 0  # tombstones left by delete (emptyOne)
    unreadable: int = 0
    max_chain: int = 0  # buckets in the longest chain
    truncated: bool = False
    revisits: int = 0  # overflow links to a bucket already reached (shared chains, cycles, a primary bucket)
    evacuation_marks: int = 0  # slots marked evacuatedX/Y/Empty in buckets that are not evacuated


def walk_chains(mem: Memory, first: np.ndarray, lay: ClassicLayout, stop: tuple[int, int],
                keep: KeptRows | None) -> ChainWalk:
    """Count live slots along every chain starting at the rows ``first`` (already read).

    ``stop`` is an address range (the primary buckets) a chain must never re-enter;
    visited overflow buckets are remembered, so a cyclic chain is walked once.
    """
    w = ChainWalk()
    level = first
    seen = np.zeros(0, dtype=np.uint64)
    depth = 0
    while len(level):
        depth += 1
        th = level[:, :classicmap.BUCKET_COUNT]
        live = int(np.count_nonzero(th >= MIN_TOPHASH))
        w.live += live
        w.empty_one += int(np.count_nonzero(th == EMPTY_ONE))
        w.evacuation_marks += int(np.count_nonzero((th > EMPTY_ONE) & (th < MIN_TOPHASH)))
        if keep is not None:
            keep.offer(level, live)
        nxt = words(level, lay.overflow_off)
        nxt = np.sort(nxt[nxt != 0])
        links = len(nxt)
        nxt = nxt[np.concatenate(([True], nxt[1:] != nxt[:-1]))] if len(nxt) else nxt  # distinct
        nxt = nxt[~((nxt >= stop[0]) & (nxt < stop[1]))]
        nxt = nxt[~np.isin(nxt, seen)]
        w.revisits += links - len(nxt)
        if not len(nxt):
            break
        w.max_chain = depth
        if depth >= MAX_CHAIN_DEPTH or w.overflow + len(nxt) > MAX_OVERFLOW_BUCKETS:
            w.truncated = True
            break
        seen = np.concatenate((seen, nxt))
        rows, ok = gather(mem, nxt, lay.bucket_size)
        w.unreadable += int(np.count_nonzero(~ok))
        w.overflow += int(np.count_nonzero(ok))
        w.overflow_addrs.append(nxt[ok])
        level = rows[ok]
    w.max_chain = depth if len(first) else 0
    return w


#: Primary buckets are read and walked this many bytes at a time (bounds the memory a census needs).
CHUNK_BYTES = 4 << 20


@dataclass(slots=True)
class ArrayWalk:
    """A bucket array walked chunk by chunk: its chains merged, evacuated old buckets counted."""

    chains: ChainWalk
    evacuated: int = 0
    unreadable_primary: int = 0
    evacuated_below: int = 0  # evacuated buckets among the first ``nevacuate``
    evacuated_mixed: int = 0  # evacuated buckets with a slot whose tophash is not an evacuation mark
    primary_live: list[np.ndarray] = field(default_factory=list)  # live slots per primary bucket, chunk by chunk


def walk_array(mem: Memory, addr: int, n: int, lay: ClassicLayout, keep: KeptRows | None, *,
               skip_evacuated: bool = False, nevacuate: int = 0) -> ArrayWalk:
    """Read ``n`` primary buckets at ``addr`` (a few MiB per read) and walk every chain from them.

    With ``skip_evacuated`` (old buckets of a grow), buckets whose tophash[0] is an
    evacuated mark are counted, not walked: their entries already live in the new array.
    """
    bsize = lay.bucket_size
    out = ArrayWalk(ChainWalk())
    per = max(1, CHUNK_BYTES // bsize)
    stop = (addr, addr + n * bsize)
    for start in range(0, n, per):
        count = min(per, n - start)
        data = read_or_none(mem, addr + start * bsize, count * bsize)
        if data is None:
            out.unreadable_primary += count
            continue
        first = np.frombuffer(data, dtype=np.uint8).reshape(count, bsize)
        if skip_evacuated:
            t0 = first[:, 0]
            evacuated = (t0 > EMPTY_ONE) & (t0 < MIN_TOPHASH)
            out.evacuated += int(np.count_nonzero(evacuated))
            out.evacuated_below += int(np.count_nonzero(evacuated[:max(0, nevacuate - start)]))
            th = first[evacuated, :classicmap.BUCKET_COUNT]
            out.evacuated_mixed += int(np.count_nonzero(((th <= EMPTY_ONE) | (th >= MIN_TOPHASH)).any(axis=1)))
            first = first[~evacuated]
        else:
            out.primary_live.append(np.count_nonzero(live_mask(first), axis=1).astype(np.uint8))
        w = walk_chains(mem, first, lay, stop, keep)
        c = out.chains
        c.overflow_addrs += w.overflow_addrs
        c.overflow += w.overflow
        c.live += w.live
        c.empty_one += w.empty_one
        c.unreadable += w.unreadable
        c.max_chain = max(c.max_chain, w.max_chain)
        c.truncated |= w.truncated
        c.revisits += w.revisits
        c.evacuation_marks += w.evacuation_marks
    return out


def live_mask(buckets: np.ndarray) -> np.ndarray:
    """[n, 8] bool: which slots of these bucket rows hold an entry (tophash >= minTopHash)."""
    return buckets[:, :classicmap.BUCKET_COUNT] >= MIN_TOPHASH


def _hex(v: int | None) -> str | None:
    return None if v is None else hex(v)


def read_header(mem: Memory, addr: int, lay: ClassicLayout) -> dict[str, int] | None:
    data = read_or_none(mem, addr, lay.hmap_size)
    if data is None:
        return None
    return {n: uint_at(data, off, size) for n, (off, size) in lay.hmap.items()}


def _slice_len(mem: Memory, slice_ptr: int) -> int | None:
    """``len(*p)`` for a ``*[]T`` (the slice header's second word)."""
    if not slice_ptr:
        return None
    data = read_or_none(mem, slice_ptr + PTR_SIZE, PTR_SIZE)
    return None if data is None else uint_at(data, 0, PTR_SIZE)


@dataclass(slots=True)
class ClassicMap:
    """Everything read about one classic map; ``to_json`` is the ``"hmap"`` object of the CLI contract."""

    header: dict[str, Any]
    mapextra: dict[str, Any] | None
    walk: dict[str, Any]
    structure_bytes: int
    overflow_addrs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # current array's chains
    old_overflow_addrs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # unevacuated old chains
    #: Live slots in each primary bucket of the current array (not its overflow chain): the occupancy picture.
    primary_live: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "mapextra": self.mapextra, "walk": self.walk}


def read_classic(mem: Memory, addr: int, lay: ClassicLayout, *, go_version: str | None = None,
                 spans: SpanIndex | None = None, keep: KeptRows | None = None) -> ClassicMap | None:
    """Read the map whose ``*hmap`` is ``addr``; None when the header itself is unreadable.

    Unreadable buckets (primary or overflow) are counted in ``walk.unreadable_buckets``
    and skipped; the rest of the map is still read."""
    h = read_header(mem, addr, lay)
    if h is None:
        return None
    sc = for_version(go_version)
    bsize = lay.bucket_size
    header = {k: (_hex(v) if k in ("buckets", "oldbuckets", "extra") else v) for k, v in h.items()}
    B = h["B"]
    walk: dict[str, Any] = {"buckets": 1 << B if B <= MAX_B else None, "overflow_buckets": 0, "live": 0}
    structure = sc.block_size(lay.hmap_size, False)
    if B > MAX_B:
        walk["error"] = f"B={B} is not a plausible bucket exponent"
        return ClassicMap(header, None, walk, structure)

    nb = 1 << B
    bucket_block = sc.block_size(bsize, lay.noscan)

    def alloc_size(ptr: int, nbytes: int) -> int:
        a = spans.allocation_of(ptr) if spans else None
        return a.size if a else sc.block_size(nbytes, lay.noscan)

    # Current buckets, chunk by chunk, with their chains.
    unreadable = 0
    array_end = h["buckets"] + nb * bsize
    bt = classicmap.bucket_type(lay.key_size, lay.elem_size, not lay.noscan, not lay.noscan)
    total = classicmap.bucket_array(B, bt, go_version).nbuckets if B >= classicmap.PREALLOC_OVERFLOW_MIN_B else nb
    alloc_end = h["buckets"] + total * bsize
    prealloc_used = 0
    ovf = old_ovf = np.zeros(0, np.uint64)
    primary_live = np.zeros(0, np.uint8)
    if h["buckets"]:
        aw = walk_array(mem, h["buckets"], nb, lay, keep)
        w = aw.chains
        primary_live = np.concatenate(aw.primary_live) if aw.primary_live else primary_live
        ovf = np.concatenate(w.overflow_addrs) if w.overflow_addrs else np.zeros(0, np.uint64)
        prealloc_used = int(np.count_nonzero((ovf >= array_end) & (ovf < alloc_end)))
        walk.update(overflow_buckets=w.overflow, live=w.live, empty_one_slots=w.empty_one,
                    max_chain=w.max_chain, preallocated_overflow_used=prealloc_used,
                    chains_truncated=w.truncated, overflow_revisits=w.revisits,
                    evacuation_marks_in_live_buckets=w.evacuation_marks)
        unreadable += w.unreadable + aw.unreadable_primary
        structure += alloc_size(h["buckets"], total * bsize)
        structure += (w.overflow - prealloc_used) * bucket_block

    # Old buckets, while growing: evacuated marks, and the chains of those not yet evacuated.
    if h["oldbuckets"]:
        nold = nb if h["flags"] & FLAG_SAME_SIZE_GROW else nb // 2
        walk["oldbuckets_count"] = nold
        aw = walk_array(mem, h["oldbuckets"], nold, lay, keep, skip_evacuated=True, nevacuate=h["nevacuate"])
        ow = aw.chains
        old_ovf = np.concatenate(ow.overflow_addrs) if ow.overflow_addrs else old_ovf
        walk.update(evacuated_old_buckets=aw.evacuated, old_overflow_buckets=ow.overflow,
                    old_live_unevacuated=ow.live, evacuated_below_nevacuate=aw.evacuated_below,
                    evacuated_with_stray_marks=aw.evacuated_mixed, old_overflow_revisits=ow.revisits,
                    evacuation_marks_in_unevacuated=ow.evacuation_marks)
        walk["live"] += ow.live
        unreadable += ow.unreadable + aw.unreadable_primary
        # The old array was made with its own preallocated overflow tail: chains that use it add no blocks.
        old_b = B if h["flags"] & FLAG_SAME_SIZE_GROW else B - 1
        old_total = (classicmap.bucket_array(old_b, bt, go_version).nbuckets
                     if old_b >= classicmap.PREALLOC_OVERFLOW_MIN_B else nold)
        old_end, old_alloc_end = h["oldbuckets"] + nold * bsize, h["oldbuckets"] + old_total * bsize
        old_prealloc_used = int(np.count_nonzero((old_ovf >= old_end) & (old_ovf < old_alloc_end)))
        walk["old_preallocated_overflow_used"] = old_prealloc_used
        structure += alloc_size(h["oldbuckets"], old_total * bsize) + (ow.overflow - old_prealloc_used) * bucket_block
    walk["unreadable_buckets"] = unreadable
    walk["growing"] = bool(h["oldbuckets"])
    walk["same_size_grow"] = bool(h["oldbuckets"]) and bool(h["flags"] & FLAG_SAME_SIZE_GROW)
    walk["noverflow_exact"] = B < 16
    walk["pointer_free_buckets"] = lay.noscan  # newoverflow lists every overflow bucket in extra.overflow

    mapextra = None
    if h["extra"]:
        structure += sc.block_size(classicmap.MAPEXTRA_SIZE, False)
        data = read_or_none(mem, h["extra"], classicmap.MAPEXTRA_SIZE)
        if data is None:
            mapextra = {"unreadable": True}
        else:
            ov, oov, nxt = (uint_at(data, lay.extra[n], PTR_SIZE) for n in ("overflow", "oldoverflow", "nextOverflow"))
            mapextra = {"overflow": hex(ov), "oldoverflow": hex(oov), "nextOverflow": hex(nxt),
                        "overflow_len": _slice_len(mem, ov), "oldoverflow_len": _slice_len(mem, oov),
                        "unused_preallocated_overflow": _unused_prealloc(mem, h["buckets"], nxt, lay, nb, alloc_end)}
    return ClassicMap(header, mapextra, walk, structure, ovf, old_ovf, primary_live)


def _unused_prealloc(mem: Memory, buckets: int, next_overflow: int, lay: ClassicLayout, nb: int,
                     alloc_end: int) -> int | None:
    """Preallocated overflow buckets not handed out yet: from ``nextOverflow`` up to the bucket whose
    overflow pointer is the sentinel ``buckets`` (``makeBucketArray``), inclusive; None if not found."""
    if not next_overflow:
        return 0
    bsize = lay.bucket_size
    if not (buckets + nb * bsize <= next_overflow < alloc_end) or (next_overflow - buckets) % bsize:
        return None
    n = (alloc_end - next_overflow) // bsize
    data = read_or_none(mem, next_overflow, n * bsize)
    if data is None:
        return None
    rows = np.frombuffer(data, dtype=np.uint8).reshape(n, bsize)
    hit = np.flatnonzero(words(rows, lay.overflow_off) == buckets)
    return int(hit[0]) + 1 if len(hit) else None
