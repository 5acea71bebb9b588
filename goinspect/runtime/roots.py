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
    """Every map/slice global, then map/slice fields of struct globals and of structs global pointers point to.

    Globals that carry their container ``fields`` (``goinspect.target.open.GlobalVar``) are not
    looked up again; others get their struct layout from ``types``. Reads memory only for
    pointer globals (to follow them), so call it while a live target is paused.
    """
    out: list[Root] = []
    for g in globals_:
        kind = _kind(g.type_name)
        if kind:
            out.append(Root(g.name, "global", kind, g.addr, g.type_name))
            continue
        if g.kind == "ptr":
            data = read_or_none(mem, g.addr, PTR_SIZE)
            base = uint_at(data, 0, PTR_SIZE) if data else 0
            struct_name = getattr(g, "struct_type", "") or g.type_name.removeprefix("*")
        elif g.kind == "struct":
            base, struct_name = g.addr, getattr(g, "struct_type", "") or g.type_name
        else:
            continue
        if not base:
            continue
        fields = getattr(g, "fields", ())
        if not fields:
            try:
                fields = tuple(types.layout(struct_name).fields.values())
            except (LookupError, ValueError, AttributeError):
                continue
        for f in fields:
            fk = _kind(f.type_name)
            if fk:
                out.append(Root(f"{g.name}.{f.name}", "global", fk, base + f.offset, f.type_name))
    return sorted(out, key=lambda r: r.name)
