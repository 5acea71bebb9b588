"""Which map or slice made each allocation: map buckets, map header, slice growth, slice make, other.

Two kinds of evidence, best first:

1. **Runtime frames.** ``?debug=1`` profiles symbolized with ``--exe`` (and profiles
   that keep ``internal/runtime/maps.*``, like Pyroscope's) still carry the runtime
   functions above the user's code. ``RUNTIME_KINDS`` lists which runtime function
   allocates what, read from ``runtime/map.go`` (classic), ``internal/runtime/maps``
   (Swiss) and ``runtime/slice.go``. Go ≤ 1.25 records stacks without the
   allocator's direct caller (``growslice``/``makeslice``/``newobject`` are skipped),
   so there a slice allocation shows no runtime frame at all; map functions still do.
2. **Block sizes and the source line.** A proto heap profile drops the leading
   runtime frames; each sample still carries its block size (label ``bytes``).
   Repeated appends walk the growslice ladder, classic maps allocate bucket arrays
   along a power-of-two ladder, Swiss maps group arrays up to 128 groups and then
   equal 1024-slot tables (``goinspect.model``). The leaf source line (``append(``,
   ``make(map``, ``make([]``, ``m[k] = v``) says which ladder to expect.

Pure: source text comes in through a callable ``read_source(file, line) -> str | None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from goinspect.model import classicmap, slices, swissmap
from goinspect.model.sizeclasses import for_version
from goinspect.model.version import NEWEST, GoVersion, generated_release
from goinspect.profile.model import Profile

KINDS = ("map-buckets", "map-header", "slice-growth", "slice-make", "other")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}

ReadSource = Callable[[str, int], "str | None"]

# --- evidence 1: runtime frames -------------------------------------------------------------
# Frames between mallocgc and the function that decided to allocate: never evidence themselves.
_PLUMBING_PREFIXES = ("runtime.mallocgc", "runtime.newobject", "runtime.newarray", "runtime.profilealloc",
                      "runtime.mProf_Malloc", "internal/runtime/maps.newarray", "internal/runtime/maps.newobject",
                      "runtime.(*mcache)", "runtime.nextFree")

#: Runtime function -> what the memory it allocates (directly, or through the plumbing) is.
RUNTIME_KINDS: dict[str, str] = {
    # Classic maps, runtime/map.go (Go <= 1.23; map_noswiss.go in 1.24/1.25 with GOEXPERIMENT=noswissmap).
    "runtime.makemap_small": "map-header",  # new(hmap)
    "runtime.makemap": "map-header",  # new(hmap), new(mapextra); Swiss: via maps.NewMap
    "runtime.makemap64": "map-header",
    "runtime.reflect_makemap": "map-header",
    "runtime.hashGrow": "map-header",  # new(mapextra); its bucket array comes through makeBucketArray
    "runtime.(*hmap).createOverflow": "map-header",  # new(mapextra), new([]*bmap)
    "runtime.makeBucketArray": "map-buckets",
    "runtime.(*hmap).newoverflow": "map-buckets",  # one overflow bucket (and the extra.overflow list)
    "runtime.mapassign": "map-buckets",  # B = 0: the first bucket, allocated lazily
    "runtime.mapassign_fast32": "map-buckets",
    "runtime.mapassign_fast32ptr": "map-buckets",
    "runtime.mapassign_fast64": "map-buckets",
    "runtime.mapassign_fast64ptr": "map-buckets",
    "runtime.mapassign_faststr": "map-buckets",
    "runtime.mapclone2": "map-buckets",
    "runtime.moveToBmap": "map-buckets",
    # Swiss maps, internal/runtime/maps (Go >= 1.24).
    "internal/runtime/maps.NewEmptyMap": "map-header",  # new(Map)
    "internal/runtime/maps.NewMap": "map-header",  # new(Map); its directory/tables come through makeslice/newTable
    "internal/runtime/maps.newTable": "map-buckets",  # &table{}
    "internal/runtime/maps.(*table).reset": "map-buckets",
    "internal/runtime/maps.newGroups": "map-buckets",  # the group array
    "internal/runtime/maps.(*Map).growToSmall": "map-buckets",
    "internal/runtime/maps.(*Map).growToTable": "map-buckets",  # table + directory
    "internal/runtime/maps.(*table).rehash": "map-buckets",
    "internal/runtime/maps.(*table).grow": "map-buckets",
    "internal/runtime/maps.(*table).split": "map-buckets",
    "internal/runtime/maps.(*Map).installTableSplit": "map-buckets",  # the doubled directory
    "internal/runtime/maps.(*Map).Clone": "map-buckets",
    "internal/runtime/maps.(*table).clone": "map-buckets",
    # Keys/elems over 128 bytes live outside the slots (newobject per entry): entry storage, not growth.
    "internal/runtime/maps.(*Map).putSlotSmall": "other",
    "internal/runtime/maps.(*Map).PutSlot": "other",
    "internal/runtime/maps.(*table).PutSlot": "other",
    "internal/runtime/maps.cloneGroup": "other",
    # Slices, runtime/slice.go.
    "runtime.growslice": "slice-growth",
    "runtime.growsliceNoAlias": "slice-growth",
    "runtime.growsliceBuf": "slice-growth",  # 1.26+: stack buffer first, heap growslice after
    "runtime.growsliceBufNoAlias": "slice-growth",
    "runtime.moveSlice": "slice-growth",  # 1.26+: an appended-to stack buffer copied to the heap
    "runtime.moveSliceNoScan": "slice-growth",
    "runtime.moveSliceNoCap": "slice-growth",
    "runtime.moveSliceNoCapNoScan": "slice-growth",
    "reflect.growslice": "slice-growth",
    "runtime.reflect_growslice": "slice-growth",
    "runtime.makeslice": "slice-make",
    "runtime.makeslice64": "slice-make",
    "runtime.makeslicecopy": "slice-make",
    "runtime.bytealg_MakeNoZero": "slice-make",
}


def is_runtime(function: str) -> bool:
    """Frames runtime/pprof drops from the top of a heap sample (``internal/runtime/`` since 1.24)."""
    return function.startswith(("runtime.", "internal/runtime/"))


def kind_from_frames(runtime_frames: list[str]) -> str | None:
    """Kind from the runtime frames above the user's code, leaf first; None when they say nothing.

    The first frame that is not allocator plumbing decides. A slice made *by the map
    implementation* (the Swiss directory, the classic ``extra.overflow`` list) is map structure.
    """
    kind = None
    for f in runtime_frames:
        if f.startswith(_PLUMBING_PREFIXES):
            continue
        k = RUNTIME_KINDS.get(f)
        if kind is None:
            if k is None:
                return "other"  # the runtime allocating for itself (a sudog, a goroutine, …)
            if k.startswith("map") or k == "other":
                return k
            kind = k
        elif k is not None and k.startswith("map"):
            return "map-buckets"
    return kind


# --- evidence 2: block-size ladders and the source line --------------------------------------
_APPEND = re.compile(r"\bappend\s*\(")
_MAKE_MAP = re.compile(r"\bmake\s*\(\s*map\[|\bmap\[[^\]]+\][^{}()\s]+\s*\{")
_MAKE_SLICE = re.compile(r"\bmake\s*\(\s*\[\]")
_INDEX_ASSIGN = re.compile(r"\w\s*\[[^\]]+\]\s*(?:=(?!=)|\+=|-=|\*=|/=|\|=|&=|\+\+|--)")
_NEW_OBJECT = re.compile(r"&\s*[\w.]+\s*\{|\bnew\s*\(")
# A ladder found without a source line needs this many steps: two sizes fit some ladder by chance.
MIN_STEPS_WITHOUT_LINE = 3
_MAX_LADDER = 1 << 31


def line_hint(text: str | None) -> str | None:
    """What an allocating source line does: 'append', 'make-map', 'make-slice', 'map-assign', 'new-object' or None."""
    if not text:
        return None
    code = text.split("//", 1)[0]
    if _MAKE_MAP.search(code):
        return "make-map"
    if _APPEND.search(code):
        return "append"
    if _MAKE_SLICE.search(code):
        return "make-slice"
    if _INDEX_ASSIGN.search(code):
        return "map-assign"
    if _NEW_OBJECT.search(code):
        return "new-object"
    return None


# Element sizes tried for append ladders: every size up to 256 bytes, then multiples of 8 up to 2 KiB
# (bigger elements are structs, whose size is a multiple of their 8-byte alignment).
_ELEM_SIZES = (*range(1, 257), *range(264, 2049, 8))


@lru_cache(maxsize=16)
def _slice_ladders(version: GoVersion) -> dict[tuple[int, bool], frozenset[int]]:
    """Block sizes of one-at-a-time appends, for each candidate element size, pointer-free or not."""
    return {(e, noscan): frozenset(slices.append_block_sizes(_MAX_LADDER, e, noscan, version))
            for e in _ELEM_SIZES for noscan in (True, False)}


@lru_cache(maxsize=16)
def _map_ladders(version: GoVersion) -> tuple[dict[tuple[int, bool], frozenset[int]], frozenset[int]]:
    """Per bucket/group size: the block sizes a growing map allocates; and the layout's small side blocks."""
    sc = for_version(version)
    ladders: dict[tuple[int, bool], frozenset[int]] = {}
    # The smallest real unit is 24 bytes (a 1-byte key, no elem): a zero-size key holds one entry and never grows.
    if version.swiss_maps:
        for gsize in range(24, 8 + 8 * 2 * 136 + 1, 8):
            for noscan in (True, False):
                gt = swissmap.GroupType.of_size(gsize, noscan)
                ladders[(gsize, noscan)] = frozenset(swissmap.group_array_ladder(gt, version))
        aux = {swissmap.header_block(version), swissmap.table_block(version)}
        aux |= {swissmap.directory_block(1 << d, version) for d in range(0, 21)}
    else:
        for bsize in range(24, 8 + 8 * 2 * 128 + 8 + 1, 8):
            for noscan in (True, False):
                bt = classicmap.BucketType.of_size(bsize, noscan)
                ladders[(bsize, noscan)] = frozenset(classicmap.bucket_ladder(bt, _MAX_LADDER, version))
        aux = {classicmap.header_block(version), sc.block_size(classicmap.MAPEXTRA_SIZE, False)}
        aux |= set(slices.append_block_sizes(1 << 20, 8, False, version))  # extra.overflow []*bmap
    return ladders, frozenset(aux)


@dataclass(frozen=True, slots=True)
class LadderFit:
    """The growth ladders that explain a site's block sizes best."""

    slice_elem: int | None  # element size whose append ladder explains the most sizes
    slice_hits: int
    map_unit: int | None  # bucket (classic) / group (Swiss) size whose ladder explains the most sizes
    map_hits: int  # sizes on that ladder, the layout's side blocks (header, directory, …) included
    map_core_hits: int  # sizes on the ladder itself
    slice_ladder: frozenset[int] = frozenset()
    map_ladder: frozenset[int] = frozenset()


def _contiguous(found: set[int], ladder: frozenset[int]) -> bool:
    """Every ladder step between the smallest and largest size found was seen (a complete, rate-1 profile)."""
    steps = sorted(ladder)
    lo, hi = steps.index(min(found)), steps.index(max(found))
    return all(x in found for x in steps[lo:hi + 1])


def fit_ladders(sizes: set[int], version: GoVersion, complete: bool = False) -> LadderFit:
    """Which growth ladders could have produced this set of block sizes.

    A ladder must hold at least two of the sizes, and the sizes off it must be few: the runtime
    charges its own small allocations (a GC assist's sudog, …) to whatever line was running,
    so a fifth of the sizes (at least two) may be strays. Map ladders also accept the layout's
    side blocks (header, mapextra, the classic overflow list, Swiss tables and directories).
    With ``complete`` (a MemProfileRate=1 profile records every allocation) a ladder must have
    no missing step between the smallest and largest size it explains.
    Ties go to the ladder whose first step is the smallest size seen, then the smaller unit.
    """
    tol = max(2, len(sizes) // 5)

    def best_of(ladders: dict, aux: frozenset[int]) -> tuple[int | None, int, int, frozenset[int]]:
        smallest = min(sizes - aux or sizes)
        best: tuple[tuple[int, int, bool], int, frozenset[int]] | None = None
        for (unit, _), lad in ladders.items():
            on = sizes & lad
            if len(on) < 2 or len(sizes - lad - aux) > tol:
                continue
            if complete and not _contiguous(on, lad):
                continue
            score = (len(on | (sizes & aux)), len(on), min(lad) == smallest)
            if best is None or score > best[0]:
                best = (score, unit, lad)
        if best is None:
            return None, 0, 0, frozenset()
        return best[1], best[0][0], best[0][1], best[2]

    s_unit, s_hits, _, s_lad = best_of(_slice_ladders(version), frozenset())
    ladders, aux = _map_ladders(version)
    m_unit, m_hits, m_core, m_lad = best_of(ladders, aux)
    return LadderFit(s_unit, s_hits, m_unit, m_hits, m_core, s_lad, m_lad)


# --- per sample and per site -------------------------------------------------------------------
@dataclass(slots=True)
class Site:
    """A leaf user frame: the place the program allocated, and what it allocated there."""

    function: str
    file: str
    line: int
    kind: str
    evidence: str
    bytes: int = 0  # of the chosen sample type
    objects: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # bytes per kind at this site
    block_sizes: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"function": self.function, "file": self.file, "line": self.line, "kind": self.kind,
                "evidence": self.evidence, "bytes": self.bytes, "objects": self.objects,
                "kinds": self.kinds, "block_sizes": self.block_sizes}


@dataclass(slots=True)
class Attribution:
    codes: np.ndarray  # (samples,) int8 index into KINDS
    sites: list[Site]
    version: GoVersion
    version_note: str

    @property
    def kinds(self) -> np.ndarray:
        """Per-sample kind names (an object array; ``codes`` is the compact form)."""
        return np.asarray(KINDS, dtype=object)[self.codes]


def _value_columns(profile: Profile, sample_index: str | None) -> tuple[int, int]:
    """(bytes column, objects column): the chosen ``*_space`` type (default alloc_space) and its ``*_objects`` twin.

    Choosing an ``*_objects`` type picks the same pair. Profiles without that naming use one column for both.
    """
    types = [t.type for t in profile.sample_types]
    if sample_index is None and "alloc_space" in types:
        sample_index = "alloc_space"
    name = types[profile.sample_index(sample_index)]
    stem = name.removesuffix("_space").removesuffix("_objects")
    space = types.index(f"{stem}_space") if f"{stem}_space" in types else types.index(name)
    objects = types.index(f"{stem}_objects") if f"{stem}_objects" in types else space
    return space, objects


def attribute(profile: Profile, go_version: str | GoVersion | None = None,
              read_source: ReadSource | None = None, sample_index: str | None = None,
              version_from: str = "as given") -> Attribution:
    """Label every sample of a heap profile with a kind, and summarize per allocation site.

    ``go_version`` picks the runtime's rules (map layout, size ladders); without it the newest
    modelled release is assumed; ``version_note`` says which and why (``version_from``). ``sample_index`` picks the
    values summed per site (default alloc_space with alloc_objects).
    """
    version = GoVersion.parse(go_version)
    layout = "Swiss maps" if version.swiss_maps else "classic maps"
    note = (f"Go {version} {version_from} ({layout}; size classes of go{generated_release(version)})"
            if go_version is not None
            else f"no Go version given: assumed the newest modelled release, Go {NEWEST} ({layout}); use --go to say")
    samples = profile.samples
    n = len(samples)
    bcol, ocol = _value_columns(profile, sample_index)
    size_col = samples.num_labels.get("bytes")
    sizes = size_col.values if size_col is not None else np.zeros(n, dtype=np.int64)
    has_size = size_col.present if size_col is not None else np.zeros(n, dtype=bool)
    # At MemProfileRate=1 every allocation is recorded, so a growth ladder shows every step.
    complete = profile.period == 1

    site_keys, site_of, codes = _locate(profile)
    by_frames = codes >= 0
    codes[~by_frames] = KIND_CODE["other"]

    sites: list[Site] = []
    vals = samples.values
    order = np.argsort(site_of, kind="stable")
    bounds = np.searchsorted(site_of[order], np.arange(len(site_keys) + 1))
    for sid, (fn, file, line) in enumerate(site_keys):
        idx = order[bounds[sid]:bounds[sid + 1]]
        evidence = ["runtime frames"] if by_frames[idx].any() else []
        rest = idx[~by_frames[idx]]
        if len(rest):
            hint = line_hint(read_source(file, line) if (read_source and file and line) else None)
            site_sizes = {int(x) for x in sizes[rest][has_size[rest]]}
            kinds, why = _classify_by_size(site_sizes, hint, version, complete)
            evidence.append(why)
            rest_sizes = np.where(has_size[rest], sizes[rest], -1)
            uniq, inverse = np.unique(rest_sizes, return_inverse=True)
            default = kinds.get(-1, "other")
            codes[rest] = np.array([KIND_CODE[kinds.get(int(u), default)] for u in uniq], dtype=np.int8)[inverse]
        present = np.bincount(codes[idx], minlength=len(KINDS)) > 0
        totals = np.bincount(codes[idx], weights=vals[idx, bcol], minlength=len(KINDS))
        per_kind = {KINDS[k]: int(totals[k]) for k in np.argsort(-totals, kind="stable") if present[k]}
        sites.append(Site(fn, file, line, next(iter(per_kind), "other"), "; ".join(evidence),
                          int(vals[idx, bcol].sum()), int(vals[idx, ocol].sum()), per_kind,
                          sorted({int(x) for x in sizes[idx][has_size[idx]]})))
    sites.sort(key=lambda st: -st.bytes)
    return Attribution(codes, sites, version, note)


def _locate(profile: Profile) -> tuple[list[tuple[str, str, int]], np.ndarray, np.ndarray]:
    """Each sample's site (first user frame) and the kind its runtime frames give (-1: none).

    Returns the site keys (function, file, line), the site index per sample and the kind code per sample.
    """
    samples = profile.samples
    n = len(samples)
    # Per location: its function names (inlined frames expanded, callee first), and its first user frame.
    loc_funcs = [tuple(ln.function.name for ln in loc.lines) for loc in profile.locations]
    loc_user = [next((j for j, fn in enumerate(fns) if not is_runtime(fn)), -1) for fns in loc_funcs]
    is_user_loc = np.array([u >= 0 for u in loc_user] + [False], dtype=bool)
    user_idx = np.array(loc_user + [-1], dtype=np.int64)

    offs = samples.loc_offsets
    locs = samples.locs  # kept in its compact dtype: a widened copy would cost 8 bytes per frame
    # Position of each sample's first location holding a user frame; -1: all runtime.
    # A proto heap profile starts every stack at a user frame, so only other stacks are walked.
    starts = offs[:-1]
    depth = offs[1:] - starts
    first = np.where(depth > 0, starts, -1)
    if len(locs):
        walk = np.flatnonzero((depth > 0) & ~is_user_loc[locs[np.minimum(starts, len(locs) - 1)]])
        for i in walk.tolist():
            first[i] = next((j for j in range(int(starts[i]), int(offs[i + 1])) if is_user_loc[locs[j]]), -1)

    # Sites: one lookup per distinct leaf location, not per sample.
    keys: dict[tuple[str, str, int], int] = {}
    leaf_loc = np.where(first >= 0, locs[np.maximum(first, 0)].astype(np.int64) if len(locs) else -1, -1)
    uniq_leaf, inv = np.unique(leaf_loc, return_inverse=True)
    ids = []
    for u in uniq_leaf.tolist():
        if u < 0:
            key = ("(runtime)", "", 0)
        else:
            ln = profile.locations[u].lines[loc_user[u]]
            key = (ln.function.name, ln.function.filename, ln.line)
        ids.append(keys.setdefault(key, len(keys)))
    site_of = np.array(ids, dtype=np.int64)[inv] if n else np.zeros(0, dtype=np.int64)

    # Runtime frames above the site (symbolized ?debug=1, Pyroscope-style profiles, or runtime code
    # inlined into the leaf location): only the samples that have any need a look.
    codes = np.full(n, -1, dtype=np.int8)
    head_cache: dict[tuple[int, ...], int] = {}
    for i in np.flatnonzero((first != starts) | (user_idx[leaf_loc] > 0)).tolist():
        end = first[i] + 1 if first[i] >= 0 else offs[i + 1]
        head = tuple(locs[offs[i]:end].tolist())
        if head not in head_cache:
            rt = [fn for loc in head for fn in (loc_funcs[loc] if loc_user[loc] < 0 else loc_funcs[loc][:loc_user[loc]])]
            kind = kind_from_frames(rt)
            head_cache[head] = -1 if kind is None else KIND_CODE[kind]
        codes[i] = head_cache[head]
    return list(keys), site_of, codes


def _classify_by_size(sizes: set[int], hint: str | None, version: GoVersion,
                      complete: bool) -> tuple[dict[int, str], str]:
    """Kind per block size at one site (key -1: the kind for samples without a size), and why."""
    if not sizes:
        kind = {"append": "slice-growth", "make-slice": "slice-make", "make-map": "map-header"}.get(hint or "", "other")
        return {-1: kind}, f"source line ({hint})" if hint else "no size label, no runtime frames"
    fit = fit_ladders(sizes, version, complete)
    layout = "Swiss group" if version.swiss_maps else "classic bucket"
    _, aux = _map_ladders(version)
    map_sizes = fit.map_ladder | aux
    header = swissmap.header_block(version) if version.swiss_maps else classicmap.header_block(version)
    if hint == "append":
        how = (f"fits the append ladder of {fit.slice_elem}-byte elements" if fit.slice_elem
               else "is off the one-at-a-time append ladder")
        return {-1: "slice-growth", **{s: "slice-growth" for s in sizes}}, f"source line (append); size ladder {how}"
    if hint == "make-slice":
        return {-1: "slice-make", **{s: "slice-make" for s in sizes}}, "source line (make([]…))"
    if hint == "make-map":
        small = {header}
        if not version.swiss_maps:
            small.add(for_version(version).block_size(classicmap.MAPEXTRA_SIZE, False))
        return ({-1: "map-buckets", **{s: ("map-header" if s in small else "map-buckets") for s in sizes}},
                f"source line (make(map)); {header}-byte blocks are the map header")
    if hint == "new-object":
        return {-1: "other", **{s: "other" for s in sizes}}, "source line (&T{…} / new)"
    if hint == "map-assign":
        if fit.map_unit is not None:
            return ({-1: "other", **{s: ("map-buckets" if s in map_sizes else "other") for s in sizes}},
                    f"source line (map assignment); size ladder fits {layout} size {fit.map_unit}")
        return ({-1: "other", **{s: "other" for s in sizes}},
                "source line (map assignment) but the sizes are off every map ladder")
    # No source line: the ladder alone. One size is a constant-size object; a ladder needs steps.
    if len(sizes) < 2:
        return {-1: "other", **{s: "other" for s in sizes}}, f"size ladder: one block size ({next(iter(sizes))} B), no growth"
    # More sizes explained wins; on a tie, the ladder that needs no side blocks (a slice's) wins.
    map_score = (fit.map_hits, fit.map_core_hits)
    slice_score = (fit.slice_hits, fit.slice_hits)
    if max(fit.map_core_hits, fit.slice_hits) < MIN_STEPS_WITHOUT_LINE:
        return {s: "other" for s in sizes}, f"size ladder: only {max(fit.map_core_hits, fit.slice_hits, 1)} growth step(s), too few to tell"
    if fit.map_unit is not None and map_score > slice_score:
        return ({s: ("map-buckets" if s in map_sizes else "other") for s in sizes},
                f"size ladder fits {layout} size {fit.map_unit}"
                + (f" better than append of {fit.slice_elem}-byte elements" if fit.slice_elem else " only"))
    if fit.slice_elem is not None and slice_score > map_score:
        return ({s: ("slice-growth" if s in fit.slice_ladder else "other") for s in sizes},
                f"size ladder fits append growth of {fit.slice_elem}-byte elements"
                + (f" better than {layout} size {fit.map_unit}" if fit.map_unit else " only"))
    if fit.slice_elem is not None:
        return {s: "other" for s in sizes}, (f"size ladder ambiguous: fits append of {fit.slice_elem}-byte elements "
                                             f"and {layout} size {fit.map_unit} equally")
    return {s: "other" for s in sizes}, "size ladder fits neither slice nor map growth"
