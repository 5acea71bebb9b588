"""Read one map or slice root completely: the layout-independent part of ``goinspect maps``.

Picks the walker from the map implementation the binary's types show (``hmap`` or
``swiss``), adds the memory summary (bytes the structure holds vs bytes the live
entries need) and, on request, the first N decoded entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from goinspect.runtime import classic, entries, swiss
from goinspect.runtime.bulk import read_or_none, uint_at
from goinspect.runtime.roots import Root
from goinspect.runtime.slices import SliceInfo, read_slice
from goinspect.runtime.spans import SpanIndex
from goinspect.runtime.types import PTR_SIZE, Memory, has_pointers


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

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        d.pop("hmap" if self.impl == "swiss" else "swiss")
        for k in ("entries", "error"):
            if d[k] is None:
                d.pop(k)
        return d


@dataclass
class Census:
    """Per-target caches shared by every map and slice read (layouts per K/V, the span index)."""

    target: TargetLike
    spans: SpanIndex | None
    _classic: dict[tuple[str, str], classic.ClassicLayout] = field(default_factory=dict)
    _swiss: dict[tuple[str, str], swiss.SwissLayout] = field(default_factory=dict)

    def read_map(self, r: Root, n_entries: int = 0) -> MapInfo:
        t = self.target
        k, v = r.key_elem
        ks, vs = t.type_size(k), t.type_size(v)
        info = MapInfo(r.name, r.root, r.type_name, k, v, t.map_impl, hex(r.addr), None, 0,
                       {"structure_bytes": 0, "live_bytes": 0, "key_size": ks, "elem_size": vs})
        data = read_or_none(t.memory, r.addr, PTR_SIZE)
        if data is None:
            info.error = "the map variable is unreadable"
            return info
        hdr = uint_at(data, 0, PTR_SIZE)
        if not hdr:
            return info  # nil map
        info.addr = hex(hdr)
        keep = n_entries > 0
        if t.map_impl == "swiss":
            lay = self._swiss.get((k, v))
            if lay is None:
                noscan = not (has_pointers(t, k) or has_pointers(t, v))
                lay = self._swiss[(k, v)] = replace(swiss.swiss_layout(t, k, v), noscan_guess=noscan)
            m = swiss.read_swiss(t.memory, hdr, lay, go_version=t.go_version, keep_rows=keep)
            if m is None:
                info.error = "the map header is unreadable"
                return info
            info.count = m.header["used"]
            info.swiss = m.to_json()
            rows, structure = m.live_rows, m.structure_bytes
            key_base, key_stride = lay.slots_off + lay.key_off, lay.slot_size
            elem_base, elem_stride = lay.slots_off + lay.elem_off, lay.slot_size
            live = [(r_[:, :8] & swiss.CTRL_EMPTY) == 0 for r_ in rows]
        else:
            cl = self._classic.get((k, v)) or self._classic.setdefault((k, v), classic.classic_layout(t, k, v))
            lay = cl
            m2 = classic.read_classic(t.memory, hdr, cl, go_version=t.go_version, spans=self.spans, keep_rows=keep)
            if m2 is None:
                info.error = "the map header is unreadable"
                return info
            info.count = m2.header["count"]
            info.hmap = m2.to_json()
            rows, structure = m2.live_rows, m2.structure_bytes
            key_base, key_stride = cl.keys_off, cl.key_slot
            elem_base, elem_stride = cl.elems_off, cl.elem_slot
            live = [r_[:, :8] >= classic.MIN_TOPHASH for r_ in rows]
        info.memory["structure_bytes"] = structure
        info.memory["live_bytes"] = info.count * (ks + vs)
        if keep:
            info.entries = self._entries(rows, live, n_entries, key_base, key_stride, elem_base, elem_stride,
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
        return read_slice(self.target.memory, r.addr, name=r.name, root=r.root, type_name=r.type_name,
                          elem_type=elem, elem_size=self.target.type_size(elem), spans=self.spans)
