"""goinspect maps / map / slices against live fleet programs: every figure equals the program's /truth.

Classic maps on Go 1.23.9 (header, buckets, overflow chains, the old buckets of a
grow that never finished, mapextra), Swiss maps on 1.26.6 (directory, distinct
tables, ctrl-byte census), and the heap allocation behind a tail slice.
"""

from __future__ import annotations

import os

import pytest

from goinspect.errors import InputError, UsageError
from goinspect.model.sizeclasses import for_version
from maps_truth import assert_map_matches, assert_slice_matches, by_name, run_json

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="attaching to a live process needs root (ptrace)")

#: (program, steps to advance before reading): every fleet program holding maps, at a phase that matters.
MAP_PROGRAMS = [
    ("leakmap", 3),      # growing map, overflow chains
    ("ptrfreemap", 3),   # pointer-free buckets: overflow listed in mapextra
    ("overflowmap", 4),  # made with a hint, churned: deleted slots and overflow
    ("deletedmap", 2),   # everything deleted (tombstones / emptied buckets), plus a fresh map
    ("stuckgrow", 2),    # classic: a grow stuck half-way (oldbuckets, nevacuate); Swiss: shared tables
    ("lru", 2),
    ("churn", 3),
    ("valueleak", 2),
    ("nested", 2),       # maps through a global's pointers, struct fields and an array of structs
]


@pytest.mark.parametrize("program,steps", MAP_PROGRAMS, ids=[p for p, _ in MAP_PROGRAMS])
def test_maps_equal_truth(fleet_service, go_version, program, steps):
    with fleet_service(program) as svc:
        svc.advance(steps)
        truth = svc.truth()
        out = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")
        truth_after = svc.truth()
    assert truth_after["maps"] == truth["maps"], "the program changed while idle"
    assert out["go_version"] == go_version
    assert out["map_impl"] == ("hmap" if truth["impl"] == "classic" else "swiss")
    ours = by_name(out["maps"])
    assert set(ours) == set(truth["maps"])
    for name, t in truth["maps"].items():
        assert_map_matches(ours[name], t)
    assert out["pause_seconds"] is not None and out["pause_seconds"] < 5


def test_nested_roots_follow_pointers_fields_and_arrays(fleet_service, go_version):
    """nested: main.svc -> *service -> [4]shard -> seen maps, -> *auditLog -> events slice, -> *userStore
    -> byName, which the global main.users also points to: each container once, named by the path with
    the fewest pointer loads, each equal to the program's own truth."""
    with fleet_service("nested") as svc:
        svc.advance(2)
        truth = svc.truth()
        maps = by_name(run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")["maps"])
        slices = by_name(run_json("slices", "--pid", str(svc.pid), "--filter", r"^main\.")["slices"])
    assert set(maps) == set(truth["maps"]) == {"main.users.byName", *(f"main.svc.shards[{i}].seen" for i in range(4))}
    assert set(slices) == set(truth["slices"]) == {"main.svc.audit.events"}
    for name, t in truth["maps"].items():
        assert_map_matches(maps[name], t)
    assert_slice_matches(slices["main.svc.audit.events"], truth["slices"]["main.svc.audit.events"])
    assert sum(maps[f"main.svc.shards[{i}].seen"]["count"] for i in range(4)) == 2 * truth["extra"]["per_step"]


def test_stuck_grow_old_buckets(fleet_service, go_version):
    """1.23: the grow stays half-done (reads never evacuate); the old-bucket census says so exactly."""
    with fleet_service("stuckgrow") as svc:
        svc.advance(2)
        truth = svc.truth()
        m = by_name(run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.stuck$")["maps"])["main.stuck"]
    t = truth["maps"]["main.stuck"]
    if truth["impl"] == "classic":
        w = m["hmap"]["walk"]
        assert truth["extra"]["growing"] and w["growing"]
        assert m["hmap"]["header"]["oldbuckets"] != "0x0"
        assert w["oldbuckets_count"] == t["walk"]["oldbuckets_count"] == 2 ** (t["header"]["B"] - 1)
        assert w["evacuated_old_buckets"] == t["walk"]["evacuated_old_buckets"]
        assert t["header"]["nevacuate"] <= w["evacuated_old_buckets"] < w["oldbuckets_count"]
        assert w["old_live_unevacuated"] == t["walk"]["old_live_unevacuated"] > 0
        assert w["live"] == t["len"]  # new buckets plus old ones not yet evacuated
    else:
        s = m["swiss"]
        refs = sum(tb["dir_refs"] for tb in s["tables"])
        assert refs == s["header"]["dirLen"] == t["header"]["dirLen"]
        # Each distinct table once; directory entries that share one are counted in its dir_refs
        # (whether any are shared depends on the run's hash seed).
        assert len(s["tables"]) == t["walk"]["distinct_tables"] <= s["header"]["dirLen"]
        assert all(tb["dir_refs"] == 2 ** (s["header"]["globalDepth"] - tb["localDepth"]) for tb in s["tables"])


def test_ptrfree_overflow_listed_in_mapextra(fleet_service, go_version):
    """Pointer-free buckets: every overflow bucket walked is one listed in *extra.overflow."""
    with fleet_service("ptrfreemap") as svc:
        svc.advance(3)
        truth = svc.truth()
        m = by_name(run_json("maps", "--pid", str(svc.pid), "--filter", "counters")["maps"])["main.counters"]
    if truth["impl"] != "classic":
        pytest.skip("Swiss tables have no overflow buckets")
    walked = m["hmap"]["walk"]["overflow_buckets"]
    assert walked > 0
    assert walked == m["hmap"]["mapextra"]["overflow_len"] == truth["maps"]["main.counters"]["header"]["mapextra"]["overflow_len"]
    assert m["hmap"]["header"]["noverflow"] == walked  # exact below B=16


def test_slices_tail_pins_whole_array(fleet_service, go_version):
    with fleet_service("slicepin") as svc:
        svc.advance(1)
        svc.get("/gc")
        truth = svc.truth()
        out = run_json("slices", "--pid", str(svc.pid), "--filter", r"^main\.")
    ours = by_name(out["slices"])
    assert set(ours) == set(truth["slices"])
    for name, t in truth["slices"].items():
        assert_slice_matches(ours[name], t)
    tail, copied = ours["main.tail"], ours["main.copied"]
    big = truth["extra"]["big_bytes"]
    assert tail["alloc_size_bytes"] == big  # a 64 MiB large-object span
    assert tail["offset_in_alloc"] == big - tail["cap_bytes"]
    assert copied["alloc_size_bytes"] == for_version(go_version).block_size(copied["cap_bytes"], True)
    assert copied["alloc_base"] == copied["array_addr"]


def test_entries_decode_strings_and_slices(fleet_service, go_version):
    """valueleak: map[string][]byte -- every key is a tenant name; lens and caps sum to the program's totals."""
    with fleet_service("valueleak") as svc:
        svc.advance(3)
        truth = svc.truth()
        out = run_json("map", "main.tenants", "--pid", str(svc.pid), "--entries", "1000")
    m = out["maps"][0]
    entries = m["entries"]
    assert len(entries) == truth["maps"]["main.tenants"]["len"]
    assert sorted(e["key"] for e in entries) == [f"tenant-{i:02d}" for i in range(len(entries))]
    assert sum(e["elem"]["len"] for e in entries) == truth["extra"]["value_len_total"]
    assert sum(e["elem"]["cap"] for e in entries) == truth["extra"]["value_cap_total"]


def test_entries_bounded_and_typed(fleet_service, go_version):
    """stuckgrow stores stuck[k] = 3k: decoded ints prove the key/elem offsets (old buckets included)."""
    with fleet_service("stuckgrow") as svc:
        svc.advance(1)
        inserted = svc.truth()["extra"]["inserted"]
        few = run_json("map", "main.stuck", "--pid", str(svc.pid), "--entries", "7")["maps"][0]["entries"]
        every = run_json("map", "main.stuck", "--pid", str(svc.pid), "--entries", str(10**6))["maps"][0]["entries"]
    assert len(few) == 7
    assert len(every) == inserted
    assert sorted(e["key"] for e in every) == list(range(inserted))
    assert all(e["elem"] == 3 * e["key"] for e in every)


def test_noswissmap_build_reads_as_classic(fleet_service, go_version):
    """Go 1.24/1.25 built with GOEXPERIMENT=noswissmap: classic maps, detected from the types (runs with --go-all)."""
    if go_version.split(".")[:2] not in (["1", "24"], ["1", "25"]):
        pytest.skip("GOEXPERIMENT=noswissmap exists only in Go 1.24 and 1.25")
    with fleet_service("stuckgrow", goexperiment="noswissmap") as svc:
        svc.advance(2)
        truth = svc.truth()
        out = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")
    assert truth["impl"] == "classic" and out["map_impl"] == "hmap"
    ours = by_name(out["maps"])
    for name, t in truth["maps"].items():
        assert_map_matches(ours[name], t)
    assert "clearSeq" in ours["main.stuck"]["hmap"]["header"]  # 1.24's hmap field, read because DWARF has it


@pytest.mark.parametrize("argv,error,words", [
    ((), UsageError, "exactly one target"),
    (("--core", "/nonexistent.core"), UsageError, "--exe"),
    (("--pid", "1", "--core", "c", "--exe", "e"), UsageError, "exactly one target"),
    (("--pid", "999999999"), InputError, "does not exist"),
    (("--pid", "1", "--filter", "("), UsageError, "regular expression"),
    (("--pid", "1", "--entries", "-1"), UsageError, "--entries"),
])
def test_bad_command_lines(argv, error, words):
    with pytest.raises(error) as exc:
        run_json("maps", *argv)
    message = str(exc.value)
    assert words in message and "\n" not in message


def test_unknown_map_name(fleet_service, go_version):
    with fleet_service("leakmap") as svc:
        with pytest.raises(InputError, match="no map named 'main.nope'"):
            run_json("map", "main.nope", "--pid", str(svc.pid))
        assert svc.truth()["maps"]["main.sessions"]["len"] == 0  # the target is left running


def test_struct_field_roots_through_pointers(fleet_service, go_version):
    """Roots inside global structs, also through a pointer: time.Local is &localLoc, so time.Local.zone
    and time.localLoc.zone are one slice header -- reported once, under the path with no pointer load."""
    with fleet_service("leakmap") as svc:
        out = run_json("slices", "--pid", str(svc.pid), "--filter", r"^time\.(Local|localLoc)\.zone$")
    s = by_name(out["slices"])
    assert set(s) == {"time.localLoc.zone"}
