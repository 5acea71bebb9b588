"""The map model (goinspect.model.classicmap / swissmap) against real maps: testdata/model/cmd/mapstate.

The Go program reads map headers and tables through unsafe in known states (after
make(map, hint), after N inserts, around every grow, after churn and deletes, and
with B >= 16 where noverflow is sampled) and counts overflow buckets and ctrl bytes
itself. The model must reproduce the exact values, or for hash-dependent ones
(noverflow above B = 16, tables of a big Swiss map, writes that finish a grow)
contain them in its band. Go 1.23.9 and 1.26.6 always; every release with --go-all.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from goinspect.model import classicmap, sizeclasses, swissmap
from goinspect.model.version import GoVersion
from goinspect.run.build import build_program
from goinspect.run.toolchain import ALL_GO_VERSIONS, DEFAULT_GO_VERSIONS, ensure_go

MODULE = Path(__file__).resolve().parent.parent / "testdata" / "model"
VERSIONS = [pytest.param(v, id=f"go{v}") for v in DEFAULT_GO_VERSIONS] + [
    pytest.param(v, id=f"go{v}", marks=pytest.mark.allgo) for v in ALL_GO_VERSIONS if v not in DEFAULT_GO_VERSIONS
] + [
    pytest.param(f"{v}+noswissmap", id=f"go{v}-noswissmap", marks=pytest.mark.allgo)
    for v in ALL_GO_VERSIONS if v.startswith(("1.24.", "1.25."))
]
BT = classicmap.bucket_type(8, 8)  # map[int64]int64
GT = swissmap.group_type(8, 8)


def mapstate_exe(version: str) -> Path:
    release, _, experiment = version.partition("+")
    return build_program(ensure_go(release), MODULE, "./cmd/mapstate", goexperiment=experiment or None)


class State:
    def __init__(self, version: str, lines: list[dict]):
        self.version = version
        self.v = GoVersion.parse(version)
        self.layout = next(d["layout"] for d in lines if d["kind"] == "layout")
        self.lines = lines

    def of(self, kind: str) -> list[dict]:
        return [d for d in self.lines if d["kind"] == kind]


@pytest.fixture(scope="module", params=VERSIONS)
def state(request) -> State:
    out = subprocess.run([str(mapstate_exe(request.param))], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    s = State(request.param, [json.loads(line) for line in out.splitlines()])
    assert s.layout == ("swiss" if s.v.swiss_maps else "classic")
    return s


def classic_only(s: State):
    if s.layout != "classic":
        pytest.skip(f"Go {s.version} has Swiss maps")


def swiss_only(s: State):
    if s.layout != "swiss":
        pytest.skip(f"Go {s.version} has classic maps")


# --------------------------------------------------------------------------------------- classic

def test_classic_make_hint(state):
    classic_only(state)
    assert len(state.of("hint")) >= 10 and max(d["n"] for d in state.of("hint")) * BT.size > sizeclasses.MAX_ALLOC
    for d in state.of("hint"):
        b = classicmap.b_for_hint(classicmap.effective_hint(d["n"], BT), state.version)
        assert d["B"] == b, d
        # Measured by walking the preallocated overflow buckets to makeBucketArray's end marker.
        assert d["nbuckets"] == classicmap.bucket_array(b, BT, state.version).nbuckets, d
        assert d["noverflow"] == d["overflow"] == 0


def test_classic_inserts_and_exact_noverflow(state):
    classic_only(state)
    for d in state.of("inserts"):
        assert d["B"] == classicmap.b_after_inserts(d["n"], 0, state.version), d
        band = classicmap.noverflow_band(d["B"], d["overflow"])
        if d["B"] < classicmap.NOVERFLOW_EXACT_BELOW_B:
            assert band.exact and band.low == band.high == d["noverflow"], d
        else:  # Go 1.21's load factor 6 takes 200000 entries to B = 16
            assert not band.exact and band.contains(d["noverflow"]), d


def test_classic_grows_start_where_the_model_says(state):
    """Every doubling of a map grown from empty starts on the insert that takes count past the load
    threshold; the churn run's grows are same-size ones started by noverflow >= 2^min(B,15)."""
    classic_only(state)
    grows = state.of("grow")
    doubling = [g for g in grows if g["writes"] >= 0]
    final_b = classicmap.b_after_inserts(max(state.of("params")[0]["inserts"]), 0, state.version)
    assert [g["before"]["B"] for g in doubling] == list(range(0, final_b))
    for g in grows:
        before, after = g["before"], g["after"]
        kind = classicmap.grow_kind(before["count"], before["B"], before["noverflow"], state.version)
        assert kind == ("same-size" if after["sameSize"] else "double"), g
        assert after["B"] == before["B"] + (kind == "double")
        nxt = classicmap.next_write(before["count"], before["B"], before["noverflow"], version=state.version)
        assert nxt.action == f"grow-{kind}"
    for g in doubling:
        assert g["before"]["count"] == classicmap.load_threshold(g["before"]["B"], state.version)
    assert any(g["after"]["sameSize"] for g in grows), "churn produced no same-size grow"


def test_classic_writes_that_finish_a_grow(state):
    classic_only(state)
    for g in state.of("grow"):
        if g["writes"] < 0:
            continue
        a = g["after"]
        ev = classicmap.evacuation(a["B"], a["nevacuate"], a["sameSize"], a["ahead"])
        if not a["growing"]:  # the triggering write's growWork evacuated everything (1 or 2 old buckets)
            assert ev.noldbuckets <= 2 and g["writes"] == 0
            continue
        lo, hi = ev.writes_to_finish
        assert lo <= g["writes"] <= hi, g
        unknown = classicmap.evacuation(a["B"], a["nevacuate"], a["sameSize"]).writes_to_finish
        assert unknown[0] <= g["writes"] <= unknown[1]
        assert classicmap.next_write(a["count"], a["B"], a["noverflow"], True, a["nevacuate"], a["sameSize"]).action == "evacuate"


def test_classic_cleared_map_keeps_its_buckets(state):
    classic_only(state)
    (d,) = state.of("cleared")
    assert d["count"] == 0 and d["B"] == classicmap.b_after_inserts(d["n"], 0, state.version)


def test_classic_sampled_noverflow_in_band(state):
    """B >= 16: noverflow counts each overflow bucket with probability 1/2^(B-15)."""
    classic_only(state)
    sampled = state.of("sampled")
    assert {d["B"] for d in sampled} >= {17}
    for d in sampled:
        band = classicmap.noverflow_band(d["B"], d["overflow"])
        assert not band.exact and band.contains(d["noverflow"]), (d, band)
        lo, hi = classicmap.overflow_buckets_band(d["B"], d["noverflow"])
        assert lo <= d["overflow"] <= hi


# ----------------------------------------------------------------------------------------- swiss

def _check_tables(d: dict):
    for t in d["tables"] or []:
        assert swissmap.tombstones(t["capacity"], t["used"], t["growthLeft"]) == t["deleted"], (d["kind"], t)
        assert t["used"] == t["full"]
    if d["dirLen"]:
        assert sum(t["used"] for t in d["tables"]) == d["used"]
        assert d["dirLen"] == 1 << d["globalDepth"]


def test_swiss_make_hint(state):
    swiss_only(state)
    for d in state.of("hint"):
        lay = swissmap.layout_for_hint(d["n"], GT.size)
        assert (d["dirLen"], d["globalDepth"]) == (lay.dir_len, lay.global_depth), d
        fresh = None if lay.small else swissmap.table_after_make(d["n"])
        want = [] if fresh is None else [(fresh.capacity, fresh.growth_left, 0)] * lay.tables
        assert [(t["capacity"], t["growthLeft"], t["used"]) for t in d["tables"] or []] == want, d
        _check_tables(d)


def test_swiss_first_grow_after_make(state):
    swiss_only(state)
    firsts = state.of("firstgrow")
    assert firsts
    for f in firsts:
        fresh = swissmap.table_after_make(f["hint"])
        if fresh is None:
            assert f["keys"] == swissmap.SMALL_MAP_MAX + 1
            continue
        tables = swissmap.layout_for_hint(f["hint"]).tables
        if tables == 1:
            assert f["keys"] == fresh.new_keys_until_grow, f
        else:  # the first table to fill splits: hash-dependent, within these bounds
            assert fresh.new_keys_until_grow <= f["keys"] <= tables * fresh.growth_left + 1, f


def test_swiss_inserts(state):
    swiss_only(state)
    for d in state.of("inserts"):
        _check_tables(d)
        n = d["n"]
        est = swissmap.directory_estimate(n)
        tables = len(d["tables"] or [])
        if n <= swissmap.max_growth_left(swissmap.MAX_TABLE_CAPACITY):
            assert tables == est.min_tables == est.max_tables, d
            assert [t["capacity"] for t in d["tables"] or []] == ([swissmap.table_capacity_for_inserts(n)] if tables else [])
        else:
            assert est.min_tables <= tables <= est.max_tables, (n, tables, est)
            assert est.min_global_depth <= d["globalDepth"] <= est.max_global_depth, (n, d["globalDepth"], est)


def test_swiss_grow_points(state):
    """A map grown from empty: small up to 8, a 16-slot table on the 9th key, then each table doubles on
    the key after growthLeft reaches 0, and the full 1024-slot table splits on key 897."""
    swiss_only(state)
    (g,) = state.of("grows")
    model = [swissmap.SMALL_MAP_MAX + 1]
    cap = swissmap.FIRST_TABLE_CAPACITY
    while True:
        model.append(swissmap.max_growth_left(cap) + 1)
        if swissmap.grow_action(cap) == "split":
            break
        cap *= 2
    real = [x["at"] for x in g["grows"]]
    assert real[: len(model)] == model
    split = g["grows"][len(model) - 1]
    assert split["after"][:2] == [2, 2] and split["after"][2] == 2 * swissmap.MAX_TABLE_CAPACITY


def test_swiss_deletes_tombstones(state):
    swiss_only(state)
    deleted, reinserted, emptied = state.of("deleted")[0], state.of("reinserted")[0], state.of("emptied")[0]
    for d in (deleted, reinserted, emptied):
        _check_tables(d)
    assert sum(t["deleted"] for t in deleted["tables"]) > 0  # the formula is exercised, not 0 == 0
    # clear() keeps the tables (maps never shrink) and drops every tombstone.
    assert [t["capacity"] for t in emptied["tables"]] == [t["capacity"] for t in reinserted["tables"]]
    assert all(t["growthLeft"] == swissmap.max_growth_left(t["capacity"]) for t in emptied["tables"])


# ------------------------------------------------------------------------------------ type layouts

def test_bucket_and_group_layouts_equal_the_compilers(state):
    """Bucket (classic) or group (Swiss) layout of 16 K/V shapes, as the compiler's map type descriptor says."""
    from goinspect.model import gotypes

    types = state.of("maptype")
    assert len(types) >= 16
    for d in types:
        k, e = gotypes.parse(d["key"]), gotypes.parse(d["elem"])
        if state.layout == "classic":
            bt = classicmap.bucket_type(k.size, e.size, k.pointers, e.pointers)
            assert d["bucketSize"] == d["bucketTypeSize"] == bt.size, d
            assert (d["indirectKey"], d["indirectElem"], d["noscan"]) == (bt.indirect_key, bt.indirect_elem, bt.noscan), d
        else:
            gt = swissmap.group_type(k.size, e.size, k.pointers, e.pointers, k.align, e.align)
            assert (d["groupSize"], d["slotSize"], d["elemOff"]) == (gt.size, gt.slot_size, gt.elem_offset), d
            assert d["groupTypeSize"] == gt.size
            if "keysOff" in d:  # Go 1.27 describes key/elem placement; by default slots stay interleaved
                assert (d["keysOff"], d["elemsOff"], d["elemStride"]) == (
                    swissmap.CTRL_WORD, swissmap.CTRL_WORD + gt.elem_offset, gt.slot_size), d
            assert (d["indirectKey"], d["indirectElem"], d["noscan"]) == (gt.indirect_key, gt.indirect_elem, gt.noscan), d
