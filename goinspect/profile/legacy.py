"""The legacy text heap profile, ``/debug/pprof/heap?debug=1``.

Written by ``runtime/pprof.writeHeapInternal``::

    heap profile: INUSE_OBJS: INUSE_BYTES [ALLOC_OBJS: ALLOC_BYTES] @ heap/2*MemProfileRate
    INUSE_OBJS: INUSE_BYTES [ALLOC_OBJS: ALLOC_BYTES] @ 0xPC 0xPC ...
    #\t0xPC\tfunc+0xOFF\tfile:line        (one per frame, leading runtime frames hidden)
    ...
    # runtime.MemStats ...

Numbers are raw sampled counts; like google/pprof's ``parseHeap`` (which
``go tool pprof`` uses) each (count, bytes) pair is scaled by
``1/(1-exp(-avg/rate))``, every PC (a return address) is moved back one byte
onto its call, the block size becomes the numeric label ``bytes``, and the
profile carries pprof's ``drop_frames``/``keep_frames`` for heap profiles.

Unlike the proto form, the stacks keep every runtime frame. With the
executable they are symbolized through its ``.gopclntab``, inlined frames
included; without it, only the frames the runtime printed in its comment lines
get names.
"""

from __future__ import annotations

import re

import numpy as np

from goinspect.errors import ProfileError
from goinspect.profile import goexp
from goinspect.profile.model import (
    Function,
    LabelColumn,
    Line,
    Location,
    Mapping,
    Profile,
    Samples,
    ValueType,
)

_HEADER_RE = re.compile(rb"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)")
_SAMPLE_RE = re.compile(
    rb"^[ \t]*(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] @((?:[ \t]+0x[0-9a-f]+)*)[ \t]*\r?$", re.M
)
_CONTENT_RE = re.compile(rb"^[ \t]*[^#\s]", re.M)  # a line that is neither blank nor a comment
_COMMENT_FRAME_RE = re.compile(
    rb"^[ \t]*#\t(0x[0-9a-f]+)(?:\t+(\S.*?)\+0x[0-9a-f]+\t+(.*):(\d+))?[ \t]*\r?$", re.M
)
# google/pprof stops reading samples at a memory map section; the Go runtime writes none.
_MEMORY_MAP_RE = re.compile(rb"^[ \t]*(?:MAPPED_LIBRARIES:|--- Memory map: ---)", re.M)

# google/pprof profile/legacy_profile.go: allocRxStr and allocSkipRxStr, which
# it sets as DropFrames/KeepFrames on every legacy heap profile.
DROP_FRAMES = "|".join([
    "calloc", "cfree", "malloc", "free", "memalign", "do_memalign", "(__)?posix_memalign", "pvalloc",
    "valloc", "realloc",
    "tcmalloc::.*", "tc_calloc", "tc_cfree", "tc_malloc", "tc_free", "tc_memalign", "tc_posix_memalign",
    "tc_pvalloc", "tc_valloc", "tc_realloc", "tc_new", "tc_delete", "tc_newarray", "tc_deletearray",
    "tc_new_nothrow", "tc_newarray_nothrow",
    "malloc_zone_malloc", "malloc_zone_calloc", "malloc_zone_valloc", "malloc_zone_realloc",
    "malloc_zone_memalign", "malloc_zone_free",
    r"runtime\..*",
    "BaseArena::.*", "(::)?do_malloc_no_errno", "(::)?do_malloc_pages", "(::)?do_malloc",
    "DoSampledAllocation", "MallocedMemBlock::MallocedMemBlock", "_M_allocate",
    "__builtin_(vec_)?delete", "__builtin_(vec_)?new", "__gnu_cxx::new_allocator::allocate",
    "__libc_malloc", "__malloc_alloc_template::allocate", "allocate", "cpp_alloc",
    r"operator new(\[\])?", "simple_alloc::allocate",
])
KEEP_FRAMES = "|".join([r"runtime\.panic", r"runtime\.reflectcall", r"runtime\.call[0-9]*"])

_FOUR_TYPES = [
    ValueType("alloc_objects", "count"),
    ValueType("alloc_space", "bytes"),
    ValueType("inuse_objects", "count"),
    ValueType("inuse_space", "bytes"),
]
_TWO_TYPES = [ValueType("objects", "count"), ValueType("space", "bytes")]


def looks_like_text(data: bytes) -> bool:
    """True if ``data`` starts like a ``?debug=1`` heap profile (its first line is the header)."""
    first = data[:256].split(b"\n", 1)[0]
    return first.startswith(b"heap profile:") and _HEADER_RE.match(first) is not None


def parse(data: bytes, exe: str | None, name: str) -> Profile:
    """Parse a ``?debug=1`` heap profile; symbolize through ``exe`` when given."""
    first, _, body = data.partition(b"\n")
    header = _HEADER_RE.match(first)
    if header is None:
        raise ProfileError(f"{name}: line 1 is not a heap profile header ('heap profile: N: N [N: N] @ heap/RATE')")
    period, scaled, has_alloc = _header(header, name)
    sentinel = _MEMORY_MAP_RE.search(body)
    if sentinel:
        body = body[: sentinel.start()]

    rows = _SAMPLE_RE.findall(body)
    if len(rows) != len(_CONTENT_RE.findall(body)):
        raise ProfileError(f"{name}: {_first_bad_line(body)}")
    if not rows:
        raise ProfileError(f"{name}: the profile has a header but no samples (truncated?)")
    try:
        raw = np.array([r[:4] for r in rows]).astype(np.int64)  # inuse_n, inuse_b, alloc_n, alloc_b
    except (OverflowError, ValueError):
        raise ProfileError(f"{name}: a sample value does not fit in 64 bits") from None
    inuse_n, inuse_b, alloc_n, alloc_b = raw.T
    for count, size, what in ((alloc_n, alloc_b, "allocation"), (inuse_n, inuse_b, "inuse")):
        bad = np.flatnonzero((count == 0) & (size != 0))
        if len(bad):
            i = int(bad[0])
            raise ProfileError(
                f"{name}: line {_sample_line(body, i)}: {what} count is 0 but {what} bytes is {int(size[i])}"
            )
    if header.group(5) == b"heap":
        _check_totals(header, inuse_n, inuse_b, alloc_n, alloc_b, name)

    # Block size: from the in-use pair if it has objects, else from the allocation pair (as pprof).
    blocksize = np.where(inuse_n != 0, _div_trunc(inuse_b, inuse_n), _div_trunc(alloc_b, alloc_n))
    pairs = [(alloc_n, alloc_b), (inuse_n, inuse_b)] if has_alloc else [(inuse_n, inuse_b)]
    columns = []
    for count, size in pairs:
        if scaled:
            count, size = scale_heap_sample(count, size, period)
        columns += [count, size]
    values = np.stack(columns, axis=1).astype(np.int64)

    stack_ids, stacks = _distinct_stacks([r[4] for r in rows], name)
    frames = _comment_frames(body)
    builder = _LocationBuilder(exe, frames, name)
    stack_locs = builder.build(stacks)

    depth = np.array([len(s) for s in stack_locs], dtype=np.int64)[stack_ids]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(depth, out=offsets[1:])
    flat = [loc for s in stack_locs for loc in s]
    per_stack = np.array(flat, dtype=np.int64)
    stack_start = np.zeros(len(stack_locs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in stack_locs], out=stack_start[1:])
    # Gather each sample's stack from its distinct stack: start of that stack plus 0..depth-1.
    gather = np.repeat(stack_start[stack_ids] - offsets[:-1], depth) + np.arange(offsets[-1], dtype=np.int64)
    locs = per_stack[gather] if len(per_stack) else per_stack
    dtype = np.uint16 if len(builder.locations) < 2**16 else np.uint32
    samples = Samples(
        values=values,
        loc_offsets=offsets,
        locs=locs.astype(dtype),
        num_labels={"bytes": LabelColumn(blocksize.astype(np.int64), np.ones(len(rows), dtype=bool))},
    )
    return Profile(
        sample_types=list(_FOUR_TYPES if has_alloc else _TWO_TYPES),
        samples=samples,
        locations=builder.locations,
        functions=list(builder.functions.values()),
        mappings=[builder.mapping] if builder.mapping else [],
        period_type=ValueType("space", "bytes"),
        period=period,
        drop_frames=DROP_FRAMES,
        keep_frames=KEEP_FRAMES,
        fold_inlined=builder.mapping is not None,
    )


def scale_heap_sample(count: np.ndarray, size: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Undo Poisson sampling at ``rate`` the way google/pprof's ``scaleHeapSample`` does.

    A block of ``avg`` bytes is sampled with probability ``1 - exp(-avg/rate)``; both
    numbers are divided by it and truncated to integers. Pairs with a zero count or a
    zero size become (0, 0); a rate of 1 or less means no sampling. The truncation makes
    the last bit of exp matter, hence Go's own exp (``goexp``).
    """
    count = np.asarray(count, dtype=np.int64)
    size = np.asarray(size, dtype=np.int64)
    if rate <= 1:
        zero = (count == 0) | (size == 0)
        return np.where(zero, 0, count), np.where(zero, 0, size)
    ok = (count != 0) & (size != 0)
    safe = np.where(ok, count, 1).astype(np.float64)
    avg = np.where(ok, size, 1).astype(np.float64) / safe
    scale = 1.0 / (1.0 - goexp.exp(-avg / float(rate)))
    c = np.where(ok, (count.astype(np.float64) * scale), 0.0).astype(np.int64)
    s = np.where(ok, (size.astype(np.float64) * scale), 0.0).astype(np.int64)
    return c, s


# --- header and checks -------------------------------------------------------------------------


def _header(m: re.Match[bytes], name: str) -> tuple[int, bool, int]:
    """(period, scaled, has_alloc) from the header, by google/pprof's ``parseHeapHeader`` rules."""
    period = int(m.group(6)) if m.group(6) else 0
    kind = m.group(5)
    if kind in (b"heapz_v2", b"heap_v2"):
        scaled = True
    elif kind == b"heapprofile":
        period, scaled = 1, False
    elif kind == b"heap":
        # The Go runtime writes 2*MemProfileRate for old C++ pprof's sake.
        period, scaled = period // 2, True
    else:
        raise ProfileError(f"{name}: line 1: unknown heap profile kind {kind.decode(errors='replace')!r}")
    g = [m.group(i) for i in range(1, 5)]
    has_alloc = (g[2] != g[0] and g[2] != b"0") or (g[3] != g[1] and g[3] != b"0")
    return period, scaled, has_alloc


def _check_totals(m: re.Match[bytes], inuse_n, inuse_b, alloc_n, alloc_b, name: str) -> None:
    """The runtime's header holds the exact sums of the rows below it: a shortfall means truncation.

    (It adds 1 to the allocated bytes when they equal the in-use bytes, so that pprof
    reads four columns.)
    """
    h_inuse_n, h_inuse_b, h_alloc_n, h_alloc_b = (int(m.group(i)) for i in range(1, 5))
    s_inuse_n, s_inuse_b = int(inuse_n.sum()), int(inuse_b.sum())
    s_alloc_n, s_alloc_b = int(alloc_n.sum()), int(alloc_b.sum())
    alloc_b_ok = h_alloc_b == s_alloc_b or (h_alloc_b == s_alloc_b + 1 and s_alloc_b == s_inuse_b)
    for what, header_value, rows_value, ok in (
        ("in-use objects", h_inuse_n, s_inuse_n, h_inuse_n == s_inuse_n),
        ("in-use bytes", h_inuse_b, s_inuse_b, h_inuse_b == s_inuse_b),
        ("allocated objects", h_alloc_n, s_alloc_n, h_alloc_n == s_alloc_n),
        ("allocated bytes", h_alloc_b, s_alloc_b, alloc_b_ok),
    ):
        if not ok:
            raise ProfileError(
                f"{name}: line 1 counts {header_value} {what} but the samples add up to {rows_value}: "
                "the profile is truncated or was edited"
            )


def _first_bad_line(body: bytes) -> str:
    """Describe the first line that is neither blank, a comment, nor a sample (slow path, errors only)."""
    for i, line in enumerate(body.split(b"\n"), start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        if not _SAMPLE_RE.match(line):
            shown = stripped[:60].decode("utf-8", "replace")
            return f"line {i}: not a heap sample ('N: N [N: N] @ 0xPC ...'): {shown!r}"
    return "malformed heap sample line"


def _sample_line(body: bytes, index: int) -> int:
    for i, m in enumerate(_SAMPLE_RE.finditer(body)):
        if i == index:
            return body.count(b"\n", 0, m.start()) + 2
    return 0


def _div_trunc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Go's integer division (truncating toward zero), 0 where ``b`` is 0."""
    safe = np.where(b == 0, 1, b)
    q = np.abs(a) // np.abs(safe) * np.sign(a) * np.sign(safe)
    return np.where(b == 0, 0, q)


# --- stacks and symbols ----------------------------------------------------------------------


def _distinct_stacks(texts: list[bytes], name: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Sample -> distinct-stack index, and each distinct stack as a tuple of PCs (return addresses)."""
    index: dict[bytes, int] = {}
    ids = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    stacks = []
    for text in index:
        pcs = tuple(int(tok, 16) for tok in text.split())
        if any(pc >= 1 << 64 for pc in pcs):
            raise ProfileError(f"{name}: a PC does not fit in 64 bits")
        stacks.append(pcs)
    return ids, stacks


def _comment_frames(body: bytes) -> dict[int, tuple[str, str, int] | None]:
    """PC (as printed: the call, i.e. return address - 1) -> (function, file, line) from the comment lines."""
    out: dict[int, tuple[str, str, int] | None] = {}
    for pc, func, file, line in _COMMENT_FRAME_RE.findall(body):
        key = int(pc, 16)
        if key in out:
            continue
        out[key] = (func.decode("utf-8", "replace"), file.decode("utf-8", "replace"), int(line)) if func else None
    return out


def print_name(name: str) -> str:
    """A function name as the runtime prints it: generic shapes shown as ``[...]`` (``funcNameForPrint``)."""
    i = name.find("[")
    j = name.rfind("]")
    if i < 0 or j <= i:
        return name
    return name[:i] + "[...]" + name[j + 1 :]


class _LocationBuilder:
    """One ``Location`` per physical PC; with the executable, inlined frames become its Lines.

    The runtime's tracebacks (``tracebackPCs``) list a "virtual" return PC for every
    frame an inlined call is nested in (call site + 1). Symbolizing through the inline
    tree yields those frames already, so such PCs are folded into the location of the
    PC they belong to, as the runtime's own proto writer does.
    """

    def __init__(self, exe: str | None, comments: dict[int, tuple[str, str, int] | None], name: str) -> None:
        self.exe = exe
        self.comments = comments
        self.name = name
        self.locations: list[Location] = []
        self.functions: dict[tuple[str, str, int], Function] = {}
        self.mapping: Mapping | None = None
        self._loc_of_pc: dict[int, int] = {}
        self._frames: dict[int, tuple] = {}

    def _function(self, fname: str, file: str, start_line: int = 0) -> Function:
        key = (fname, file, start_line)
        f = self.functions.get(key)
        if f is None:
            f = Function(id=len(self.functions) + 1, name=fname, system_name=fname, filename=file, start_line=start_line)
            self.functions[key] = f
        return f

    def build(self, stacks: list[tuple[int, ...]]) -> list[list[int]]:
        if self.exe:
            self._symbolize({pc - 1 for s in stacks for pc in s if pc})
        out = []
        for stack in stacks:
            locs = []
            i = 0
            while i < len(stack):
                pc = stack[i]
                locs.append(self._location(pc))
                i += 1
                for outer in self._frames.get(pc - 1, ())[1:]:
                    if i < len(stack) and stack[i] == outer.pc + 1:
                        i += 1
            out.append(locs)
        return out

    def _location(self, pc: int) -> int:
        idx = self._loc_of_pc.get(pc)
        if idx is not None:
            return idx
        addr = pc - 1 if pc else 0
        lines: tuple[Line, ...] = ()
        if self.exe:
            lines = tuple(
                Line(self._function(f.function, f.file, f.start_line), f.line) for f in self._frames.get(addr, ())
            )
        else:
            frame = self.comments.get(addr)
            if frame:
                lines = (Line(self._function(frame[0], frame[1]), frame[2]),)
        idx = len(self.locations)
        self.locations.append(Location(id=idx + 1, address=addr, mapping=self.mapping, lines=lines))
        self._loc_of_pc[pc] = idx
        return idx

    def _symbolize(self, pcs: set[int]) -> None:
        from goinspect.symbolize.binary import open_executable

        table, mapping = open_executable(self.exe)
        self.mapping = mapping
        wanted = np.array(sorted(pcs | set(self.comments)), dtype=np.int64)
        frames = table.frames(wanted)
        for pc in pcs:
            if pc not in frames:
                raise ProfileError(
                    f"profile {self.name} was not written by {self.exe}: PC {pc:#x} lies outside every function of the binary"
                )
        for pc, frame in self.comments.items():
            if frame is None:
                continue
            got = frames.get(pc)
            if got is None:
                raise ProfileError(
                    f"profile {self.name} was not written by {self.exe}: PC {pc:#x} is {frame[0]} in the profile "
                    "but outside every function in the binary"
                )
            names = [print_name(f.function) for f in got]
            if frame[0] not in names:
                raise ProfileError(
                    f"profile {self.name} was not written by {self.exe}: PC {pc:#x} is {frame[0]} in the profile "
                    f"but {names[0]} in the binary"
                )
        self._frames = frames
