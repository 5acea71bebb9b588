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
from dataclasses import dataclass, replace

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
_SAMPLE_LINE_RE = re.compile(rb"(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] @((?:[ \t]+0x[0-9a-f]+)*)[ \t]*\r?")
_SAMPLE_HEAD_RE = re.compile(rb"(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] @")
_CONTENT_START_RE = re.compile(rb"\n[^#\n]")  # a line that is neither a comment nor blank
_COMMENT_FRAME_RE = re.compile(
    rb"^[ \t]*#\t(0x[0-9a-f]+)(?:\t+(\S.*?)\+(0x[0-9a-f]+)\t+(.*):(\d+))?[ \t]*\r?$", re.M
)

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
    # Work on ``data`` by offsets: a MemProfileRate=1 profile can be a gigabyte, too big to copy.
    first_end = data.find(b"\n")
    first_end = len(data) if first_end < 0 else first_end
    first = data[:first_end]
    header = _HEADER_RE.match(first)
    if header is None:
        raise ProfileError(f"{name}: line 1 is not a heap profile header ('heap profile: N: N [N: N] @ heap/RATE')")
    period, scaled, has_alloc = _header(header, name)
    lo, hi = min(first_end + 1, len(data)), _memory_map_start(data, first_end)

    table = _sample_table(data, lo, hi, name)
    if not table.numbers:
        raise ProfileError(f"{name}: the profile has a header but no samples (truncated?)")
    try:
        raw = np.array(table.numbers).astype(np.int64)  # inuse_n, inuse_b, alloc_n, alloc_b
    except (OverflowError, ValueError):
        raise ProfileError(f"{name}: a sample value does not fit in 64 bits") from None
    inuse_n, inuse_b, alloc_n, alloc_b = raw.T
    for count, size, what in ((alloc_n, alloc_b, "allocation"), (inuse_n, inuse_b, "inuse")):
        bad = np.flatnonzero((count == 0) & (size != 0))
        if len(bad):
            i = int(bad[0])
            line = data.count(b"\n", 0, table.starts[i]) + 1
            raise ProfileError(f"{name}: line {line}: {what} count is 0 but {what} bytes is {int(size[i])}")
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

    try:
        pcs, offsets = _parse_stacks(table.stacks, name)
    except _BadStack as bad:
        i = bad.args[0]
        line = data.count(b"\n", 0, table.starts[i]) + 1
        shown = data[table.starts[i] : table.ends[i]][:80].decode("utf-8", "replace")
        raise ProfileError(f"{name}: line {line}: malformed stack (want ' 0xPC 0xPC ...'): {shown!r}") from None
    uniq, inverse = _unique_pcs(pcs)
    comments = _comment_frames(data, hi, table, inverse, offsets, len(uniq))
    builder = _LocationBuilder(exe, comments, name)
    locs, offsets = builder.build([int(pc) for pc in uniq], inverse.astype(np.int64), offsets)
    dtype = np.uint16 if len(builder.locations) < 2**16 else np.uint32
    samples = Samples(
        values=values,
        loc_offsets=offsets,
        locs=locs.astype(dtype),
        num_labels={"bytes": LabelColumn(blocksize.astype(np.int64), np.ones(len(values), dtype=bool))},
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


def _div_trunc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Go's integer division (truncating toward zero), 0 where ``b`` is 0."""
    safe = np.where(b == 0, 1, b)
    q = np.abs(a) // np.abs(safe) * np.sign(a) * np.sign(safe)
    return np.where(b == 0, 0, q)


# --- stacks and symbols ----------------------------------------------------------------------


@dataclass(slots=True)
class _SampleTable:
    starts: list[int]  # byte offset of each sample line
    ends: list[int]  # ... and of its end
    numbers: list[tuple[bytes, bytes, bytes, bytes]]
    stacks: list[bytes]  # the " 0xPC 0xPC ..." part


def _memory_map_start(data: bytes, start: int) -> int:
    """Where samples end: google/pprof stops at a memory map section (the Go runtime writes none)."""
    end = len(data)
    for sentinel in (b"\nMAPPED_LIBRARIES:", b"\n--- Memory map: ---"):
        i = data.find(sentinel, start, end)
        if i >= 0:
            end = i + 1
    return end


def _sample_table(data: bytes, lo: int, hi: int, name: str) -> _SampleTable:
    """Find and split every sample line.

    Fast path for the runtime's own layout: every line that is neither blank nor a
    comment must be a sample, and such lines are found by one search for a line start
    that is not ``#`` or a newline. Only the numbers are matched per line; the stacks
    are checked in bulk by ``_parse_stacks``. Anything unusual (leading blanks, CRLF)
    falls back to a line-by-line pass that names the bad line.
    """
    starts = [lo] if lo < hi and data[lo : lo + 1] not in (b"#", b"\n") else []
    starts += [m.start() + 1 for m in _CONTENT_START_RE.finditer(data, lo, hi)]
    table = _SampleTable([], [], [], [])
    for start in starts:
        m = _SAMPLE_HEAD_RE.match(data, start, hi)
        end = data.find(b"\n", start, hi)
        end = hi if end < 0 else end
        if m is None or m.end() > end:
            return _sample_table_slow(data, lo, hi, name)
        table.starts.append(start)
        table.ends.append(end)
        table.numbers.append(m.group(1, 2, 3, 4))
        table.stacks.append(data[m.end() : end])
    return table


def _sample_table_slow(data: bytes, lo: int, hi: int, name: str) -> _SampleTable:
    table = _SampleTable([], [], [], [])
    pos = lo
    for lineno, line in enumerate(data[lo:hi].split(b"\n"), start=2):
        start, pos = pos, pos + len(line) + 1
        stripped = line.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        m = _SAMPLE_LINE_RE.fullmatch(stripped)
        if m is None:
            shown = stripped[:60].decode("utf-8", "replace")
            raise ProfileError(f"{name}: line {lineno}: not a heap sample ('N: N [N: N] @ 0xPC ...'): {shown!r}")
        table.starts.append(start)
        table.ends.append(start + len(line))
        table.numbers.append(m.group(1, 2, 3, 4))
        table.stacks.append(m.group(5))
    return table


_STACK_RE = re.compile(rb"(?:[ \t]+0x[0-9a-f]+)*[ \t]*")
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


class _BadStack(Exception):
    """Sample ``args[0]`` has a stack that is not a list of 0x-prefixed hex PCs."""


def _parse_stacks(texts: list[bytes], name: str, chunk: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """All PCs of all samples as one uint64 array, and each sample's slice of it (offsets).

    Hex is decoded and checked with numpy, a chunk of samples at a time: a deep
    profile has tens of millions of PCs, too many for one Python ``int()`` each.
    """
    depth = np.fromiter((t.count(b"x") for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(depth, out=offsets[1:])
    out = np.empty(int(offsets[-1]), dtype=np.uint64)
    for lo in range(0, len(texts), chunk):
        hi = min(lo + chunk, len(texts))
        arr = np.frombuffer(b" " + b" ".join(texts[lo:hi]).replace(b"\r", b" ") + b" ", dtype=np.uint8)
        blank = (arr == 32) | (arr == 9)
        x = np.flatnonzero(arr == 120)
        digit = _HEX[arr] < 16
        first = x + 1
        blanks = np.flatnonzero(blank)
        last = blanks[np.searchsorted(blanks, first)] if len(first) else first  # one past the last digit
        ndig = last - first
        # Well formed: only blanks, hex digits and x; each x preceded by " 0", followed by 1..16 digits.
        ok = bool(np.all(blank | digit | (arr == 120)))
        if len(x):
            ok = ok and bool(np.all(arr[x - 1] == 48) and np.all(blank[x - 2]) and ndig.min() >= 1)
            ok = ok and int((~blank).sum()) == int((ndig + 2).sum())
        if not ok:
            bad = next(i for i in range(lo, hi) if not _STACK_RE.fullmatch(texts[i].replace(b"\r", b" ")))
            raise _BadStack(bad)
        if len(ndig) and int(ndig.max()) > 16:
            raise ProfileError(f"{name}: a PC has more than 16 hex digits and does not fit in 64 bits")
        # Horner's rule, one digit position at a time, over all PCs of the chunk.
        value = np.zeros(len(first), dtype=np.uint64)
        for k in range(int(ndig.max()) if len(ndig) else 0):
            live = ndig > k
            d = _HEX[arr[np.where(live, first + k, 0)]].astype(np.uint64)
            value = np.where(live, (value << np.uint64(4)) | d, value)
        out[offsets[lo] : offsets[hi]] = value
    return out, offsets


def _unique_pcs(pcs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(pcs, return_inverse=True)``, in linear time when the PCs span a small range (a binary's text)."""
    if len(pcs) == 0:
        return pcs, np.zeros(0, dtype=np.int64)
    lo, hi = int(pcs.min()), int(pcs.max())
    if hi - lo >= 1 << 27:
        uniq, inverse = np.unique(pcs, return_inverse=True)
        return uniq, inverse.astype(np.int64)
    rel = (pcs - np.uint64(lo)).astype(np.int64)
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[rel] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.uint64) + np.uint64(lo), rank[rel]


def _comment_frames(
    data: bytes, hi: int, table: _SampleTable, inverse: np.ndarray, offsets: np.ndarray, n_uniq: int
) -> dict[int, tuple[str, str, int, int] | None]:
    """PC (as printed: the call, i.e. return address - 1) -> (function, file, line, offset from entry).

    A sample's comment block is read only if its stack holds a PC no earlier block
    covered: the same PC always prints the same frame, and a MemProfileRate=1 profile
    repeats a few hundred PCs across millions of comment lines.
    """
    out: dict[int, tuple[str, str, int, int] | None] = {}
    examined = np.zeros(n_uniq, dtype=bool)
    n = len(table.starts)
    for i in range(n):
        u = inverse[offsets[i] : offsets[i + 1]]
        if examined[u].all():
            continue
        examined[u] = True
        block = data[table.ends[i] : table.starts[i + 1] if i + 1 < n else hi]
        for pc, func, off, file, line in _COMMENT_FRAME_RE.findall(block):
            key = int(pc, 16)
            if key not in out:
                out[key] = (
                    (func.decode("utf-8", "replace"), file.decode("utf-8", "replace"), int(line), int(off, 16))
                    if func
                    else None
                )
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

    def __init__(self, exe: str | None, comments: dict[int, tuple[str, str, int, int] | None], name: str) -> None:
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

    def build(self, uniq: list[int], stack: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Location indexes of all samples and their new offsets.

        ``uniq`` are the distinct PCs, ``stack`` every sample's PCs as indexes into
        ``uniq`` (sample ``i`` is ``stack[offsets[i]:offsets[i+1]]``).
        """
        if self.exe:
            self._symbolize({pc - 1 for pc in uniq if pc})
        keep = np.ones(len(stack), dtype=bool)
        if self._frames:
            keep = self._virtual_pcs_kept(uniq, stack, offsets)
        kept = stack[keep]
        loc_of = np.full(len(uniq), -1, dtype=np.int64)
        for u in np.unique(kept).tolist():
            loc_of[u] = self._location(uniq[u])
        sample_of = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
        depth = np.bincount(sample_of[keep], minlength=len(offsets) - 1)
        new_offsets = np.zeros(len(offsets), dtype=np.int64)
        np.cumsum(depth, out=new_offsets[1:])
        return loc_of[kept], new_offsets

    def _virtual_pcs_kept(self, uniq: list[int], stack: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """False where a PC is the virtual return PC of a frame the previous PC's inline tree already gives.

        After a PC, its outer (inlining) frames' ``call site + 1`` may follow in order;
        levels can be missing (the runtime elides inlined wrappers), so a following PC
        is consumed if it matches a deeper level than the last one consumed.
        """
        index_of = {pc: u for u, pc in enumerate(uniq)}
        chains: dict[int, dict[int, int]] = {}
        for u, pc in enumerate(uniq):
            outer = self._frames.get(pc - 1, ())[1:]
            chain = {index_of[f.pc + 1]: level for level, f in enumerate(outer, start=1) if f.pc + 1 in index_of}
            if chain:
                chains[u] = chain
        keep = np.ones(len(stack), dtype=bool)
        if not chains:
            return keep
        virtual = np.array(sorted({v for c in chains.values() for v in c}), dtype=np.int64)
        first = np.zeros(len(stack), dtype=bool)
        first[offsets[:-1][offsets[:-1] < len(stack)]] = True
        consumed: dict[int, tuple[int, int]] = {}  # position -> (head position, level)
        stack_list = stack
        for j in np.flatnonzero(np.isin(stack, virtual) & ~first).tolist():
            head, level = consumed.get(j - 1, (j - 1, 0))
            got = chains.get(int(stack_list[head]), {}).get(int(stack_list[j]))
            if got is not None and got > level:
                consumed[j] = (head, got)
        if consumed:
            keep[np.fromiter(consumed, dtype=np.int64, count=len(consumed))] = False
        return keep

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
        slide = self._pie_slide(table) if table.image.is_pie else 0
        self.mapping = replace(mapping, start=mapping.start + slide, limit=mapping.limit + slide)
        wanted = np.array(sorted(pcs | set(self.comments)), dtype=np.int64)
        frames = table.frames(wanted - slide)
        if slide:
            frames = {pc + slide: tuple(replace(f, pc=f.pc + slide) for f in fr) for pc, fr in frames.items()}
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
        for pc in pcs:
            if pc not in frames:
                raise ProfileError(
                    f"profile {self.name} was not written by {self.exe}: PC {pc:#x} lies outside every function of the binary"
                )
        self._frames = frames

    def _pie_slide(self, table) -> int:
        """Load bias of a position-independent executable, from the runtime's comment lines.

        The text form records no mappings, but a comment line ``0xPC func+0xOFF`` puts the
        function's entry at PC - OFF; the binary knows its link-time entry.
        """
        entries = table.entries_by_name()
        for pc, frame in self.comments.items():
            if frame is None or "[" in frame[0]:
                continue
            entry = entries.get(frame[0])
            if entry is not None:
                return pc - frame[3] - entry
        raise ProfileError(
            f"{self.exe} is a position-independent executable and profile {self.name} names none of its "
            "functions, so its load address is unknown"
        )


def pprof_view(profile: Profile) -> Profile:
    """The profile as ``go tool pprof`` sees this form: every frame named by its physical function.

    pprof symbolizes ``?debug=1`` PCs with debug/gosym, which knows no inline tree: a PC
    is named by the function whose code holds it, at the innermost file:line. The
    runtime's stacks list one virtual PC per inlined caller, so pprof's stack has one
    location per line of ours: ``(physical function, that line's file:line)``. Reports
    call this when ``profile.fold_inlined`` is set, before applying ``drop_frames``;
    the profile itself keeps the inlined functions for attribution.
    """
    if not profile.fold_inlined:
        return profile
    functions: dict[tuple[str, str], Function] = {}
    locations: list[Location] = []
    first = np.zeros(len(profile.locations), dtype=np.int64)  # first new location of each old one
    count = np.zeros(len(profile.locations), dtype=np.int64)
    for i, loc in enumerate(profile.locations):
        first[i] = len(locations)
        if not loc.lines:
            locations.append(Location(id=len(locations) + 1, address=loc.address, mapping=loc.mapping))
            count[i] = 1
            continue
        physical = loc.lines[-1].function.name
        # The runtime records no virtual PC for an inlined wrapper level (tracebackPCs
        # elides FuncIDWrapper frames), so pprof has no location for it.
        lines = loc.lines
        if len(lines) > 1 and loc.mapping is not None:
            wrappers = _wrapper_levels(loc.mapping, loc.address)
            lines = lines[:1] + tuple(ln for k, ln in enumerate(lines[1:], start=1) if k not in wrappers)
        for line in lines:
            key = (physical, line.function.filename)
            fn = functions.get(key)
            if fn is None:
                fn = functions[key] = Function(id=len(functions) + 1, name=pprof_function_name(physical),
                                               system_name=physical, filename=line.function.filename)
            locations.append(Location(id=len(locations) + 1, address=loc.address, mapping=loc.mapping,
                                      lines=(Line(fn, line.line),)))
        count[i] = len(lines)
    s = profile.samples
    n_new = count[s.locs]
    offsets = np.zeros(len(s) + 1, dtype=np.int64)
    np.cumsum(np.add.reduceat(n_new, s.loc_offsets[:-1]) if len(s.locs) else np.zeros(len(s), np.int64),
              out=offsets[1:])
    # Samples with empty stacks: reduceat repeats the next element, so fix their depth to 0.
    depth = np.diff(s.loc_offsets)
    if (depth == 0).any():
        per = np.where(depth == 0, 0, np.add.reduceat(n_new, np.minimum(s.loc_offsets[:-1], len(n_new) - 1)))
        offsets[1:] = np.cumsum(per)
    starts = np.repeat(first[s.locs], n_new)
    within = np.arange(int(n_new.sum()), dtype=np.int64) - np.repeat(np.cumsum(n_new) - n_new, n_new)
    new_locs = starts + within
    dtype = np.uint16 if len(locations) < 2**16 else np.uint32
    samples = Samples(values=s.values, loc_offsets=offsets, locs=new_locs.astype(dtype),
                      num_labels=s.num_labels, other_labels=s.other_labels)
    return replace(profile, samples=samples, locations=locations, functions=list(functions.values()),
                   fold_inlined=False)


def pprof_function_name(name: str) -> str:
    """The name pprof's symbolizer shows for a raw symbol (``internal/symbolizer``: demangleSingleFunction).

    A name with brackets looks like demangled C++ to it, so unless it has ``]).`` (a Go
    method of a generic type) its parenthesized groups and ``<...>`` groups are removed:
    ``pkg.F[go.shape.func() int]`` becomes ``pkg.F[go.shape.func int]``.
    """
    if ".<" in name or "])." in name:
        return name
    if not (any(c in name for c in "<>[]") or "::" in name):
        return name
    return _remove_matching(_remove_matching(name, "(", ")"), "<", ">")


def _remove_matching(name: str, start: str, end: str) -> str:
    """Drop every outermost ``start...end`` group, as pprof's removeMatching; unchanged on a stray ``end``."""
    nesting = first = current = 0
    while True:
        hits = [i for i in (name.find(start, current), name.find(end, current)) if i >= 0]
        if not hits:
            return name
        current = min(hits)
        if name[current] == start:
            nesting += 1
            if nesting == 1:
                first = current
        else:
            nesting -= 1
            if nesting < 0:
                return name
            if nesting == 0:
                name = name[:first] + name[current + 1 :]
                current = first - 1
        current += 1


def _wrapper_levels(mapping: Mapping, address: int) -> set[int]:
    """Inline levels (1 = the first caller) at ``address`` that are compiler-made wrappers."""
    from goinspect.symbolize.binary import open_executable

    table, linked = open_executable(mapping.file)
    at = address - (mapping.start - linked.start)  # undo a PIE load bias
    wrapper = table.wrapper_func_id
    frames = table.frames([at]).get(at, ())
    if wrapper is None:
        return {k for k, f in enumerate(frames) if k and f.file == "<autogenerated>"}
    return {k for k, f in enumerate(frames) if k and f.func_id == wrapper}
