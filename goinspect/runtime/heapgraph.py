"""The heap graph's paused half: from the map and slice roots, every object they keep alive, in bulk.

What is read (``collect``): each root variable; a map's header, its bucket array,
overflow buckets, old buckets and mapextra (classic) or its directory, tables and
group arrays (Swiss); a slice's backing array; then every heap object the live
keys, values and elements point to, transitively. Pointers are found through the
static types (DWARF: ``*T`` fields, strings, slices, arrays and structs of them)
and conservatively where the type is unknown (interface data, ``unsafe.Pointer``,
maps, chans and funcs inside values): a word counts when it lands inside an
allocated object of an in-use span. Objects in ``noscan`` spans are never scanned,
as the GC does not scan them. Every object is its allocation: (base, span elemsize).

Everything is done level by level over numpy columns: one frontier of pointers is
resolved to spans/objects with one ``SpanIndex.owner_arrays``, objects of one type
(or one size) are read with one coalesced ``gather``; so a million small objects
cost a handful of bulk operations, not a million reads.

The result (``HeapObjects``) is plain arrays; ``goinspect.analysis.graph`` turns it
into dominators, retained bytes and paths after the target is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from goinspect.model.heaparena import ARENA_BASE_OFFSET, HEAP_ARENA_BYTES
from goinspect.runtime import classic, swiss
from goinspect.runtime.bulk import gather, read_or_none, uint_at, words
from goinspect.runtime.roots import Root
from goinspect.runtime.spans import HEAP, WHERE, OwnerArrays, SpanIndex
from goinspect.runtime.types import PTR_SIZE, SCALARS, Memory, array_type, sizeof, slice_elem, split_map_type

#: Node kinds (``HeapObjects.kinds`` indexes this tuple). Structure kinds come before ``object``: when one
#: allocation is reached in two roles, the structure role wins.
KINDS = ("root", "map header", "bucket array", "overflow bucket", "old bucket array", "mapextra",
         "directory", "table", "group array", "group", "slice array", "object")
ROOT, HEADER, BUCKETS, OVERFLOW, OLDBUCKETS, MAPEXTRA, DIRECTORY, TABLE, GROUPS, GROUP, ARRAY, OBJECT = range(len(KINDS))

#: Bounds for walking a target whose memory may hold garbage.
MAX_LEVELS = 20_000
MAX_OBJECTS = 50_000_000
#: A conservatively scanned object is read up to this many bytes.
MAX_SCAN_BYTES = 64 << 20
#: Slot layouts of arrays longer than this are not expanded element by element (scanned as words instead).
MAX_ARRAY_SLOTS = 4096
MAX_TYPE_DEPTH = 12
#: Slot data of maps and slice arrays is read this many bytes at a time.
CHUNK_BYTES = 4 << 20

_UINT = np.uint64
#: Pointer words noted for resolving later, per slot: [(source objects, words, caps of slice slots or None)].
Deferred = dict  # dict[PtrSlot, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]]


def distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` by sorting: numpy 2.x's hashing unique is far slower on
    millions of addresses)."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a


def distinct_first(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each one's first occurrence)."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    keep = np.concatenate(([True], s[1:] != s[:-1])) if len(s) else np.zeros(0, bool)
    return s[keep], order[keep]


def order2(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """``np.lexsort((minor, major))`` as two stable argsorts (several times faster on a million rows)."""
    o = np.argsort(minor, kind="stable")
    return o[np.argsort(major[o], kind="stable")]


def member(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """``np.isin(a, sorted_b)`` for a sorted, distinct ``sorted_b``."""
    if not len(sorted_b):
        return np.zeros(len(a), bool)
    i = np.minimum(np.searchsorted(sorted_b, a), len(sorted_b) - 1)
    return sorted_b[i] == a


# -- pointer layouts of types -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PtrSlot:
    """A word of a value that may hold a pointer.

    ``kind``: ``ptr`` (a ``*T``; ``type`` is T, whose value at the target is scanned as T),
    ``str`` (string data: bytes, never scanned), ``slice`` (``type`` is the element type; the array
    is scanned element by element up to cap), ``any`` (type unknown: the target object is scanned
    conservatively, word by word).
    """

    offset: int
    kind: str
    type: str = ""


class ScanPlan:
    """Pointer slots of Go types, from DWARF layouts (``target.layout``), memoised per type name.

    ``prepare(type_names)`` resolves the static closure of the given types (what their pointers,
    slices and arrays lead to) before a live target is paused; types first met while walking
    are resolved then (the target caches layouts per build-id, so only the first run pays).
    """

    def __init__(self, types: Any):
        self.types = types
        self._slots: dict[str, tuple[PtrSlot, ...]] = {}
        self._sizes: dict[str, int] = {}

    def size(self, type_name: str) -> int:
        if type_name not in self._sizes:
            try:
                self._sizes[type_name] = sizeof(self.types, type_name)
            except (LookupError, ValueError, AttributeError):
                self._sizes[type_name] = 0
        return self._sizes[type_name]

    def prepare(self, type_names: Iterable[str]) -> None:
        """Resolve every type reachable from these (map/slice container types welcome) through pointers,
        and the runtime layouts the walk itself reads."""
        prefetch = getattr(self.types, "prefetch", None)
        if prefetch is not None:
            prefetch(list(MODULE_TYPES))
        if getattr(self.types, "exe", None):
            _symbols(str(self.types.exe))  # read the symbol table now, not during the pause
        todo = set()
        for t in type_names:
            if t.startswith("map["):
                todo.update(split_map_type(t))
            elif t.startswith("[]"):
                todo.add(slice_elem(t))
            else:
                todo.add(t)
        seen: set[str] = set()
        while todo:
            batch = sorted(todo - seen)
            if not batch:
                break
            seen.update(batch)
            prefetch = getattr(self.types, "prefetch", None)
            if prefetch is not None:
                prefetch([n for n in batch if _needs_layout(n)])
            todo = set()
            for t in batch:
                for s in self.slots(t):
                    if s.kind in ("ptr", "slice") and s.type:
                        todo.add(s.type)

    def slots(self, type_name: str) -> tuple[PtrSlot, ...]:
        if type_name not in self._slots:
            self._slots[type_name] = tuple(self._expand(type_name, 0, 0))
        return self._slots[type_name]

    def _expand(self, type_name: str, base: int, depth: int) -> list[PtrSlot]:
        name = type_name.removeprefix("noalg.")
        if name in SCALARS or name.startswith("struct {}") or depth > MAX_TYPE_DEPTH:
            return []
        if name == "string":
            return [PtrSlot(base, "str")]
        if name == "unsafe.Pointer" or name.startswith(("map[", "chan ", "chan<-", "<-chan", "func(")):
            return [PtrSlot(base, "any")]
        if name.startswith("*"):
            return [PtrSlot(base, "ptr", type_name[type_name.index("*") + 1:])]
        if name.startswith("[]"):
            return [PtrSlot(base, "slice", slice_elem(name))]
        if name.startswith("interface {") or name in ("error", "any"):
            return [PtrSlot(base + PTR_SIZE, "any")]  # word 0 is the itab/type: static data
        arr = array_type(name)
        if arr is not None:
            n, elem = arr
            esize = self.size(elem)
            inner = self._expand(elem, 0, depth + 1) if n and esize else []
            if not inner:
                return []
            if n * len(inner) > MAX_ARRAY_SLOTS:  # huge arrays: every word, conservatively
                return [PtrSlot(base + i, "any") for i in range(0, min(n * esize, MAX_ARRAY_SLOTS * PTR_SIZE),
                                                                   PTR_SIZE)]
            return [PtrSlot(base + i * esize + s.offset, s.kind, s.type) for i in range(n) for s in inner]
        try:
            lay = self.types.layout(type_name)
        except (LookupError, ValueError, AttributeError):
            return []  # unknown type: nothing we can say (its pointers, if any, are missed)
        fields = lay.fields
        if set(fields) == {"array", "len", "cap"} and fields["array"].type_name.startswith("*"):
            return [PtrSlot(base, "slice", fields["array"].type_name[1:])]  # a named slice type
        if set(fields) == {"str", "len"}:
            return [PtrSlot(base, "str")]  # a named string type
        if not fields:
            # A named non-struct type (type ID int64, type Cache map[K]V, ...): its words, conservatively.
            return [PtrSlot(base + i, "any") for i in range(0, lay.size - lay.size % PTR_SIZE, PTR_SIZE)]
        out: list[PtrSlot] = []
        for f in fields.values():
            if f.size:
                out += self._expand(f.type_name, base + f.offset, depth + 1)
        return out


def _needs_layout(name: str) -> bool:
    n = name.removeprefix("noalg.")
    return not (n in SCALARS or n == "string" or n.startswith(("*", "[]", "map[", "chan", "<-chan", "func(",
                                                               "interface {", "struct {}", "["))
                or n in ("unsafe.Pointer", "error", "any"))


# -- results -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Item:
    """One map or slice root as the graph sees it.

    ``node`` is the base of its map header / slice array allocation (0: nil map, empty slice,
    unreadable). ``structure`` holds the bases of its own objects (header, bucket/group arrays,
    overflow buckets, tables, directory, mapextra; the slice array). ``value_targets``: sorted
    distinct bases of the objects its value slots (map elems; the slice's len elements -- the graph
    still has edges from every slot of the array allocation, as the GC scans it) point to directly;
    ``key_targets`` likewise for map keys.
    """

    name: str
    kind: str  # 'map' | 'slice'
    root: Root
    root_id: int
    node: int = 0
    structure: np.ndarray = field(default_factory=lambda: np.zeros(0, _UINT))
    value_targets: np.ndarray = field(default_factory=lambda: np.zeros(0, _UINT))
    key_targets: np.ndarray = field(default_factory=lambda: np.zeros(0, _UINT))
    error: str | None = None


@dataclass(slots=True)
class HeapObjects:
    """What ``collect`` read, as columns. Node ids are allocation bases; roots get ids 1..len(roots)
    (no heap address is that small). ``outside[i]``: node i is not a Go heap object (a map header
    or array in static data or on a stack), its size then comes from its type."""

    bases: np.ndarray  # uint64, sorted, distinct
    sizes: np.ndarray  # uint64
    kinds: np.ndarray  # int8 into KINDS
    outside: np.ndarray  # bool
    src: np.ndarray  # uint64 node ids, one per distinct edge
    dst: np.ndarray
    roots: list[Root]
    items: dict[str, Item]
    stats: dict[str, Any] = field(default_factory=dict)
    #: What ``collect`` gathered, not yet sorted and deduplicated (``finalize`` does it after the pause).
    parts: tuple[list[Any], list[np.ndarray], list[np.ndarray]] | None = None

    def finalize(self) -> "HeapObjects":
        """Sort and deduplicate nodes (a base reached in two roles keeps its structure kind) and edges, and
        make every item's targets sorted and distinct. Pure numpy: done once the target runs again."""
        if self.parts is None:
            return self
        node_parts, src_parts, dst_parts = self.parts
        self.parts = None
        if node_parts:
            b, s, k, o = (np.concatenate([p[i] for p in node_parts]) for i in range(4))
            order = order2(b, k)  # per base, the most specific (lowest) kind first
            b, s, k, o = b[order], s[order], k[order], o[order]
            first = np.concatenate(([True], b[1:] != b[:-1])) if len(b) else np.zeros(0, bool)
            self.bases, self.sizes, self.kinds, self.outside = b[first], s[first], k[first], o[first]
        if src_parts:
            src, dst = np.concatenate(src_parts), np.concatenate(dst_parts)
            order = order2(src, dst)
            src, dst = src[order], dst[order]
            if len(src):
                first = np.concatenate(([True], (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])))
                src, dst = src[first], dst[first]
            self.src, self.dst = src, dst
        for it in self.items.values():
            it.structure, it.key_targets, it.value_targets = (
                distinct(a) for a in (it.structure, it.key_targets, it.value_targets))
        self.stats.update(objects=int(len(self.bases)), edges=int(len(self.src)))
        return self

    def index(self, ids: np.ndarray | int) -> np.ndarray:
        """Row of each node id (ids must be nodes)."""
        return np.searchsorted(self.bases, np.asarray(ids, dtype=_UINT))


def root_label(r: Root) -> str:
    """``global main.cache`` / ``stack main.serve.m (goroutine 7)``."""
    g = getattr(r, "goroutine", None)
    return f"{r.root} {r.name}" + (f" (goroutine {g})" if g is not None else "")


# -- the walk ------------------------------------------------------------------------------------


class _Walk:
    """Accumulates nodes and edges; resolves pointer frontiers in bulk; scans new objects."""

    def __init__(self, mem: Memory, spans: SpanIndex, plan: ScanPlan, arenas: np.ndarray | None):
        self.mem, self.spans, self.plan, self.arenas = mem, spans, plan, arenas
        self.node_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.src_parts: list[np.ndarray] = []
        self.dst_parts: list[np.ndarray] = []
        self.visited: set[int] = set()  # bases already scanned (or read as structure)
        #: (how, type) -> [(pointer, object base, object size, cap or None)]; how: ptr | slice | any
        self.queue: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self.stats = {"levels": 0, "typed_reads": 0, "conservative_objects": 0, "conservative_bytes": 0,
                      "pointers_resolved": 0, "truncated": False}
        self._noscan: dict[int, bool] = {}

    # nodes and edges
    def add_nodes(self, bases: np.ndarray, sizes: np.ndarray, kind: int, outside: bool = False) -> None:
        bases = np.asarray(bases, _UINT)
        self.node_parts.append((bases, np.asarray(sizes, _UINT), np.full(len(bases), kind, np.int8),
                                np.full(len(bases), outside, bool)))

    def add_edges(self, src: np.ndarray, dst: np.ndarray) -> None:
        src, dst = np.asarray(src, _UINT), np.asarray(dst, _UINT)
        if len(src):
            keep = src != dst
            self.src_parts.append(src[keep])
            self.dst_parts.append(dst[keep])

    def owners(self, addrs: np.ndarray) -> OwnerArrays:
        a = np.asarray(addrs, _UINT)
        if self.arenas is not None and len(a):
            # Words that cannot be in any mapped arena never reach the per-arena lookups.
            plausible = member(a // _UINT(HEAP_ARENA_BYTES), self.arenas)
            if not plausible.all():
                o = self.spans.owner_arrays(a[plausible])
                n = len(a)
                full = OwnerArrays(a, np.full(n, WHERE.index("outside heap"), np.int8), np.zeros(n, _UINT),
                                   np.full(n, -1, np.int64), np.zeros(n, _UINT), np.zeros(n, bool),
                                   np.zeros(n, _UINT))
                for col in ("where", "span", "obj", "base", "allocated", "elemsize"):
                    getattr(full, col)[plausible] = getattr(o, col)
                return full
        return self.spans.owner_arrays(a)

    def noscan(self, span_col: np.ndarray) -> np.ndarray:
        uniq = distinct(span_col)
        inv = np.searchsorted(uniq, span_col)
        flags = np.zeros(len(uniq), bool)
        for i, s in enumerate(uniq.tolist()):
            if s not in self._noscan:
                sp = self.spans.span_at(s) if s else None
                self._noscan[s] = bool(sp.noscan) if sp is not None else True
            flags[i] = self._noscan[s]
        return flags[inv]

    def heap_object(self, addr: int) -> tuple[int, int, bool] | None:
        """(base, size, noscan) of the heap object holding ``addr``, or None outside the heap."""
        if not addr:
            return None
        o = self.owners(np.array([addr], _UINT))
        if WHERE[o.where[0]] != HEAP:
            return None
        return int(o.base[0]), int(o.elemsize[0]), bool(self.noscan(o.span)[0])

    # resolving pointers found in slots
    def resolve(self, src: np.ndarray, targets: np.ndarray, slot: PtrSlot, *, sure: bool,
                extra: np.ndarray | None = None) -> np.ndarray:
        """Pointers ``targets`` found in objects ``src`` through ``slot``: record the objects they land in
        and the edges, queue new objects for scanning; returns the target object base per pointer
        (0 where it is no heap object). ``sure``: the word is known to be a pointer (typed), so a
        heap address counts even if our allocation bits disagree; conservative words must hit an
        allocated object. ``extra``: the slice cap for ``slice`` slots."""
        out = np.zeros(len(targets), _UINT)
        nz = np.flatnonzero(targets)
        if not len(nz):
            return out
        t = targets[nz]
        o = self.owners(t)
        self.stats["pointers_resolved"] += len(t)
        hit = o.where == WHERE.index(HEAP)
        if not sure:
            hit &= o.allocated
        if not hit.any():
            return out
        idx = nz[hit]
        base, size, tgt = o.base[hit], o.elemsize[hit], t[hit]
        out[idx] = base
        self.add_nodes(base, size, OBJECT)
        self.add_edges(src[idx], base)
        if slot.kind == "str" or (slot.kind in ("ptr", "slice") and not self.plan.slots(slot.type)):
            return out  # nothing inside to follow
        scan = ~self.noscan(o.span[hit])
        if scan.any():
            q = (tgt[scan], base[scan], size[scan], extra[idx][scan] if slot.kind == "slice" else None)
            self.queue.setdefault((slot.kind if slot.kind != "str" else "any", slot.type), []).append(q)
        return out

    def mark(self, bases: np.ndarray) -> None:
        """These objects are accounted for (structure already read): never scan them as values."""
        self.visited.update(np.asarray(bases, _UINT).tolist())

    def _take_new(self, bases: np.ndarray) -> np.ndarray:
        """Mask of the entries of ``bases`` to scan now: not scanned before, first of equal bases."""
        ub, first = distinct_first(bases)
        seen = self.visited
        fresh = np.fromiter((b not in seen for b in ub.tolist()), bool, len(ub))
        seen.update(ub[fresh].tolist())
        mask = np.zeros(len(bases), bool)
        mask[first[fresh]] = True
        return mask

    def defer_rows(self, rows: np.ndarray, src: np.ndarray, type_name: str, offset: int, into: "Deferred") -> None:
        """Note the pointer words of values of ``type_name`` at ``offset`` of each row (``src``: the object
        each row is in); ``flush`` resolves them together -- one span lookup for a whole map or level,
        not one per slot column and chunk."""
        for s in self.plan.slots(type_name):
            off = offset + s.offset
            if off + (3 if s.kind == "slice" else 1) * PTR_SIZE > rows.shape[1]:
                continue
            ptrs = words(rows, off)
            nz = ptrs != 0
            if not nz.any():
                continue
            cap = words(rows, off + 2 * PTR_SIZE)[nz] if s.kind == "slice" else None
            into.setdefault(s, []).append((src[nz], ptrs[nz], cap))

    def flush(self, into: "Deferred") -> np.ndarray:
        """Resolve deferred pointer words; the distinct target bases (nonzero)."""
        got = []
        for s, parts in into.items():
            src = np.concatenate([p[0] for p in parts])
            ptrs = np.concatenate([p[1] for p in parts])
            cap = np.concatenate([p[2] for p in parts]) if s.kind == "slice" else None
            t = self.resolve(src, ptrs, s, sure=s.kind != "any", extra=cap)
            got.append(t[t != 0])
        into.clear()
        return np.concatenate(got) if got else np.zeros(0, _UINT)  # made distinct by finalize

    # following queued work, level by level
    def run(self) -> None:
        while self.queue:
            self.stats["levels"] += 1
            if self.stats["levels"] > MAX_LEVELS or len(self.visited) > MAX_OBJECTS:
                self.stats["truncated"] = True
                break
            queue, self.queue = self.queue, {}
            # typed first, so an object reached both ways is scanned through its type
            for (kind, type_name), parts in sorted(queue.items(), key=lambda kv: kv[0][0] == "any"):
                tgt = np.concatenate([p[0] for p in parts])
                base = np.concatenate([p[1] for p in parts])
                size = np.concatenate([p[2] for p in parts])
                new = self._take_new(base)
                tgt, base, size = tgt[new], base[new], size[new]
                if not len(base):
                    continue
                if kind == "slice":
                    cap = np.concatenate([p[3] for p in parts])[new]
                    self._scan_arrays(type_name, tgt, cap, base, size)
                elif kind == "ptr":
                    self._scan_typed(type_name, tgt, base)
                else:
                    for sz in distinct(size).tolist():
                        self._scan_conservative(base[size == sz], min(int(sz), MAX_SCAN_BYTES))

    def _scan_typed(self, type_name: str, addrs: np.ndarray, bases: np.ndarray) -> None:
        size = self.plan.size(type_name)
        if not size:
            return
        per = max(1, CHUNK_BYTES // size)
        into: Deferred = {}
        for lo in range(0, len(addrs), per):
            rows, ok = gather(self.mem, addrs[lo:lo + per], size)
            self.stats["typed_reads"] += int(ok.sum())
            self.defer_rows(rows[ok], bases[lo:lo + per][ok], type_name, 0, into)
        self.flush(into)

    def _scan_conservative(self, bases: np.ndarray, size: int) -> None:
        size -= size % PTR_SIZE
        if size <= 0:
            return
        per = max(1, CHUNK_BYTES // size)
        for lo in range(0, len(bases), per):
            b = bases[lo:lo + per]
            rows, ok = gather(self.mem, b, size)
            rows, b = rows[ok], b[ok]
            self.stats["conservative_objects"] += len(b)
            self.stats["conservative_bytes"] += len(b) * size
            w = np.ascontiguousarray(rows).view("<u8").reshape(len(b), -1)
            src = np.repeat(b, w.shape[1])
            flat = w.ravel()
            keep = flat >= 4096
            self.resolve(src[keep], flat[keep], PtrSlot(0, "any"), sure=False)

    def _scan_arrays(self, elem: str, ptr: np.ndarray, cap: np.ndarray, base: np.ndarray, size: np.ndarray
                     ) -> None:
        """Slice arrays met inside values: each element up to cap (bounded by the allocation), typed."""
        esize = self.plan.size(elem)
        if not esize or not self.plan.slots(elem):
            return
        room = (base + size - ptr) // _UINT(esize)
        n = np.minimum(cap, room).astype(np.int64)
        self.scan_elements(ptr, n, base, elem, esize)

    def scan_elements(self, first: np.ndarray, n: np.ndarray, src: np.ndarray, elem: str, esize: int
                      ) -> np.ndarray:
        """Elements ``first[i] + k*esize`` for k < n[i], typed as ``elem``; src[i] is their object.
        Returns the direct target bases (nonzero only)."""
        total = int(n.sum()) if len(n) else 0
        if not total:
            return np.zeros(0, _UINT)
        into: Deferred = {}
        per = max(1, CHUNK_BYTES // esize)
        ends = np.cumsum(n)
        lo_arr = 0
        while lo_arr < len(n):  # whole arrays, about ``per`` elements at a time (one huge array: in pieces)
            hi_arr = max(int(np.searchsorted(ends, (ends[lo_arr - 1] if lo_arr else 0) + per, side="right")),
                         lo_arr + 1)
            nn = n[lo_arr:hi_arr]
            cnt = int(nn.sum())
            for s in range(0, cnt, per):
                k = np.arange(s, min(cnt, s + per))
                arr = np.searchsorted(np.cumsum(nn), k, side="right")  # which array each element is in
                within = k - (np.cumsum(nn) - nn)[arr]
                addrs = first[lo_arr + arr] + within.astype(_UINT) * _UINT(esize)
                rows, ok = gather(self.mem, addrs, esize)
                self.defer_rows(rows[ok], src[lo_arr + arr][ok], elem, 0, into)
            lo_arr = hi_arr
        return self.flush(into)

    def result(self, roots: list[Root], items: dict[str, Item]) -> HeapObjects:
        """The gathered parts; sorting and deduplication wait for ``HeapObjects.finalize`` (outside the pause)."""
        z = np.zeros(0, _UINT)
        return HeapObjects(z, z, np.zeros(0, np.int8), np.zeros(0, bool), z, z, roots, items, dict(self.stats),
                           (self.node_parts, self.src_parts, self.dst_parts))


# -- maps and slices ---------------------------------------------------------------------------


def _hexint(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) else int(v or 0)


def _structure_node(w: _Walk, addr: int, nbytes: int, kind: int, item_nodes: list[int]) -> int:
    """The node of one structure object at ``addr`` (its allocation; or ``addr`` itself, sized ``nbytes``,
    when it is not a heap object). Returns its id."""
    h = w.heap_object(addr)
    if h is None:
        w.add_nodes(np.array([addr], _UINT), np.array([nbytes], _UINT), kind, outside=True)
        node = addr
    else:
        w.add_nodes(np.array([h[0]], _UINT), np.array([h[1]], _UINT), kind)
        node = h[0]
    w.mark(np.array([node], _UINT))
    item_nodes.append(node)
    return node


def _structure_nodes(w: _Walk, addrs: np.ndarray, kind: int, item_nodes: list[int]) -> np.ndarray:
    """Nodes of many structure objects (heap ones only); returns each address's node (0 if not heap)."""
    if not len(addrs):
        return np.zeros(0, _UINT)
    o = w.owners(addrs)
    heap = o.where == WHERE.index(HEAP)
    w.add_nodes(o.base[heap], o.elemsize[heap], kind)
    nodes = np.where(heap, o.base, _UINT(0))
    w.mark(o.base[heap])
    item_nodes += distinct(o.base[heap]).tolist()
    return nodes


def _slot_data(w: _Walk, rows: np.ndarray, src: np.ndarray, live: np.ndarray, lay: Any, key_at: Any,
               elem_at: Any, keys: Deferred, vals: Deferred) -> None:
    """Follow the keys and elems of the live slots of bucket/group rows (8 slots each); ``key_at(j)`` and
    ``elem_at(j)`` are the row offsets of slot j's key and elem."""
    for j in range(live.shape[1]):
        sel = live[:, j]
        if not sel.any():
            continue
        r, s = rows[sel], src[sel]
        w.defer_rows(r, s, ("*" if lay.indirect_key else "") + lay.key_type, key_at(j), keys)
        w.defer_rows(r, s, ("*" if lay.indirect_elem else "") + lay.elem_type, elem_at(j), vals)


def _classic_map(w: _Walk, it: Item, hdr: int, lay: classic.ClassicLayout, go_version: str) -> None:
    nodes: list[int] = []
    it.node = header = _structure_node(w, hdr, lay.hmap_size, HEADER, nodes)
    w.add_edges(np.array([it.root_id], _UINT), np.array([header], _UINT))
    m = classic.read_classic(w.mem, hdr, lay, go_version=go_version, spans=w.spans)
    if m is None:
        it.error = "the map header is unreadable"
        it.structure = np.array(nodes, _UINT)
        return
    h = m.header
    bsize = lay.bucket_size
    keys: Deferred = {}
    vals: Deferred = {}
    scan = not lay.noscan and (w.plan.slots(lay.key_type) or w.plan.slots(lay.elem_type)
                               or lay.indirect_key or lay.indirect_elem)
    B = int(h["B"])
    if B > classic.MAX_B:
        it.error = "implausible bucket exponent"
        it.structure = np.array(nodes, _UINT)
        return

    def follow(rows: np.ndarray, src: np.ndarray) -> None:
        nxt = words(rows, lay.overflow_off)
        has = nxt != 0
        if has.any():
            tgt = _structure_nodes(w, nxt[has], OVERFLOW, nodes)
            ok = tgt != 0
            w.add_edges(src[has][ok], tgt[ok])
        if scan:
            _slot_data(w, rows, src, classic.live_mask(rows), lay, lambda j: lay.keys_off + j * lay.key_slot,
                       lambda j: lay.elems_off + j * lay.elem_slot, keys, vals)

    for which, addr_hex, n, kind, ovf in (("buckets", h["buckets"], 1 << B, BUCKETS, m.overflow_addrs),
                                          ("oldbuckets", h["oldbuckets"], 0, OLDBUCKETS, m.old_overflow_addrs)):
        addr = _hexint(addr_hex)
        if not addr:
            continue
        if which == "oldbuckets":
            n = (1 << B) if int(h["flags"]) & classic.FLAG_SAME_SIZE_GROW else (1 << B) // 2
        arr = _structure_node(w, addr, n * bsize, kind, nodes)
        w.add_edges(np.array([header], _UINT), np.array([arr], _UINT))
        per = max(1, CHUNK_BYTES // bsize)
        for lo in range(0, n, per):
            cnt = min(per, n - lo)
            data = read_or_none(w.mem, addr + lo * bsize, cnt * bsize)
            if data is None:
                continue
            rows = np.frombuffer(data, dtype=np.uint8).reshape(cnt, bsize)
            if which == "oldbuckets":  # evacuated buckets hold nothing (evacuate clears their slots)
                t0 = rows[:, 0]
                rows = rows[~((t0 > classic.EMPTY_ONE) & (t0 < classic.MIN_TOPHASH))]
            follow(rows, np.full(len(rows), arr, _UINT))
        if len(ovf):
            for lo in range(0, len(ovf), per):
                a = ovf[lo:lo + per]
                rows, ok = gather(w.mem, a, bsize)
                src = _structure_nodes(w, a[ok], OVERFLOW, nodes)
                good = src != 0
                follow(rows[ok][good], src[good])
    extra = _hexint(h["extra"])
    if extra:
        x = _structure_node(w, extra, 3 * PTR_SIZE, MAPEXTRA, nodes)
        w.add_edges(np.array([header], _UINT), np.array([x], _UINT))
    _finish(w, it, nodes, keys, vals)


def _swiss_map(w: _Walk, it: Item, hdr: int, lay: swiss.SwissLayout, go_version: str) -> None:
    nodes: list[int] = []
    it.node = header = _structure_node(w, hdr, lay.map_size, HEADER, nodes)
    w.add_edges(np.array([it.root_id], _UINT), np.array([header], _UINT))
    m = swiss.read_swiss(w.mem, hdr, lay, go_version=go_version)
    if m is None:
        it.error = "the map header is unreadable"
        it.structure = np.array(nodes, _UINT)
        return
    h = m.header
    gsize = lay.group_size
    keys: Deferred = {}
    vals: Deferred = {}
    scan = bool(w.plan.slots(lay.key_type) or w.plan.slots(lay.elem_type) or lay.indirect_key
                or lay.indirect_elem)

    def follow(rows: np.ndarray, src: np.ndarray) -> None:
        if scan and len(rows):
            _slot_data(w, rows, src, swiss.live_mask(rows), lay,
                       lambda j: lay.slots_off + j * lay.slot_size + lay.key_off,
                       lambda j: lay.slots_off + j * lay.slot_size + lay.elem_off, keys, vals)

    dir_ptr, dir_len = _hexint(h["dirPtr"]), int(h["dirLen"])
    if dir_len == 0:
        if dir_ptr:
            g = _structure_node(w, dir_ptr, gsize, GROUP, nodes)
            w.add_edges(np.array([header], _UINT), np.array([g], _UINT))
            data = read_or_none(w.mem, dir_ptr, gsize)
            if data is not None:
                follow(np.frombuffer(data, dtype=np.uint8).reshape(1, gsize), np.array([g], _UINT))
        _finish(w, it, nodes, keys, vals)
        return
    if not (0 < dir_len <= swiss.MAX_DIR_LEN) or m.walk.get("directory_unreadable"):
        it.error = "the map directory is unreadable"
        _finish(w, it, nodes, keys, vals)
        return
    d = _structure_node(w, dir_ptr, dir_len * PTR_SIZE, DIRECTORY, nodes)
    w.add_edges(np.array([header], _UINT), np.array([d], _UINT))
    tabs = [t for t in m.tables if not t.get("unreadable")]
    taddrs = np.array([_hexint(t["addr"]) for t in tabs], _UINT)
    tnodes = _structure_nodes(w, taddrs, TABLE, nodes)
    w.add_edges(np.full(len(taddrs), d, _UINT)[tnodes != 0], tnodes[tnodes != 0])
    datas = np.array([_hexint(t["groups"]["data"]) for t in tabs], _UINT)
    ngroups = np.array([t["groups"]["lengthMask"] + 1 for t in tabs], np.int64)
    gnodes = _structure_nodes(w, datas, GROUPS, nodes)
    ok = (gnodes != 0) & (tnodes != 0)
    w.add_edges(tnodes[ok], gnodes[ok])
    for n in sorted(set(ngroups.tolist())):
        same = np.flatnonzero((ngroups == n) & (datas != 0))
        per = max(1, CHUNK_BYTES // (n * gsize))
        for lo in range(0, len(same), per):
            sel = same[lo:lo + per]
            rows, good = gather(w.mem, datas[sel], n * gsize)
            src = np.repeat(np.where(gnodes[sel] != 0, gnodes[sel], datas[sel]), n)
            follow(rows.reshape(-1, gsize)[np.repeat(good, n)], src[np.repeat(good, n)])
    _finish(w, it, nodes, keys, vals)


def _finish(w: _Walk, it: Item, nodes: list[int], keys: Deferred, vals: Deferred) -> None:
    it.structure = np.array(nodes, _UINT)
    it.key_targets = w.flush(keys)
    it.value_targets = w.flush(vals)


def _slice(w: _Walk, it: Item, elem: str) -> None:
    split = getattr(it.root, "words", ())  # a stack slice header the compiler split over three slots
    parts = [read_or_none(w.mem, a, PTR_SIZE) for a in split] if split else \
        [read_or_none(w.mem, it.root.addr, 3 * PTR_SIZE)]
    if any(p is None for p in parts):
        it.error = "the slice header is unreadable"
        return
    data = b"".join(parts)  # type: ignore[arg-type]
    ptr, length, cap = (uint_at(data, i * PTR_SIZE, PTR_SIZE) for i in range(3))
    esize = w.plan.size(elem)
    if not ptr or cap == 0:
        return
    nodes: list[int] = []
    h = w.heap_object(ptr)
    if h is None:  # static or stack array: sized by its cap
        base, size, noscan = ptr, cap * esize, False
        w.add_nodes(np.array([ptr], _UINT), np.array([size], _UINT), ARRAY, outside=True)
    else:
        base, size, noscan = h
        w.add_nodes(np.array([base], _UINT), np.array([size], _UINT), ARRAY)
    w.mark(np.array([base], _UINT))
    nodes.append(base)
    it.node = base
    w.add_edges(np.array([it.root_id], _UINT), np.array([base], _UINT))
    if esize and not noscan and w.plan.slots(elem):
        # The GC keeps the whole allocation and scans all of it: every element slot in the object, from the
        # first one aligned with the slice's own array pointer -- so the graph has edges from all of them.
        # The slice's values are its len elements: what stale slots outside them hold (popped by
        # q = q[1:], or past len after s = s[:n]) is retained by the array but is no value of the slice,
        # and must not look like its values growing (a sliding window's stale prefix fills, then resets).
        start = base + (ptr - base) % esize
        live = min(length, (base + size - ptr) // esize)
        after = ptr + live * esize
        it.value_targets = w.scan_elements(np.array([ptr], _UINT), np.array([live], np.int64),
                                           np.array([base], _UINT), elem, esize)
        w.scan_elements(np.array([start, after], _UINT),
                        np.array([(ptr - start) // esize, (base + size - after) // esize], np.int64),
                        np.array([base, base], _UINT), elem, esize)
    it.structure = np.array(nodes, _UINT)


def _arenas(target: Any, mem: Memory, spans: SpanIndex) -> np.ndarray | None:
    """``addr // heapArenaBytes`` of every mapped arena (``mheap_.allArenas``), to drop impossible words early."""
    try:
        mheap = next(g for g in target.globals() if g.name == "runtime.mheap_")
        f = target.layout("runtime.mheap").fields["allArenas"]
    except (StopIteration, LookupError, ValueError, AttributeError):
        return None
    hdr = read_or_none(mem, mheap.addr + f.offset, 3 * PTR_SIZE)
    if hdr is None:
        return None
    ptr, n = uint_at(hdr, 0, PTR_SIZE), uint_at(hdr, PTR_SIZE, PTR_SIZE)
    if not ptr or n > 1 << 22:
        return None
    raw = read_or_none(mem, ptr, n * PTR_SIZE)  # arenaIdx is a uint
    if raw is None:
        return None
    idx = np.frombuffer(raw, dtype="<u8")
    offset = _UINT(ARENA_BASE_OFFSET.get(getattr(spans, "goarch", "amd64"), 0))
    with np.errstate(over="ignore"):
        starts = idx * _UINT(HEAP_ARENA_BYTES) + offset  # wraps modulo 2**64, as the runtime's arithmetic does
    return distinct(starts // _UINT(HEAP_ARENA_BYTES))


def collect(target: Any, census: Any, roots: Sequence[Root], *, plan: ScanPlan | None = None) -> HeapObjects:
    """Read the heap graph of ``roots`` (maps and slices) while ``target`` is paused.

    ``census`` is the ``goinspect.runtime.census.Census`` of this pause: its map layouts and its
    ``spans`` (a ``SpanIndex``; required). ``plan`` resolves pointer layouts of the key, elem and
    element types; pass one prepared before the pause (``ScanPlan(target).prepare(types)``) to keep
    DWARF queries out of the pause. Roots that are neither maps nor slices are ignored.
    """
    spans: SpanIndex | None = getattr(census, "spans", None)
    if spans is None:
        raise ValueError("collect needs the census's SpanIndex (runtime.mheap_ was not found)")
    mem = target.memory
    plan = plan or ScanPlan(target)
    w = _Walk(mem, spans, plan, _arenas(target, mem, spans))
    roots = [r for r in roots if r.kind in ("map", "slice")]
    items: dict[str, Item] = {}
    w.add_nodes(np.arange(1, len(roots) + 1, dtype=_UINT), np.zeros(len(roots), _UINT), ROOT)
    for i, r in enumerate(roots):
        it = items[r.name] = Item(r.name, r.kind, r, i + 1)
        if r.kind == "slice":
            _slice(w, it, slice_elem(r.type_name))
            continue
        hdr = r.map_header(mem)
        if hdr is None:
            it.error = "the map variable is unreadable"
            continue
        if not hdr:
            continue
        lay = census.map_layout(r.type_name)
        if isinstance(lay, swiss.SwissLayout):
            _swiss_map(w, it, hdr, lay, target.go_version)
        else:
            _classic_map(w, it, hdr, lay, target.go_version)
    w.run()
    others = _global_referrers(target, w, roots, len(roots) + 1)
    return w.result(list(roots) + others, items)


@lru_cache(maxsize=8)
def _symbols(exe: str) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """The executable's data/bss symbols sorted by address: (names, link-time addresses, name -> address)."""
    from goinspect.target.elf import data_symbols

    syms = sorted((a, n) for n, a in data_symbols(Path(exe)))
    return [n for _, n in syms], np.array([a for a, _ in syms], _UINT), {n: a for a, n in syms}


#: DWARF layouts ``_global_referrers`` needs (``ScanPlan.prepare`` fetches them before the pause).
MODULE_TYPES = ("runtime.moduledata", "runtime.bitvector")


def _global_referrers(target: Any, w: _Walk, roots: list[Root], first_id: int) -> list[Root]:
    """Other globals that point straight at objects of the graph, as roots of their own.

    A map's entries may also be held by a global that is neither a map nor a slice (an LRU's
    ``order *list.List``); without that referrer the map would seem to dominate them. The words
    come from the data and bss segments where the GC's own pointer bitmaps
    (``firstmoduledata.gcdatamask`` / ``gcbssmask``) mark a pointer; each global variable
    (named from the symbol table) pointing at a graph object becomes a root ``global NAME``
    with kind ``pointer``. What such globals reach beyond the graph's objects is not walked.
    """
    try:
        exe = getattr(target, "exe", None)
        names, starts, by_name = _symbols(str(exe)) if exe else ([], np.zeros(0, _UINT), {})
        last_ptr = by_name["runtime.lastmoduledatap"]  # -> firstmoduledata (one module: no plugins)
        mheap = next(g for g in target.globals() if g.name == "runtime.mheap_")
        bias = mheap.addr - by_name["runtime.mheap_"]  # a PIE's load bias (0 otherwise)
        md = target.layout("runtime.moduledata").fields
        bv = target.layout("runtime.bitvector").fields
    except (StopIteration, LookupError, ValueError, AttributeError, OSError):
        return []
    p = read_or_none(w.mem, last_ptr + bias, PTR_SIZE)
    md_addr = uint_at(p, 0, PTR_SIZE) if p else 0
    raw = read_or_none(w.mem, md_addr, max(f.offset + f.size for f in md.values())) if md_addr else None
    if raw is None:
        return []
    field_ = lambda name: uint_at(raw, md[name].offset, md[name].size)  # noqa: E731
    if not w.node_parts:
        return []
    known = distinct(np.concatenate([p[0] for p in w.node_parts]))
    own = [(r.addr, r.addr + (PTR_SIZE if r.kind == "map" else 3 * PTR_SIZE)) for r in roots if r.root == "global"]
    hits_at: list[np.ndarray] = []
    hits_to: list[np.ndarray] = []
    for lo_name, hi_name, mask_name in (("data", "edata", "gcdatamask"), ("bss", "ebss", "gcbssmask")):
        lo, hi = field_(lo_name), field_(hi_name)
        n_words = (hi - lo) // PTR_SIZE
        mask_off = md[mask_name].offset
        nbits = uint_at(raw, mask_off + bv["n"].offset, bv["n"].size)
        bits_ptr = uint_at(raw, mask_off + bv["bytedata"].offset, PTR_SIZE)
        if not (0 < n_words <= 1 << 26) or not bits_ptr:
            continue
        data = read_or_none(w.mem, lo, n_words * PTR_SIZE)
        bits = read_or_none(w.mem, bits_ptr, (min(nbits, n_words) + 7) // 8)
        if data is None or bits is None:
            continue
        ptr_word = np.unpackbits(np.frombuffer(bits, np.uint8), bitorder="little")[:n_words].astype(bool)
        vals = np.frombuffer(data, "<u8")[:len(ptr_word)]
        idx = np.flatnonzero(ptr_word & (vals != 0))
        at = _UINT(lo) + idx.astype(_UINT) * _UINT(PTR_SIZE)
        for a, b in own:  # the map/slice roots' own words are roots already
            idx, at = idx[(at < a) | (at >= b)], at[(at < a) | (at >= b)]
        o = w.owners(vals[idx])
        inside = (o.where == WHERE.index(HEAP)) & member(o.base, known)
        hits_at.append(at[inside])
        hits_to.append(o.base[inside])
    if not hits_at or not sum(len(h) for h in hits_at):
        return []
    at, to = np.concatenate(hits_at), np.concatenate(hits_to)
    which = np.searchsorted(starts + _UINT(bias), at, side="right") - 1
    out: list[Root] = []
    ids: dict[int, int] = {}
    src = np.zeros(len(at), _UINT)
    for k, j in enumerate(which.tolist()):
        if j not in ids:
            ids[j] = first_id + len(out)
            addr, name = (int(starts[j]) + bias, names[j]) if j >= 0 else (int(at[k]), f"{int(at[k]):#x}")
            out.append(Root(name, "global", "pointer", int(addr), ""))
        src[k] = ids[j]
    w.add_nodes(np.arange(first_id, first_id + len(out), dtype=_UINT), np.zeros(len(out), _UINT), ROOT)
    w.add_edges(src, to)
    w.stats["global_referrers"] = len(out)
    return out
