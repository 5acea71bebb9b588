"""Local variables and parameters of every function, from DWARF: the ones that can hold a map or slice.

For goroutine-stack roots (``goinspect.runtime.stacks``) we need, per function, each local whose
type is a map, a slice, a struct with map/slice fields (one level) or a pointer to any of these
(``&x`` variables the compiler moved to the heap are pointers on the stack), and *where* it lives
at a given PC: Go's DWARF gives an expression (``DW_OP_call_frame_cfa`` / ``DW_OP_fbreg`` plus an
offset, possibly split into ``DW_OP_piece`` s, e.g. a slice header whose three words sit in three
stack slots) or a location list of such expressions per PC range.

Parsing all of a binary's DWARF with pyelftools takes seconds, so the index is built once per
build-id and cached as JSON in ``<cache dir>/locals/`` -- before a live target is paused.

Locations are kept symbolically as pieces ``(size, kind, value)``: ``kind`` is ``"cfa"`` (memory at
CFA + value), ``"addr"`` (static memory at value), ``"reg"`` (register number value: not readable
for a parked goroutine), ``"none"`` (optimized out) or ``"bad"`` (an expression we do not evaluate);
``size`` 0 means "the whole variable" (no ``DW_OP_piece``).

A map variable with no location at all is kept too (``elided``): when a map does not escape, the
compiler puts its header in the frame as an anonymous stack object and rematerializes the pointer
(``LEAQ off(SP)``) wherever it is used, so DWARF has nothing to say where ``m`` is -- the frame's
stack objects (``FUNCDATA_StackObjects``) do.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from goinspect.run.toolchain import cache_dir

#: Bump when the cached JSON changes meaning.
_SCHEMA = 4
#: Cached binaries kept (least recently used go first).
_KEEP = 32

Piece = tuple[int, str, int]  # (size in bytes or 0 for whole, kind, value)


#: Pointers a local's field path may go through (``s.store.byID``: one), as for globals.
MAX_FIELD_DEREFS = 2


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A map/slice inside a struct local: ``name`` (``byID``, or a path ``store.byID``) at byte ``offset``;
    ``then``: offsets after each pointer load on the way (``store`` is a pointer at ``offset``, the map is
    ``then[0]`` bytes into what it points to)."""

    name: str
    offset: int
    type_name: str
    kind: str  # 'map' | 'slice'
    then: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalVar:
    """A local or parameter that can hold maps/slices.

    ``kind``: ``map`` / ``slice`` (the variable is one), ``struct`` (``fields`` are), ``ptr`` (it points
    to a map/slice -- ``type_name`` is then the pointee -- or to a struct whose ``fields`` are).
    ``scope``: PC ranges where the variable is in scope (its lexical block or inlined call), or
    empty for the whole function. ``locs``: ``(lo, hi, pieces)`` per PC range, link-time addresses.
    ``elided``: a map with no location anywhere -- its header may be a stack object of the frame.
    """

    function: str  # the (possibly inlined) function the variable belongs to
    name: str
    kind: str
    type_name: str
    fields: tuple[FieldRef, ...]
    scope: tuple[tuple[int, int], ...]
    locs: tuple[tuple[int, int, tuple[Piece, ...]], ...]
    inlined: bool = False
    elided: bool = False

    def in_scope(self, pc: int) -> bool:
        return not self.scope or any(lo <= pc < hi for lo, hi in self.scope)

    def pieces_at(self, pc: int) -> tuple[Piece, ...] | None:
        """The location at ``pc``, None where the variable is out of scope or has none."""
        if not self.in_scope(pc):
            return None
        for lo, hi, pieces in self.locs:
            if lo <= pc < hi:
                return pieces
        return None


class LocalsIndex:
    """Function entry PC (link-time) -> the map/slice-holding locals of that function."""

    def __init__(self, by_entry: dict[int, list[LocalVar]]) -> None:
        self.by_entry = by_entry

    # -- cache ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {str(e): [[v.function, v.name, v.kind, v.type_name,
                          [[f.name, f.offset, f.type_name, f.kind, list(f.then)] for f in v.fields],
                          [list(r) for r in v.scope], [[lo, hi, [list(p) for p in ps]] for lo, hi, ps in v.locs],
                          v.inlined, v.elided] for v in vs] for e, vs in self.by_entry.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LocalsIndex":
        out: dict[int, list[LocalVar]] = {}
        for e, vs in data.items():
            out[int(e)] = [LocalVar(fn, name, kind, tn, tuple(FieldRef(*f[:4], tuple(f[4])) for f in fields),
                                    tuple((a, b) for a, b in scope),
                                    tuple((lo, hi, tuple((s, k, x) for s, k, x in ps)) for lo, hi, ps in locs),
                                    bool(inl), bool(elided))
                           for fn, name, kind, tn, fields, scope, locs, inl, elided in vs]
        return cls(out)


def container_types(locals_: Iterable[LocalVar]) -> set[str]:
    """Every map/slice type the locals hold: their own, their fields', or what they point to."""
    out: set[str] = set()
    for v in locals_:
        if v.kind in ("map", "slice") or (v.kind == "ptr" and not v.fields):
            out.add(v.type_name)
        out.update(f.type_name for f in v.fields)
    return out


def locals_index(exe: str | Path, build_id: str) -> LocalsIndex:
    """The index for executable ``exe``, from the cache when this build was indexed before."""
    path = _cache_path(build_id)
    try:
        data = json.loads(path.read_text())
        if data.get("build_id") == build_id and data.get("schema") == _SCHEMA:
            os.utime(path)
            return LocalsIndex.from_json(data["functions"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    index = build_index(exe)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"schema": _SCHEMA, "build_id": build_id, "functions": index.to_json()},
                                  separators=(",", ":")))
        os.replace(tmp, path)
        _prune(path.parent)
    except OSError:
        pass  # an unwritable cache only costs time next run
    return index


def _cache_path(build_id: str) -> Path:
    key = hashlib.sha256(f"{_SCHEMA}\0{build_id}".encode()).hexdigest()[:32]
    return cache_dir() / "locals" / f"{key}.json"


def _prune(directory: Path) -> None:
    files = []
    for p in directory.glob("*.json"):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            pass
    for _, p in sorted(files, reverse=True)[_KEEP:]:
        p.unlink(missing_ok=True)


# -- building the index -----------------------------------------------------------------------

_WANTED_TAGS = ("DW_TAG_variable", "DW_TAG_formal_parameter")


def build_index(exe: str | Path) -> LocalsIndex:
    """Walk every concrete function's DIE tree once (pyelftools) and keep the interesting locals."""
    from elftools.elf.elffile import ELFFile

    by_entry: dict[int, list[LocalVar]] = {}
    with open(exe, "rb") as fh:
        elf = ELFFile(fh)
        if not elf.has_dwarf_info():
            return LocalsIndex({})
        dwarf = elf.get_dwarf_info()
        builder = _Builder(dwarf)
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            for die in top.iter_children():
                if die.tag != "DW_TAG_subprogram" or "DW_AT_low_pc" not in die.attributes:
                    continue
                low = die.attributes["DW_AT_low_pc"].value
                high = _high_pc(die, low)
                # An inlinable function's out-of-line copy names itself through its abstract origin.
                origin = builder.origin(die)
                name = _name(die) or _name(origin or die)
                found: list[LocalVar] = []
                builder.walk(die, name, (), low, high, False, found)
                if origin is not None:
                    builder.unlisted_maps(die, origin, name, (), found)
                if found:
                    by_entry[low] = found
    return LocalsIndex(by_entry)


def _name(die: Any) -> str:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode("utf-8", "replace") if a is not None else ""


def _high_pc(die: Any, low: int) -> int:
    a = die.attributes.get("DW_AT_high_pc")
    if a is None:
        return low
    return a.value if a.form == "DW_FORM_addr" else low + a.value


class _Builder:
    def __init__(self, dwarf: Any) -> None:
        self.dwarf = dwarf
        self.loc_parser = dwarf.location_lists()
        self.range_lists = dwarf.range_lists()
        self._types: dict[int, tuple[str, str, tuple[FieldRef, ...]] | None] = {}
        self._fields: dict[tuple[int, int], tuple[FieldRef, ...]] = {}

    def walk(self, die: Any, function: str, scope: tuple[tuple[int, int], ...], low: int, high: int,
             inlined: bool, out: list[LocalVar]) -> None:
        for child in die.iter_children():
            tag = child.tag
            if tag in _WANTED_TAGS:
                v = self.variable(child, function, scope, low, high, inlined)
                if v is not None:
                    out.append(v)
            elif tag == "DW_TAG_lexical_block":
                self.walk(child, function, self.ranges(child) or scope, low, high, inlined, out)
            elif tag == "DW_TAG_inlined_subroutine":
                origin = self.origin(child)
                fn = _name(origin) if origin is not None else function
                inner_scope = self.ranges(child) or scope
                self.walk(child, fn or function, inner_scope, low, high, True, out)
                if origin is not None:
                    self.unlisted_maps(child, origin, fn or function, inner_scope, out)

    def unlisted_maps(self, concrete: Any, origin: Any, function: str, scope: tuple[tuple[int, int], ...],
                      out: list[LocalVar]) -> None:
        """Map variables of an inlinable function that its concrete instance (an inlined call, or the
        out-of-line copy) leaves out altogether -- Go 1.26 omits a variable with no location instead of
        giving it an empty one: elided, in the concrete instance's scope."""
        listed = {o.offset for c in concrete.iter_children() if c.tag in _WANTED_TAGS
                  and (o := self.origin(c)) is not None}
        for v in origin.iter_children():
            if v.tag != "DW_TAG_variable" or v.offset in listed or "DW_AT_type" not in v.attributes:
                continue
            name = _name(v)
            kind = self.classify(v.get_DIE_from_attribute("DW_AT_type"))
            if name and not name.startswith((".", "~")) and kind is not None and kind[0] == "map":
                out.append(LocalVar(function, name.removeprefix("&"), "map", kind[1], (), scope, (),
                                    concrete.tag == "DW_TAG_inlined_subroutine", True))

    def origin(self, die: Any) -> Any:
        if "DW_AT_abstract_origin" in die.attributes:
            return die.get_DIE_from_attribute("DW_AT_abstract_origin")
        return None

    def variable(self, die: Any, function: str, scope: tuple[tuple[int, int], ...], low: int, high: int,
                 inlined: bool) -> LocalVar | None:
        src = die
        if "DW_AT_type" not in die.attributes or "DW_AT_name" not in die.attributes:
            src = self.origin(die)
            if src is None:
                return None
        if "DW_AT_type" not in src.attributes:
            return None
        name = _name(src) if "DW_AT_name" not in die.attributes else _name(die)
        if not name or name.startswith((".", "~")):
            return None  # compiler temporaries, unnamed results
        kind = self.classify(src.get_DIE_from_attribute("DW_AT_type"))
        if kind is None:
            return None
        k, type_name, fields = kind
        locs = self.locations(die, low, high) if "DW_AT_location" in die.attributes else ()
        if not locs:
            if k != "map" or die.attributes.get("DW_AT_inline") is not None:
                return None
            return LocalVar(function, name.removeprefix("&"), k, type_name, fields, scope, (), inlined, True)
        return LocalVar(function, name.removeprefix("&"), k, type_name, fields, scope, locs, inlined)

    # -- types ---------------------------------------------------------------------------

    def classify(self, t: Any) -> tuple[str, str, tuple[FieldRef, ...]] | None:
        """('map'|'slice', name, ()) / ('struct'|'ptr', name, fields) / ('ptr', pointee map/slice, ())."""
        if t.offset in self._types:
            return self._types[t.offset]
        self._types[t.offset] = None  # recursion guard
        result = None
        name = _name(t)
        direct = _container_kind(name)
        if direct:
            result = (direct, name, ())
        elif t.tag == "DW_TAG_structure_type":
            fields = self.container_fields(t)
            if fields:
                result = ("struct", name, fields)
        elif t.tag == "DW_TAG_pointer_type" and "DW_AT_type" in t.attributes:
            target = t.get_DIE_from_attribute("DW_AT_type")
            tname = _name(target)
            tk = _container_kind(tname)
            target = _strip_typedefs(target)
            if tk:
                result = ("ptr", tname, ())
            elif target.tag == "DW_TAG_structure_type":
                fields = self.container_fields(target)
                if fields:
                    result = ("ptr", tname, fields)
        elif t.tag == "DW_TAG_typedef" and "DW_AT_type" in t.attributes:
            inner = self.classify(t.get_DIE_from_attribute("DW_AT_type"))
            result = inner
        self._types[t.offset] = result
        return result

    def container_fields(self, struct: Any, derefs: int = MAX_FIELD_DEREFS) -> tuple[FieldRef, ...]:
        """Maps and slices inside a struct: its fields, fields of struct fields, and -- up to ``derefs``
        pointer loads -- fields of structs a field points to (never into the runtime's own types or an
        interface's dynamic value). Memoized per (type, derefs); a type met again on its own path ends."""
        key = (struct.offset, derefs)
        if key in self._fields:
            return self._fields[key]
        self._fields[key] = ()
        out: list[FieldRef] = []
        if not _container_kind(_name(struct)) and not _is_interface(struct):
            for m in struct.iter_children():
                if m.tag != "DW_TAG_member" or "DW_AT_type" not in m.attributes:
                    continue
                loc = m.attributes.get("DW_AT_data_member_location")
                if loc is None or not isinstance(loc.value, int) or _name(m) in ("", "_"):
                    continue
                ftype = m.get_DIE_from_attribute("DW_AT_type")
                tname = _name(ftype)
                k = _container_kind(tname)
                if k:
                    out.append(FieldRef(_name(m), loc.value, tname, k))
                    continue
                inner = _strip_typedefs(ftype)
                if inner.tag == "DW_TAG_structure_type":
                    out += [FieldRef(f"{_name(m)}.{f.name}", loc.value + f.offset, f.type_name, f.kind, f.then)
                            for f in self.container_fields(inner, derefs)]
                elif inner.tag == "DW_TAG_pointer_type" and derefs > 0 and "DW_AT_type" in inner.attributes:
                    target = inner.get_DIE_from_attribute("DW_AT_type")
                    target_name, target = _name(target), _strip_typedefs(target)
                    if target.tag != "DW_TAG_structure_type" or target_name.startswith(_NOT_FOLLOWED) \
                            or "<" in target_name or _container_kind(target_name):
                        continue
                    out += [FieldRef(f"{_name(m)}.{f.name}", loc.value, f.type_name, f.kind, (f.offset, *f.then))
                            for f in self.container_fields(target, derefs - 1)]
        self._fields[key] = tuple(out)
        return self._fields[key]

    # -- locations and ranges -----------------------------------------------------------------

    def locations(self, die: Any, low: int, high: int) -> tuple[tuple[int, int, tuple[Piece, ...]], ...]:
        attr = die.attributes["DW_AT_location"]
        if attr.form in ("DW_FORM_exprloc", "DW_FORM_block1", "DW_FORM_block", "DW_FORM_block2", "DW_FORM_block4"):
            pieces = parse_expr(bytes(attr.value))
            return ((low, high, pieces),) if pieces else ()
        try:
            entries = self.loc_parser.get_location_list_at_offset(attr.value, die=die)
        except Exception:  # noqa: BLE001 -- a malformed list only loses this variable
            return ()
        base = die.cu.get_top_DIE().attributes.get("DW_AT_low_pc")
        base_addr = base.value if base is not None else 0
        out = []
        for e in entries:
            if hasattr(e, "base_address"):
                base_addr = e.base_address
                continue
            if not hasattr(e, "loc_expr"):
                continue
            lo, hi = (e.begin_offset, e.end_offset) if e.is_absolute else (base_addr + e.begin_offset,
                                                                            base_addr + e.end_offset)
            pieces = parse_expr(bytes(e.loc_expr))
            if pieces:
                out.append((lo, hi, pieces))
        return tuple(out)

    def ranges(self, die: Any) -> tuple[tuple[int, int], ...]:
        a = die.attributes
        if "DW_AT_low_pc" in a:
            low = a["DW_AT_low_pc"].value
            return ((low, _high_pc(die, low)),)
        if "DW_AT_ranges" in a and self.range_lists is not None:
            try:
                entries = self.range_lists.get_range_list_at_offset(a["DW_AT_ranges"].value, cu=die.cu)
            except Exception:  # noqa: BLE001
                return ()
            base = die.cu.get_top_DIE().attributes.get("DW_AT_low_pc")
            base_addr = base.value if base is not None else 0
            out = []
            for e in entries:
                if hasattr(e, "base_address"):
                    base_addr = e.base_address
                elif hasattr(e, "begin_offset"):
                    absolute = getattr(e, "is_absolute", False)
                    lo, hi = (e.begin_offset, e.end_offset) if absolute else (base_addr + e.begin_offset,
                                                                             base_addr + e.end_offset)
                    out.append((lo, hi))
            return tuple(out)
        return ()


#: Types a field path never enters: the runtime's own objects (a channel's hchan, goroutines, itabs).
_NOT_FOLLOWED = ("runtime.", "internal/", "[]", "map[")


def _strip_typedefs(t: Any) -> Any:
    for _ in range(8):  # Go names a struct type through a typedef of the same name
        if t.tag != "DW_TAG_typedef" or "DW_AT_type" not in t.attributes:
            break
        t = t.get_DIE_from_attribute("DW_AT_type")
    return t


def _is_interface(t: Any) -> bool:
    """An interface value is (tab, data) or (_type, data): its dynamic type is not known statically."""
    if t.tag != "DW_TAG_structure_type":
        return False
    return [_name(m) for m in t.iter_children() if m.tag == "DW_TAG_member"] in (["tab", "data"], ["_type", "data"])


def _container_kind(type_name: str) -> str:
    if type_name.startswith("map["):
        return "map"
    if type_name.startswith("[]"):
        return "slice"
    return ""


# -- location expressions -------------------------------------------------------------------------


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                value -= 1 << shift
            return value, pos


def parse_expr(data: bytes) -> tuple[Piece, ...]:
    """Pieces of a DWARF location expression, evaluated symbolically (see the module docstring).

    Handles what Go emits for stack variables: ``DW_OP_call_frame_cfa`` with ``DW_OP_consts`` /
    ``DW_OP_plus`` / ``DW_OP_plus_uconst``, ``DW_OP_fbreg`` (Go's frame base is the CFA),
    ``DW_OP_addr``, registers and ``DW_OP_piece``. An empty expression gives no pieces.
    """
    pieces: list[Piece] = []
    stack: list[tuple[str, int]] = []  # ('cfa', off) | ('const', v) | ('addr', a) | ('reg', n) | ('bad', 0)
    pos, n = 0, len(data)
    try:
        while pos < n:
            op = data[pos]
            pos += 1
            if op == 0x9C:  # DW_OP_call_frame_cfa
                stack.append(("cfa", 0))
            elif op == 0x91:  # DW_OP_fbreg
                off, pos = _sleb(data, pos)
                stack.append(("cfa", off))
            elif op == 0x11:  # DW_OP_consts
                v, pos = _sleb(data, pos)
                stack.append(("const", v))
            elif op == 0x10:  # DW_OP_constu
                v, pos = _uleb(data, pos)
                stack.append(("const", v))
            elif op == 0x23:  # DW_OP_plus_uconst
                v, pos = _uleb(data, pos)
                k, x = stack.pop()
                stack.append((k, x + v) if k in ("cfa", "addr", "const") else ("bad", 0))
            elif op == 0x22:  # DW_OP_plus
                (k2, b), (k1, a) = stack.pop(), stack.pop()
                if k2 == "const" and k1 in ("cfa", "addr", "const"):
                    stack.append((k1, a + b))
                elif k1 == "const" and k2 in ("cfa", "addr"):
                    stack.append((k2, a + b))
                else:
                    stack.append(("bad", 0))
            elif op == 0x03:  # DW_OP_addr
                stack.append(("addr", int.from_bytes(data[pos:pos + 8], "little")))
                pos += 8
            elif 0x50 <= op <= 0x6F:  # DW_OP_reg0..31
                stack.append(("reg", op - 0x50))
            elif op == 0x90:  # DW_OP_regx
                r, pos = _uleb(data, pos)
                stack.append(("reg", r))
            elif op == 0x93:  # DW_OP_piece
                size, pos = _uleb(data, pos)
                pieces.append((size, *_loc(stack)))
                stack = []
            else:
                return tuple(pieces) + ((0, "bad", 0),)
    except (IndexError, ValueError):
        return ((0, "bad", 0),)
    if stack:
        pieces.append((0, *_loc(stack)))
    return tuple(pieces)


def _loc(stack: list[tuple[str, int]]) -> tuple[str, int]:
    if not stack:
        return ("none", 0)
    k, v = stack[-1]
    if k == "const":
        return ("bad", 0)  # a constant value, not a location (DW_OP_stack_value is not used by Go)
    return (k, v)


def word_addresses(pieces: tuple[Piece, ...], cfa: int, offset: int, words: int) -> list[int] | None:
    """Stack (or static) addresses of ``words`` 8-byte words starting at byte ``offset`` of a variable
    located by ``pieces`` in a frame whose CFA is ``cfa``; None if any of them is not in memory."""
    if len(pieces) == 1 and pieces[0][0] == 0:
        kind, value = pieces[0][1], pieces[0][2]
        if kind not in ("cfa", "addr"):
            return None
        base = (cfa + value) if kind == "cfa" else value
        return [base + offset + 8 * i for i in range(words)]
    out = []
    for w in range(words):
        want = offset + 8 * w
        start = 0
        for size, kind, value in pieces:
            if size and start <= want and want + 8 <= start + size:
                if kind == "cfa":
                    out.append(cfa + value + want - start)
                elif kind == "addr":
                    out.append(value + want - start)
                else:
                    return None
                break
            start += size
        else:
            return None
    return out
