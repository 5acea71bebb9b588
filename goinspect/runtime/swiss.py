"""Swiss-table Go maps (``internal/runtime/maps``, Go >= 1.24).

Reads the ``Map`` header; a small map's single group (``dirLen == 0``); or the
directory, each distinct table once (directory entries repeat a table whose
``localDepth < globalDepth``), every table's group array in one read, and the
ctrl-byte census (full / empty / deleted) with numpy over all groups at once.
DWARF types ``dirPtr`` as ``**table`` and ``groups.data`` as ``*group``; both are
really arrays, sized by ``dirLen`` and ``lengthMask + 1``. Constants from
``goinspect.model.swissmap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from goinspect.model import swissmap
from goinspect.model.sizeclasses import for_version
from goinspect.runtime.bulk import KeptRows, gather, read_or_none, uint_at, uints, words
from goinspect.runtime.types import PTR_SIZE, Memory, Types

# internal/runtime/maps/group.go: ctrlEmpty = 0b10000000, ctrlDeleted = 0b11111110; full slots have the top bit clear.
CTRL_EMPTY = 0x80
CTRL_DELETED = 0xFE
#: Bounds for a walk through a target whose pointers may be garbage.
MAX_DIR_LEN = 1 << 24
MAX_TABLE_GROUPS = swissmap.MAX_TABLE_CAPACITY // swissmap.GROUP_SLOTS
#: Group arrays are read this many bytes at a time.
CHUNK_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class SwissLayout:
    map_fields: dict[str, tuple[int, int]]
    map_size: int
    table_fields: dict[str, tuple[int, int]]  # groups.data and groups.lengthMask flattened in
    table_size: int
    group_size: int
    slots_off: int
    slot_size: int
    key_off: int
    elem_off: int
    key_type: str
    elem_type: str
    key_size: int
    elem_size: int
    noscan_guess: bool  # keys and elems hold no pointers (decides malloc headers in size-class rounding)

    @property
    def indirect_key(self) -> bool:
        return self.key_size > swissmap.MAX_KEY_BYTES

    @property
    def indirect_elem(self) -> bool:
        return self.elem_size > swissmap.MAX_ELEM_BYTES


def swiss_layout(types: Types, key_type: str, elem_type: str, key_size: int, elem_size: int,
                 group_type: str = "", slot_type: str = "") -> SwissLayout:
    """Layouts from DWARF: ``internal/runtime/maps.Map``/``table``/``groupsReference`` and the
    compiler's group type ``noalg.map.group[K]V`` with its slot struct; if the binary lacks the
    group type, it is laid out as the compiler does (``goinspect.model.swissmap.group_type``)."""
    m = types.layout("internal/runtime/maps.Map")
    t = types.layout("internal/runtime/maps.table")
    g = types.layout("internal/runtime/maps.groupsReference")
    ks, es = key_size, elem_size
    mf = {n: (f.offset, f.size) for n, f in m.fields.items() if n != "_"}
    tf = {n: (f.offset, f.size) for n, f in t.fields.items() if n not in ("_", "groups")}
    goff = t.fields["groups"].offset
    tf["data"] = (goff + g.fields["data"].offset, PTR_SIZE)
    tf["lengthMask"] = (goff + g.fields["lengthMask"].offset, g.fields["lengthMask"].size)
    gt = swissmap.group_type(ks, es)
    try:
        grp = types.layout(group_type or f"noalg.map.group[{key_type}]{elem_type}")
        slots = grp.fields["slots"]
        slot_size = slots.size // swissmap.GROUP_SLOTS
        key_off, elem_off = 0, gt.elem_offset
        slot_name = slot_type or slots.type_name.removeprefix("noalg.[8]")
        try:
            sl = types.layout(slot_name if slot_name.startswith("noalg.") else "noalg." + slot_name)
            key_off, elem_off = sl.fields["key"].offset, sl.fields["elem"].offset
        except (LookupError, ValueError, AttributeError):
            pass
        return SwissLayout(mf, m.size, tf, t.size, grp.size, slots.offset, slot_size, key_off, elem_off,
                           key_type, elem_type, ks, es, False)
    except (LookupError, ValueError, AttributeError):
        pass
    return SwissLayout(mf, m.size, tf, t.size, gt.size, swissmap.CTRL_WORD, gt.slot_size, 0, gt.elem_offset,
                       key_type, elem_type, ks, es, False)


def live_mask(groups: np.ndarray) -> np.ndarray:
    """[n, 8] bool: which slots of these group rows are full (ctrl byte with the top bit clear)."""
    return (groups[:, :swissmap.CTRL_WORD] & CTRL_EMPTY) == 0


def ctrl_census(groups: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """(full-slot mask [ngroups, 8], full, empty, deleted) from group rows (ctrl word first)."""
    ctrl = groups[:, :swissmap.CTRL_WORD]
    full = (ctrl & CTRL_EMPTY) == 0
    return full, int(np.count_nonzero(full)), int(np.count_nonzero(ctrl == CTRL_EMPTY)), \
        int(np.count_nonzero(ctrl == CTRL_DELETED))


@dataclass(slots=True)
class SwissMap:
    """Everything read about one Swiss map; ``to_json`` is the ``"swiss"`` object of the CLI contract."""

    header: dict[str, Any]
    tables: list[dict[str, Any]]
    walk: dict[str, Any]
    structure_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "tables": self.tables, "walk": self.walk}


def read_swiss(mem: Memory, addr: int, lay: SwissLayout, *, go_version: str | None = None,
               keep: KeptRows | None = None) -> SwissMap | None:
    """Read the map whose ``*maps.Map`` is ``addr``; None when the header itself is unreadable."""
    data = read_or_none(mem, addr, lay.map_size)
    if data is None:
        return None
    sc = for_version(go_version)
    h = {n: uint_at(data, off, size) for n, (off, size) in lay.map_fields.items()}
    header: dict[str, Any] = {k: (hex(v) if k == "dirPtr" else v) for k, v in h.items()}
    if "tombstonePossible" in header:
        header["tombstonePossible"] = bool(header["tombstonePossible"])
    structure = sc.block_size(lay.map_size, False)
    gsize = lay.group_size
    walk: dict[str, Any] = {"dir_entries": h["dirLen"], "live": 0, "tombstones": 0, "empty": 0,
                            "distinct_tables": 0, "groups": 0, "capacity": 0, "unreadable_tables": 0}
    tables: list[dict[str, Any]] = []

    if h["dirLen"] == 0:
        walk["small_group"] = hex(h["dirPtr"])
        if h["dirPtr"]:
            g = read_or_none(mem, h["dirPtr"], gsize)
            if g is None:
                walk["small_group_unreadable"] = True
            else:
                rows = np.frombuffer(g, dtype=np.uint8).reshape(1, gsize)
                _, full, empty, deleted = ctrl_census(rows)
                walk.update(live=full, empty=empty, tombstones=deleted, capacity=swissmap.GROUP_SLOTS)
                structure += sc.block_size(gsize, lay.noscan_guess)
                if keep is not None:
                    keep.offer(rows, full)
        return SwissMap(header, tables, walk, structure)

    if not (0 < h["dirLen"] <= MAX_DIR_LEN):
        walk["error"] = f"dirLen={h['dirLen']} is not a plausible directory length"
        return SwissMap(header, tables, walk, structure)
    dir_bytes = read_or_none(mem, h["dirPtr"], h["dirLen"] * PTR_SIZE)
    if dir_bytes is None:
        walk["directory_unreadable"] = True
        return SwissMap(header, tables, walk, structure)
    structure += sc.block_size(h["dirLen"] * PTR_SIZE, False)
    directory = np.frombuffer(dir_bytes, dtype="<u8")
    uniq, first, refs = np.unique(directory, return_index=True, return_counts=True)
    order = np.argsort(first)  # tables in directory order, as the runtime and /truth list them
    taddrs, trefs = uniq[order], refs[order]
    trows, tok = gather(mem, taddrs, lay.table_size)
    tf = lay.table_fields
    cols = {n: (words(trows, off) if size == 8 else uints(trows, off, size)) for n, (off, size) in tf.items()}
    walk["distinct_tables"] = len(taddrs)
    datas, masks = cols["data"], cols["lengthMask"]
    ngroups = masks.astype(np.int64) + 1
    plausible = tok & (ngroups >= 1) & (ngroups <= MAX_TABLE_GROUPS)
    stats = np.zeros((len(taddrs), 3), dtype=np.int64)  # full, empty, deleted per table
    groups_ok = np.zeros(len(taddrs), dtype=bool)
    # Tables with the same number of groups are read together (a big map's tables are all 1024 slots).
    # A few MiB of groups at a time bounds the memory a census needs.
    for n in sorted(set(ngroups[plausible].tolist())):
        same = np.flatnonzero(plausible & (ngroups == n))
        per = max(1, CHUNK_BYTES // (n * gsize))
        for lo in range(0, len(same), per):
            sel = same[lo:lo + per]
            rows, ok = gather(mem, datas[sel], n * gsize)
            groups_ok[sel] = ok
            g = rows.reshape(len(sel), n, gsize)
            ctrl = g[:, :, :swissmap.CTRL_WORD].reshape(len(sel), -1)
            stats[sel, 0] = np.count_nonzero((ctrl & CTRL_EMPTY) == 0, axis=1)
            stats[sel, 1] = np.count_nonzero(ctrl == CTRL_EMPTY, axis=1)
            stats[sel, 2] = np.count_nonzero(ctrl == CTRL_DELETED, axis=1)
            if keep is not None:
                keep.offer(g[ok].reshape(-1, gsize), int(stats[sel[ok], 0].sum()))
    table_block = sc.block_size(lay.table_size, False)
    for i, taddr in enumerate(taddrs.tolist()):
        t: dict[str, Any] = {"addr": hex(taddr), "dir_refs": int(trefs[i])}
        tables.append(t)
        if not tok[i]:
            t["unreadable"] = True
            walk["unreadable_tables"] += 1
            continue
        t.update({n: int(cols[n][i]) for n in ("used", "capacity", "growthLeft", "localDepth", "index")})
        t["groups"] = {"data": hex(int(datas[i])), "lengthMask": int(masks[i])}
        structure += table_block
        if not groups_ok[i]:
            t["groups_unreadable"] = True
            walk["unreadable_tables"] += 1
            continue
        full, empty, deleted = stats[i].tolist()
        t.update(live=full, empty=empty, tombstones=deleted,
                 tombstones_from_counters=swissmap.max_growth_left(t["capacity"]) - t["used"] - t["growthLeft"])
        walk["live"] += full
        walk["empty"] += empty
        walk["tombstones"] += deleted
        walk["groups"] += int(ngroups[i])
        walk["capacity"] += t["capacity"]
        structure += sc.block_size(int(ngroups[i]) * gsize, lay.noscan_guess)
    return SwissMap(header, tables, walk, structure)
