"""Find the maps and slices a program holds: its roots.

- Globals of map or slice type, and the maps and slices inside globals (struct fields, array
  elements, through pointers: the paths ``-goinspect-globals`` lists): ``pkg.var``,
  ``pkg.var.field``, ``pkg.var.shards[3].seen``, root ``global``.
- Goroutine-stack locals and parameters (``goinspect.runtime.goroutines`` walks every goroutine's
  frames, ``goinspect.symbolize.dwarf_locals`` says where each local lives at a PC): a map or slice
  variable, a map/slice field of a struct variable, or one behind a pointer variable (including
  ``&x`` variables the compiler moved to the heap): ``pkg.Func.var`` (``pkg.Func.var.field``),
  root ``stack``, with the goroutine id and the frame's function. A map that does not escape has
  its header in the frame as a stack object and no DWARF location: ``_stack_headers`` finds it
  among the frame's stack objects.

``gather_roots`` is the one entry point; ``prepare_roots`` does everything that needs only the
binary (DWARF index, pclntab, layouts) and should run before a live target is paused.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from goinspect.runtime.bulk import read_or_none, uint_at
from goinspect.runtime.types import PTR_SIZE, Memory, slice_elem, split_map_type

#: Packages that are the runtime's own bookkeeping: their globals and locals are left out unless asked for.
RUNTIME_PREFIXES = ("runtime.", "internal/", "runtime/internal/")


class PathLike(Protocol):
    suffix: str
    steps: tuple[int, ...]
    type_name: str
    kind: str


class GlobalLike(Protocol):
    """A global as ``goinspect.target.open.GlobalVar`` describes it."""

    name: str
    addr: int
    type_name: str
    kind: str
    paths: tuple[PathLike, ...]


@dataclass(frozen=True, slots=True)
class Root:
    """A map or slice variable: ``addr`` is where the variable itself lives (the map's header pointer,
    or the slice header).

    Stack roots carry their goroutine id and the (physical) function of their frame. A slice header
    the compiler split over three stack slots that are not adjacent has each word's address in
    ``words`` (``addr`` is then the first, the array pointer); ``words`` is empty when the header is
    three contiguous words at ``addr``. ``inline_header``: ``addr`` is the map header itself, a stack
    object of the frame (a map that does not escape), not a variable pointing to one.
    """

    name: str
    root: str  # 'global' | 'stack'
    kind: str  # 'map' | 'slice'
    addr: int
    type_name: str
    goroutine: int | None = None
    frame: str = ""
    words: tuple[int, ...] = ()
    inline_header: bool = False

    def map_header(self, mem: Memory) -> int | None:
        """Address of the map header (0: a nil map; None: the variable is unreadable)."""
        return self.addr if self.inline_header else _load_word(mem, self.addr)

    @property
    def key_elem(self) -> tuple[str, str]:
        return split_map_type(self.type_name) if self.kind == "map" else ("", slice_elem(self.type_name))


def find_roots(globals_: Iterable[GlobalLike], mem: Memory) -> list[Root]:
    """Every map/slice global, then the maps and slices inside globals (struct fields, array elements,
    through pointers): ``pkg.var``, ``pkg.var.field``, ``pkg.var[3].field``.

    Pointers on a path are loaded from ``mem``, so call it while a live target is paused. One map or
    slice is one root: when several paths reach the same one (``time.Local`` is ``&time.localLoc``),
    the path with the fewest pointers on the way (then the shortest name) names it.
    """
    found: list[tuple[int, str, Root]] = []
    for g in globals_:
        if g.kind in ("map", "slice"):
            found.append((0, g.name, Root(g.name, "global", g.kind, g.addr, g.type_name)))
            continue
        for path in g.paths:
            addr = end_of_path(lambda a: _load_word(mem, a), g.addr, path.steps)
            if addr is not None:
                name = g.name + path.suffix
                found.append((len(path.steps) - 1, name, Root(name, "global", path.kind, addr, path.type_name)))
    out: list[Root] = []
    taken: set[tuple[Any, ...]] = set()
    for _derefs, _name, r in sorted(found, key=lambda f: (f[0], len(f[1]), f[1])):
        # One variable reached twice is one root; so is one map or array held by two variables -- but
        # distinct variables that hold nothing (nil maps, slices with no array) stay apart.
        value = _value_key(r.kind, _root_words(r, mem))
        keys = [("at", r.kind, r.addr)] + ([value] if value[1] else [])
        if any(k in taken for k in keys):
            continue
        taken.update(keys)
        out.append(r)
    return sorted(out, key=lambda r: r.name)


def global_container_types(globals_: Iterable[GlobalLike]) -> set[str]:
    """The map and slice types the globals hold, themselves or inside (resolved before a pause)."""
    names: set[str] = set()
    for g in globals_:
        names.update([g.type_name] if g.kind in ("map", "slice") else (p.type_name for p in g.paths))
    return names


# -- goroutine stacks -------------------------------------------------------------------------------


@dataclass
class StackContext:
    """What reading stack roots needs from the binary, resolved before the pause (``prepare_roots``)."""

    layout: Any  # goroutines.GLayout
    allgs: int  # address of runtime.allgs
    unwinder: Any  # goroutines.Unwinder
    index: Any  # dwarf_locals.LocalsIndex
    registers: Callable[[list[int]], dict[int, tuple[int, int]]] | None
    #: (size, pointer mask) of the map header type: how a non-escaping map's header looks among stack objects.
    map_header: tuple[int, bytes] | None = None
    bad_types: set[str] = field(default_factory=set)  # types the census could not lay out
    stats: dict[str, Any] = field(default_factory=dict)  # of the last read: see ``stack_roots``
    _by_entry: dict[bool, dict[int, tuple[Any, ...]]] = field(default_factory=dict)

    def locals_at(self, runtime: bool) -> dict[int, tuple[Any, ...]]:
        """Function entry -> its candidate locals (the function's own first, then inlined ones'), the
        runtime's own left out unless ``runtime``: computed once, so a frame costs one dict lookup."""
        table = self._by_entry.get(runtime)
        if table is None:
            table = {}
            for entry, vs in self.index.by_entry.items():
                keep = tuple(sorted((v for v in vs if runtime or not v.function.startswith(RUNTIME_PREFIXES)),
                                    key=lambda v: v.inlined))
                if keep:
                    table[entry] = keep
            self._by_entry[runtime] = table
        return table


_PREPARED: "weakref.WeakKeyDictionary[Any, StackContext]" = weakref.WeakKeyDictionary()


def prepare_roots(target: Any, census: Any = None, *, runtime: bool = False) -> set[str]:
    """Resolve, before pausing, everything stack roots need: the DWARF locals index (cached per build-id),
    the pclntab, ``runtime.g``'s layout and -- with ``census`` -- the layouts of every map/slice type a
    local can have. Returns those type names. Idempotent; ``gather_roots`` calls it if nobody did.
    """
    ctx = _PREPARED.get(target)
    if ctx is None:
        ctx = _build_context(target)
        if ctx is None:
            return set()
        _PREPARED[target] = ctx
    names = {n for n in _candidate_types(ctx, runtime) if n not in ctx.bad_types}
    if census is not None:
        _prefetch_types(target, names)
        for name in sorted(names):
            try:
                census.prepare([name])
            except Exception:  # noqa: BLE001 -- a type gdb cannot lay out only loses that local
                ctx.bad_types.add(name)
        names -= ctx.bad_types
    return names


def gather_roots(target: Any, globals_: Iterable[GlobalLike], mem: Memory, *, runtime: bool = False) -> list[Root]:
    """Every root: the globals (runtime ones only with ``runtime``) as ``find_roots`` finds them, then the
    maps and slices in goroutine-stack locals (``stack_roots``). Call while a live target is paused."""
    user = [g for g in globals_ if runtime or not g.name.startswith(RUNTIME_PREFIXES)]
    out = find_roots(user, mem)
    prepare_roots(target, runtime=runtime)  # a no-op when done before the pause, as it should be
    ctx = _PREPARED.get(target)
    if ctx is not None:
        held = {_value_key(r.kind, _root_words(r, mem)) for r in out}
        out += stack_roots(ctx, mem, runtime=runtime, held=held)
    return out


def _root_words(r: Root, mem: Memory) -> list[int | None]:
    """The map pointer, or the slice header's three words, a root holds (None where unreadable)."""
    if r.kind == "map":
        return [r.map_header(mem)]
    if r.words:
        return [_load_word(mem, a) for a in r.words]
    data = read_or_none(mem, r.addr, 3 * PTR_SIZE)
    return [uint_at(data, PTR_SIZE * i, PTR_SIZE) if data else None for i in range(3)]


def _value_key(kind: str, words: list[int | None]) -> tuple[Any, ...]:
    """What a root holds: the map header it points to, or the slice's (array, len, cap)."""
    return (kind, *words)


def stack_stats(target: Any) -> dict[str, Any]:
    """Figures of the last stack-root read of ``target`` (goroutines, walked, skipped and why, frames, roots)."""
    ctx = _PREPARED.get(target)
    return dict(ctx.stats) if ctx is not None else {}


def stack_roots(ctx: StackContext, mem: Memory, *, runtime: bool = False,
                held: set[tuple[Any, ...]] | None = None) -> list[Root]:
    """Maps and slices held by locals of every goroutine's frames.

    A local is read where its DWARF location puts it at the frame's PC: a stack slot (CFA-relative)
    or static memory. Locals only in registers there are skipped (counted in ``stats['in_registers']``):
    a parked goroutine's registers are not saved anywhere -- though Go spills every value live across
    a call to the stack, so a parked frame's locals are in slots. Names are ``pkg.Func.var``; when the
    same name occurs more than once (several goroutines run the function, or it recurses), every
    occurrence gets ``#goid`` (and ``/depth`` within one goroutine) appended, so names stay unique
    and stable for a given set of goroutines.

    One map or slice is one root: a local holding what a global already holds (``held``: the values
    of the global roots -- e.g. ``s.cache`` in a method of a global ``*Server``) is left out, and of
    several locals holding the same one (a map passed down the calls of one goroutine, or shared by
    several), the one in the outermost frame of the lowest goroutine id is kept (``stats['aliases']``).
    """
    from goinspect.runtime.goroutines import read_goroutines, read_stack
    from goinspect.symbolize.dwarf_locals import word_addresses

    gs = read_goroutines(mem, ctx.layout, ctx.allgs, ctx.registers)
    stats: dict[str, Any] = {"goroutines": len(gs), "walked": 0, "frames": 0, "in_registers": 0, "implausible": 0,
                             "aliases": 0, "ambiguous": 0,
                             "skipped": dict(Counter(g.skipped for g in gs if g.skipped)), "unwind_stopped": {}}
    found: list[tuple[Any, ...]] = []  # (name, goid, depth, root without its final name, value held, inlined)
    seen: set[tuple[int, int, str]] = set()
    stopped: Counter[str] = Counter()
    by_entry = ctx.locals_at(runtime)
    stacks = [st for st in (read_stack(mem, g) for g in gs) if st is not None]
    unreadable = sum(1 for g in gs if not g.skipped) - len(stacks)
    if unreadable:
        stats["skipped"]["its stack is unreadable"] = unreadable  # e.g. pages a core left out
    frames = ctx.unwinder.unwind_all(stacks)
    stats["walked"], stats["frames"] = len(stacks), len(frames)
    stopped.update(st.stopped.split(" at ")[0] for st in stacks if st.stopped)
    wanted = np.flatnonzero(np.isin(frames.entry, np.fromiter(by_entry, dtype=np.int64, count=len(by_entry))))
    for i in wanted.tolist():
        st = stacks[int(frames.stack[i])]
        g, depth, cfa, lookup_pc = st.goroutine, int(frames.depth[i]), int(frames.cfa[i]), int(frames.lookup_pc[i])
        function = None
        for var in by_entry[int(frames.entry[i])]:
            pieces = var.pieces_at(lookup_pc)
            if pieces is None:
                continue
            base = f"{var.function}.{var.name}"
            for name, kind, type_name, at in _var_slots(var, pieces, cfa, st, mem, word_addresses):
                if at is None:
                    stats["in_registers"] += 1
                    continue
                if not type_name.isascii() or type_name in ctx.bad_types or (g.goid, at[0], kind) in seen:
                    continue
                value = [_word(st, mem, a) for a in at]
                if not _plausible(kind, value):
                    stats["implausible"] += 1
                    continue
                seen.add((g.goid, at[0], kind))
                contiguous = all(b - a == PTR_SIZE for a, b in zip(at, at[1:]))
                function = function or ctx.unwinder.table.func_name(int(frames.func[i]))
                root = Root(base + name, "stack", kind, at[0], type_name, g.goid, function,
                            () if contiguous else tuple(at))
                found.append((root.name, g.goid, depth, root, _value_key(kind, value), var.inlined))
        elided = [v for v in by_entry[int(frames.entry[i])] if v.elided and v.in_scope(lookup_pc)]
        if elided and ctx.map_header is not None:
            function = function or ctx.unwinder.table.func_name(int(frames.func[i]))
            headers = _stack_headers(ctx, elided, int(frames.func[i]), cfa, st, g.goid, function)
            if headers is None:
                stats["ambiguous"] += 1
            for root in headers or ():
                if (g.goid, root.addr, "map") not in seen:
                    seen.add((g.goid, root.addr, "map"))
                    found.append((root.name, g.goid, depth, root, _value_key("map", [root.addr]), elided[0].inlined))
    stats["unwind_stopped"] = dict(stopped)
    kept = _one_root_per_value(found, held or set())
    stats["aliases"] = len(found) - len(kept)
    stats["roots"] = len(kept)
    ctx.stats = stats
    return _unique_names(kept)


def _stack_headers(ctx: StackContext, elided: list[Any], func: int, cfa: int, st: Any, goid: int,
                   function: str) -> list[Root] | None:
    """Roots for the map variables of a frame that have no location (``elided``): the frame's stack objects
    shaped like a map header (size and pointer mask), holding a plausible non-empty header.

    One such variable and one such header pair up; n variables of one type and n headers are named
    together (``pkg.Func.a|b``: which is which the binary does not say). Anything else is ambiguous
    (None) and left out rather than guessed.
    """
    size, mask = ctx.map_header  # type: ignore[misc]
    varp = cfa - 2 * PTR_SIZE  # amd64: below the return address and the saved frame pointer (runtime.stkframe)
    headers = []
    for obj in ctx.unwinder.table.stack_objects(func):
        if obj.size != size or obj.ptr_mask != mask:
            continue
        addr = varp + obj.off if obj.off < 0 else cfa + obj.off
        words = [st.word(addr + PTR_SIZE * k) for k in range(size // PTR_SIZE)]
        if _plausible_header(words, mask):
            headers.append(addr)
    if not headers:
        return []
    types = {v.type_name for v in elided}
    if len(types) != 1 or len(headers) != len(elided):
        return None
    var = elided[0]
    name = f"{var.function}." + "|".join(sorted(v.name for v in elided))
    return [Root(name, "stack", "map", addr, var.type_name, goid, function, inline_header=True)
            for addr in sorted(headers)]


def _plausible_header(words: list[int | None], mask: bytes) -> bool:
    """A live map header: readable, a count that fits memory, pointer words aligned, something allocated."""
    if any(w is None for w in words):
        return False
    ptrs = [w for k, w in enumerate(words) if mask[k // 8] >> (k % 8) & 1]
    if any(p % PTR_SIZE for p in ptrs):  # type: ignore[operator]
        return False
    return 0 <= words[0] < 1 << 40 and any(ptrs)  # type: ignore[operator]


def _one_root_per_value(found: list[tuple[Any, ...]], held: set[tuple[Any, ...]]) -> list[tuple[str, int, int, Root]]:
    """Per map/slice value, the local in the outermost frame of the lowest goroutine id (in one frame, the
    function's own variable before an inlined callee's); none if a global holds it."""
    taken = set(held)
    out = []
    for name, goid, depth, root, key, _inlined in sorted(found, key=lambda f: (f[1], -f[2], f[5], f[0])):
        if key in taken:
            continue
        taken.add(key)
        out.append((name, goid, depth, root))
    return out


def _word(st: Any, mem: Memory, addr: int) -> int | None:
    """A word of the goroutine's stack (read with it), or anywhere else from ``mem``."""
    w = st.word(addr)
    return _load_word(mem, addr) if w is None else w


def _load_word(mem: Memory, addr: int) -> int | None:
    """The pointer-sized word at ``addr``, None when unreadable."""
    data = read_or_none(mem, addr, PTR_SIZE)
    return uint_at(data, 0, PTR_SIZE) if data else None


def _plausible(kind: str, words: list[int | None]) -> bool:
    """Whether the words can be a live, non-nil map pointer / slice header.

    A nil map or an empty slice in a local holds nothing, and a location the compiler got wrong
    (it sometimes describes one word of a split slice as the whole header) reads as nonsense
    (len > cap, a misaligned pointer): both are left out rather than reported.
    """
    if any(w is None for w in words):
        return False
    if kind == "map":
        return bool(words[0]) and words[0] % PTR_SIZE == 0
    array, length, cap = words
    return 0 < cap < 1 << 48 and 0 <= length <= cap and array != 0


def _var_slots(var: Any, pieces: Any, cfa: int, st: Any, mem: Memory,
               word_addresses: Callable[..., list[int] | None]) -> list[tuple[str, str, str, list[int] | None]]:
    """(name suffix, kind, type, word addresses or None) of each map/slice the variable holds. A field
    reached through pointers (``f.then``) whose pointer is nil now holds nothing and is left out."""
    nwords = {"map": 1, "slice": 3}
    if var.kind in ("map", "slice"):
        return [("", var.kind, var.type_name, word_addresses(pieces, cfa, 0, nwords[var.kind]))]
    if var.kind == "struct":
        out = []
        for f in var.fields:
            if not f.then:
                out.append((f".{f.name}", f.kind, f.type_name, word_addresses(pieces, cfa, f.offset, nwords[f.kind])))
                continue
            slot = word_addresses(pieces, cfa, f.offset, 1)
            if slot is None:  # the pointer is in a register here
                out.append((f".{f.name}", f.kind, f.type_name, None))
            elif (at := end_of_path(lambda a: _word(st, mem, a), slot[0], (0, *f.then))) is not None:
                out.append((f".{f.name}", f.kind, f.type_name, [at + PTR_SIZE * i for i in range(nwords[f.kind])]))
        return out
    # a pointer: to a map/slice variable moved to the heap, or to a struct with map/slice fields
    slot = word_addresses(pieces, cfa, 0, 1)
    if slot is None:
        return [("", "ptr", var.type_name, None)]
    ptr = _word(st, mem, slot[0])
    if not ptr:
        return []
    if not var.fields:
        kind = "map" if var.type_name.startswith("map[") else "slice"
        return [("", kind, var.type_name, [ptr + PTR_SIZE * i for i in range(nwords[kind])])]
    out = []
    for f in var.fields:
        at = end_of_path(lambda a: _word(st, mem, a), ptr, (f.offset, *f.then))
        if at is not None:
            out.append((f".{f.name}", f.kind, f.type_name, [at + PTR_SIZE * i for i in range(nwords[f.kind])]))
    return out


def end_of_path(load: Callable[[int], int | None], start: int, steps: Sequence[int]) -> int | None:
    """Where a path of offsets with a pointer load between two of them ends (``goinspect.target.open.
    ContainerPath`` for globals, ``FieldRef.then`` for locals): ``start + steps[0]``, then for each next
    step load the pointer there and add it. None at a nil or unreadable pointer on the way."""
    addr = start + steps[0]
    for step in steps[1:]:
        ptr = load(addr)
        if not ptr:
            return None
        addr = ptr + step
    return addr


def _unique_names(found: list[tuple[str, int, int, Root]]) -> list[Root]:
    counts = Counter(name for name, *_ in found)
    per_goroutine = Counter((name, goid) for name, goid, *_ in found)
    out = []
    for base, goid, depth, root in found:
        name = base
        if counts[base] > 1:
            name = f"{base}#{goid}" + (f"/{depth}" if per_goroutine[(base, goid)] > 1 else "")
        out.append(dataclasses.replace(root, name=name))
    return sorted(out, key=lambda r: r.name)


def _candidate_types(ctx: StackContext, runtime: bool) -> set[str]:
    """Map/slice types of the locals, less names gdb cannot look up (closure types spelled with a
    middle dot, ``newFunc·1``, make gdb 13's type lookup abort)."""
    from goinspect.symbolize.dwarf_locals import container_types

    names = container_types(v for vs in ctx.locals_at(runtime).values() for v in vs)
    return {n for n in names if n.isascii()}


def _prefetch_types(target: Any, names: set[str]) -> None:
    """One gdb round trip for all the map types (and their bucket/group layouts) instead of one per type."""
    raw_map_types = getattr(target, "_raw_map_types", None)
    prefetch = getattr(target, "prefetch", None)
    maps = sorted(n for n in names if n.startswith("map["))
    if raw_map_types is None or prefetch is None or not maps:
        return
    try:
        known = raw_map_types(maps)
        prefetch([n for mt in known.values() if mt for n in
                  (mt.get("header"), mt.get("bucket"), mt.get("table"), mt.get("group"), mt.get("slot")) if n])
    except Exception:  # noqa: BLE001 -- census.prepare asks again, one type at a time
        pass


def _build_context(target: Any) -> StackContext | None:
    """None when the binary cannot be walked (no runtime.allgs, no runtime.g layout, no pclntab, not amd64)."""
    from goinspect.errors import GoinspectError
    from goinspect.runtime.goroutines import G_TYPES, GLayout, Unwinder, proc_thread_registers
    from goinspect.symbolize.binary import open_executable
    from goinspect.symbolize.dwarf_locals import locals_index

    try:
        getattr(target, "prefetch", lambda names: None)(list(G_TYPES))
        layout = GLayout.from_types(target)
        allgs = next((g.addr for g in target.globals() if g.name == "runtime.allgs"), 0)
        table, _mapping = open_executable(str(target.exe))
        if (table.quantum, table.ptr_size) != (1, 8):
            return None  # not amd64: frames there have a link register, and the unwinder knows amd64's only
        index = locals_index(target.exe, target.build_id)
    except (GoinspectError, LookupError, ValueError, OSError):
        return None
    if not allgs:
        return None
    bias = getattr(target, "bias", getattr(target, "_bias", 0))
    registers = None
    if getattr(target, "pid", None) is not None:
        registers = proc_thread_registers(target.pid)
    else:
        core = getattr(target.memory, "core", None)
        if core is not None:
            from goinspect.target.elf import core_thread_registers

            regs = core_thread_registers(core)
            registers = lambda tids: {t: regs[t] for t in tids if t in regs}  # noqa: E731
    return StackContext(layout, allgs, Unwinder(table, bias), index, registers, _map_header_shape(target))


def _map_header_shape(target: Any) -> tuple[int, bytes] | None:
    """(size, pointer mask) of the map header type (``runtime.hmap``, or the Swiss ``maps.Map``), from DWARF."""
    name = "internal/runtime/maps.Map" if getattr(target, "map_impl", "") == "swiss" else "runtime.hmap"
    from goinspect.errors import GoinspectError

    try:
        lay = target.layout(name)
    except (GoinspectError, LookupError, ValueError, AttributeError):
        return None
    bits = 0
    for f in lay.fields.values():
        if f.type_name.startswith("*") or f.type_name == "unsafe.Pointer":
            bits |= 1 << (f.offset // PTR_SIZE)
    nwords = max(bits.bit_length(), 1)
    return lay.size, bits.to_bytes(-(-nwords // 8), "little")
