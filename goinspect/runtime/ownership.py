"""Which heap span owns each structure of a map or slice, beside the block the model says it must be.

Every bucket array, overflow bucket, old bucket array, Swiss table, group array,
directory and slice backing array is looked up through ``SpanIndex.owners``; each
record carries the requested bytes and the ``expected_elemsize`` the runtime model
predicts for that allocation (``makeBucketArray``, ``newobject(t.Bucket)``,
``newTable``, ``newarray(typ.Group, n)``, ``make([]*table, dirLen)``), so
``goinspect.checks`` can judge it without reading memory again. Overflow buckets can
number hundreds of thousands: they are summarised (how many sit in a bucket array's
preallocated tail, how many are objects of their own, how many are neither).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from goinspect.model import classicmap
from goinspect.model.sizeclasses import MALLOC_HEADER_SIZE, SizeClasses, for_version
from goinspect.runtime.classic import FLAG_SAME_SIZE_GROW, ClassicLayout, ClassicMap
from goinspect.runtime.spans import HEAP, WHERE, Owner, SpanIndex
from goinspect.runtime.swiss import SwissLayout, SwissMap
from goinspect.runtime.types import PTR_SIZE


def expected_block(sc: SizeClasses, nbytes: int, noscan: bool) -> tuple[int, int]:
    """(span elemsize, offset of the structure in its object) for one ``mallocgc(nbytes)``: the data
    follows the 8-byte malloc header a pointerful small object carries from Go 1.22 on."""
    return sc.block_size(nbytes, noscan), MALLOC_HEADER_SIZE if sc.has_header(nbytes, noscan) else 0


def record(owner: Owner, nbytes: int, sc: SizeClasses | None, noscan: bool = False) -> dict[str, Any]:
    """One structure's owner as JSON: where it lives, its span and object, and -- when the structure is
    one ``mallocgc(nbytes)`` of its own (``sc`` given) -- the block it must be and where it must start."""
    d = {**owner.to_json(), "bytes": nbytes, "expected_elemsize": None, "expected_offset": None}
    if sc is not None:
        d["expected_elemsize"], d["expected_offset"] = expected_block(sc, nbytes, noscan)
    return d


def _bucket_array_bytes(b: int, lay: ClassicLayout, version: str | None) -> int:
    """Bytes ``makeBucketArray`` asks for at this B (the preallocated overflow tail included from B = 4)."""
    return classicmap.bucket_array(b, classicmap.BucketType.of_size(lay.bucket_size, lay.noscan), version).mem


def heap_noscan(spans: SpanIndex, addrs: list[int], default: bool) -> bool:
    """Whether the runtime allocated these arrays pointer-free: the noscan bit of the span class of the
    first one that is a heap object (the compiler's own decision), else ``default`` (from the types)."""
    for o in spans.owners(np.array([a for a in addrs if a], dtype=np.uint64)):
        if o.where == HEAP and o.span is not None:
            return o.span.noscan
    return default


def classic_owners(spans: SpanIndex, hdr: int, m: ClassicMap, lay: ClassicLayout,
                   version: str | None) -> dict[str, Any]:
    """Owners of the hmap, its bucket arrays, mapextra and every overflow bucket walked.

    Sets ``walk.pointer_free_buckets`` from the bucket array's span class: DWARF spells some
    types (named func types) too vaguely to tell, and the allocation itself says."""
    sc = for_version(version)
    h = m.header
    B = h["B"]
    noscan = heap_noscan(spans, [int(h["buckets"], 16), int(h["oldbuckets"], 16)], lay.noscan)
    m.walk["pointer_free_buckets"] = noscan
    lay = replace(lay, noscan=noscan)
    # (role, address, bytes mallocgc was asked for, noscan)
    wanted: list[tuple[str, int, int, bool]] = [("header", hdr, lay.hmap_size, False)]
    arrays: list[tuple[int, int]] = []
    if B <= 40:
        for role, b in (("buckets", B), ("oldbuckets", B if h["flags"] & FLAG_SAME_SIZE_GROW else B - 1)):
            addr = int(h[role], 16)
            if addr:
                n = _bucket_array_bytes(b, lay, version)
                wanted.append((role, addr, n, noscan))
                arrays.append((addr, n))
    extra = int(h["extra"], 16)
    if extra:
        wanted.append(("mapextra", extra, classicmap.MAPEXTRA_SIZE, False))
    owners = spans.owners(np.array([w[1] for w in wanted], dtype=np.uint64))
    out = {role: record(o, n, sc, ns) for (role, _, n, ns), o in zip(wanted, owners)}
    ovf = np.concatenate((m.overflow_addrs, m.old_overflow_addrs))
    out["overflow"] = overflow_summary(spans, ovf, lay.bucket_size, *expected_block(sc, lay.bucket_size, noscan),
                                       arrays)
    return out


def overflow_summary(spans: SpanIndex, addrs: np.ndarray, size: int, expected: int, offset: int,
                     arrays: list[tuple[int, int]]) -> dict[str, Any]:
    """Overflow buckets come from a bucket array's preallocated tail (``h.extra.nextOverflow``) or are
    ``newobject(t.Bucket)`` each: an allocated ``expected``-byte object holding just that bucket."""
    addrs = np.asarray(addrs, dtype=np.uint64)
    in_array = np.zeros(len(addrs), dtype=bool)
    for start, n in arrays:
        in_array |= (addrs >= start) & (addrs + np.uint64(size) <= start + n)
    rest = spans.owner_arrays(addrs[~in_array])
    good = ((rest.where == WHERE.index(HEAP)) & rest.allocated & (rest.base == rest.addrs - np.uint64(offset))
            & (rest.elemsize == expected))
    sizes, counts = np.unique(rest.elemsize[rest.span != 0], return_counts=True)
    bad = np.flatnonzero(~good)
    return {"count": len(addrs), "in_bucket_array": int(np.count_nonzero(in_array)),
            "own_objects": int(np.count_nonzero(good)), "bad": len(bad), "expected_elemsize": expected,
            "expected_offset": offset, "elemsizes": {str(k): int(v) for k, v in zip(sizes.tolist(), counts.tolist())},
            "first_bad": spans.owners(rest.addrs[bad[:1]])[0].to_json() if len(bad) else None}


def swiss_owners(spans: SpanIndex, hdr: int, m: SwissMap, lay: SwissLayout, version: str | None) -> dict[str, Any]:
    """Owners of the Map header, the small group or the directory; each table's and group array's
    owner goes into that table's row (``span``, ``groups_span``)."""
    sc = for_version(version)
    h = m.header
    dir_ptr = int(h["dirPtr"], 16)
    groups = [int(t["groups"]["data"], 16) for t in m.tables if "groups" in t] or [dir_ptr if not h["dirLen"] else 0]
    noscan = heap_noscan(spans, groups[:1], lay.noscan_guess and not lay.indirect_key and not lay.indirect_elem)
    wanted: list[tuple[str, int, int, bool]] = [("header", hdr, lay.map_size, False)]
    if h["dirLen"] == 0 and dir_ptr:
        wanted.append(("small_group", dir_ptr, lay.group_size, noscan))
    elif h["dirLen"] and dir_ptr:
        wanted.append(("directory", dir_ptr, h["dirLen"] * PTR_SIZE, False))
    owners = spans.owners(np.array([w[1] for w in wanted], dtype=np.uint64))
    out = {role: record(o, n, sc, ns) for (role, _, n, ns), o in zip(wanted, owners)}
    tables = [t for t in m.tables if "groups" in t]
    if tables:
        taddrs = np.array([int(t["addr"], 16) for t in tables], dtype=np.uint64)
        gaddrs = np.array([int(t["groups"]["data"], 16) for t in tables], dtype=np.uint64)
        for t, to, go in zip(tables, spans.owners(taddrs), spans.owners(gaddrs)):
            t["span"] = record(to, lay.table_size, sc)
            t["groups_span"] = record(go, (t["groups"]["lengthMask"] + 1) * lay.group_size, sc, noscan)
    return out


def slice_owner(spans: SpanIndex, array: int, cap_bytes: int) -> dict[str, Any] | None:
    """The owner of a slice's backing array. How the array was made (growslice, make, a subslice of
    something bigger) decides its block, so no size is predicted: the array must fit inside the object."""
    if not array:
        return None
    return record(spans.owners(np.array([array], dtype=np.uint64))[0], cap_bytes, None)
