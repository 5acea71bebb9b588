"""Find the maps and slices a program holds: globals of map or slice type, and map/slice
fields of global structs (one level, also through a pointer to a struct).

Names are ``pkg.var`` and ``pkg.var.field`` with root kind ``global``; goroutine-stack
locals (``pkg.Func.var``, root ``stack``) come with the reachability work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from goinspect.runtime.bulk import read_or_none, uint_at
from goinspect.runtime.types import PTR_SIZE, Memory, Types, slice_elem, split_map_type


class GlobalLike(Protocol):
    name: str
    addr: int
    type_name: str
    kind: str


@dataclass(frozen=True, slots=True)
class Root:
    """A map or slice variable: ``addr`` is where the variable itself lives (the map's header pointer,
    or the slice header)."""

    name: str
    root: str  # 'global' (later: 'stack')
    kind: str  # 'map' | 'slice'
    addr: int
    type_name: str

    @property
    def key_elem(self) -> tuple[str, str]:
        return split_map_type(self.type_name) if self.kind == "map" else ("", slice_elem(self.type_name))


def _kind(type_name: str) -> str | None:
    if type_name.startswith("map["):
        return "map"
    if type_name.startswith("[]"):
        return "slice"
    return None


def find_roots(globals_: Iterable[GlobalLike], types: Types, mem: Memory) -> list[Root]:
    """Every map/slice global, then map/slice fields of struct globals and of structs global pointers point to."""
    out: list[Root] = []
    for g in globals_:
        kind = _kind(g.type_name)
        if kind:
            out.append(Root(g.name, "global", kind, g.addr, g.type_name))
            continue
        struct_name, base = None, None
        if g.kind == "struct" or (not g.type_name.startswith("*") and g.kind not in ("ptr",)):
            struct_name, base = g.type_name, g.addr
        elif g.type_name.startswith("*"):
            data = read_or_none(mem, g.addr, PTR_SIZE)
            ptr = uint_at(data, 0, PTR_SIZE) if data else 0
            if ptr:
                struct_name, base = g.type_name[1:], ptr
        if struct_name is None or base is None:
            continue
        try:
            lay = types.layout(struct_name)
        except (LookupError, ValueError, AttributeError):
            continue
        for f in lay.fields.values():
            fk = _kind(f.type_name)
            if fk:
                out.append(Root(f"{g.name}.{f.name}", "global", fk, base + f.offset, f.type_name))
    return sorted(out, key=lambda r: r.name)
