"""Read one map or slice root completely: the layout-independent part of ``goinspect maps``.

Picks the walker from the map implementation the binary's types show (``hmap`` or
``swiss``), adds the memory summary (bytes the structure holds vs bytes the live
entries need) and, on request, the first N decoded entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Protocol

import numpy as np

from goinspect.runtime import classic, entries, ownership, swiss
from goinspect.runtime.bulk import KeptRows
from goinspect.runtime.roots import Root
from goinspect.runtime.slices import SliceInfo, read_slice
from goinspect.runtime.spans import SpanIndex
from goinspect.runtime.types import PTR_SIZE, Memory, has_pointers, sizeof, slice_elem, split_map_type


class TargetLike(Protocol):
    memory: Memory
    go_version: str
    map_impl: str  # 'hmap' | 'swiss'

    def layout(self, type_name: str) -> Any: ...
    def type_size(self, type_name: str) -> int: ...


@dataclass(slots=True)
class MapInfo:
    name: str
    root: str
    type: str
    key_type: str
    elem_type: str
    impl: str
    var_addr: str
    addr: str | None  # the header (*hmap or *maps.Map); None for a nil map
    count: int
    memory: dict[str, int]
    hmap: dict[str, Any] | None = None
    swiss: dict[str, Any] | None = None
    entries: list[dict[str, Any]] | None = None
    error: str | None = None
    ownership: dict[str, Any] | None = None  # the span owning each structure (goinspect.runtime.ownership)
    primary_live: np.ndarray | None = None  # classic: live slots per primary bucket (not in the JSON; too long)

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        d.pop("hmap" if self.impl == "swiss" else "swiss")
        d.pop("primary_live")
        for k in ("entries", "error", "ownership"):
            if d[k] is None:
                d.pop(k)
        return d


@dataclass
class Census:
    """Per-target caches shared by every map and slice read (layouts per map type, the span index).

    ``prepare`` resolves every layout a set of roots needs; call it before pausing a live
    target, so the pause covers memory reads only.
    """

    target: TargetLike
    spans: SpanIndex | None
    _layouts: dict[str, classic.ClassicLayout | swiss.SwissLayout] = field(default_factory=dict)
    _sizes: dict[str, int] = field(default_factory=dict)

    def size(self, type_name: str) -> int:
        if type_name not in self._sizes:
            self._sizes[type_name] = sizeof(self.target, type_name)
        return self._sizes[type_name]

    def prepare(self, type_names: Iterable[str]) -> None:
        for name in type_names:
            if name.startswith("map["):
                self.map_layout(name)
            elif name.startswith("[]"):
                self.size(slice_elem(name))

    def map_layout(self, type_name: str) -> classic.ClassicLayout | swiss.SwissLayout:
        """Layouts for ``map[K]V``, with the runtime type names DWARF gives when the target knows them."""
        if type_name in self._layouts:
            return self._layouts[type_name]
        t = self.target
        k, v = split_map_type(type_name)
        ks, vs = self.size(k), self.size(v)
        names = None
        map_type = getattr(t, "map_type", None)
        if map_type is not None:
            try:
                names = map_type(type_name)
            except (LookupError, ValueError):
                names = None
        if t.map_impl == "swiss":
            noscan = not (has_pointers(t, k) or has_pointers(t, v))
            lay: classic.ClassicLayout | swiss.SwissLayout = replace(
                swiss.swiss_layout(t, k, v, ks, vs, group_type=names.group if names else "",
                                   slot_type=names.slot if names else ""), noscan_guess=noscan)
        else:
            # DWARF shows every bucket's overflow field as a pointer (the linker's synthesized bucket type),
            # so whether the bucket is pointer-free comes from the key and elem types, as the compiler decides.
            lay = classic.classic_layout(t, k, v, ks, vs, bucket_type=names.bucket if names else "")
            noscan = not (has_pointers(t, k) or has_pointers(t, v) or lay.indirect_key or lay.indirect_elem)
            lay = replace(lay, noscan=noscan)
        self._layouts[type_name] = lay
        return lay

    def read_map(self, r: Root, n_entries: int = 0) -> MapInfo:
        t = self.target
        lay = self.map_layout(r.type_name)
        k, v, ks, vs = lay.key_type, lay.elem_type, lay.key_size, lay.elem_size
        info = MapInfo(r.name, r.root, r.type_name, k, v, t.map_impl, hex(r.addr), None, 0,
                       {"structure_bytes": 0, "live_bytes": 0, "key_size": ks, "elem_size": vs})
        hdr = r.map_header(t.memory)
        if hdr is None:
            info.error = "the map variable is unreadable"
            return info
        if not hdr:
            return info  # nil map
        info.addr = hex(hdr)
        keep = KeptRows(n_entries) if n_entries > 0 else None
        if isinstance(lay, swiss.SwissLayout):
            m = swiss.read_swiss(t.memory, hdr, lay, go_version=t.go_version, keep=keep)
            if m is None:
                info.error = "the map header is unreadable"
                return info
            info.count = m.header["used"]
            if self.spans is not None:
                info.ownership = ownership.swiss_owners(self.spans, hdr, m, lay, t.go_version)
            info.swiss = m.to_json()
            structure = m.structure_bytes
            key_base, key_stride = lay.slots_off + lay.key_off, lay.slot_size
            elem_base, elem_stride = lay.slots_off + lay.elem_off, lay.slot_size
            live_mask = swiss.live_mask
        else:
            m2 = classic.read_classic(t.memory, hdr, lay, go_version=t.go_version, spans=self.spans, keep=keep)
            if m2 is None:
                info.error = "the map header is unreadable"
                return info
            info.count = m2.header["count"]
            info.hmap = m2.to_json()
            info.primary_live = m2.primary_live
            if self.spans is not None:
                info.ownership = ownership.classic_owners(self.spans, hdr, m2, lay, t.go_version)
            structure = m2.structure_bytes
            key_base, key_stride = lay.keys_off, lay.key_slot
            elem_base, elem_stride = lay.elems_off, lay.elem_slot
            live_mask = classic.live_mask
        info.memory["structure_bytes"] = structure
        info.memory["live_bytes"] = info.count * (ks + vs)
        if keep is not None:
            live = [live_mask(r_) for r_ in keep.rows]
            info.entries = self._entries(keep.rows, live, n_entries, key_base, key_stride, elem_base, elem_stride,
                                         k, v, ks, vs, lay.indirect_key, lay.indirect_elem)
        return info

    def _entries(self, rows: list[np.ndarray], live: list[np.ndarray], n: int, kb: int, kst: int, eb: int,
                 est: int, k: str, v: str, ks: int, vs: int, ik: bool, ie: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        t = self.target
        for r_, mask in zip(rows, live):
            if len(out) >= n:
                break
            where = entries.live_slots(mask, n - len(out))
            kraw = entries.slot_bytes(r_, where, kb, kst, PTR_SIZE if ik else ks)
            vraw = entries.slot_bytes(r_, where, eb, est, PTR_SIZE if ie else vs)
            keys = entries.decode_slots(t.memory, t, k, kraw, ik, ks)
            vals = entries.decode_slots(t.memory, t, v, vraw, ie, vs)
            out += [{"key": a, "elem": b} for a, b in zip(keys, vals)]
        return out

    def read_slice(self, r: Root) -> SliceInfo | None:
        elem = r.key_elem[1]
        s = read_slice(self.target.memory, r.addr, name=r.name, root=r.root, type_name=r.type_name,
                       elem_type=elem, elem_size=self.size(elem), spans=self.spans, words=r.words)
        if s is not None and self.spans is not None:
            s.span = ownership.slice_owner(self.spans, int(s.array_addr, 16), s.cap_bytes)
        return s
