"""The fleet itself: each real Go program starts, advances deterministically and tells the truth.

Ground truth here comes from the Go programs (``len()``, the runtime headers
they read through unsafe, ``runtime.ReadMemStats``) and from ``go tool pprof``
of the same toolchain; nothing in these tests computes the expected answer
with goinspect code. Each program's claim (leak, retained capacity, stuck
growth, pinned array, overflow buckets, bounded LRU ...) is checked against
that truth, so a program that stops behaving as documented fails here.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess

import pytest

from conftest import FLEET_DIR, expected_map_impl, go_minor
from goinspect.run.build import build_program, go_env
from goinspect.run.process import GoService
from goinspect.run.toolchain import ensure_go

#: The programs issue 3 asks for (other helpers may add more, e.g. a benchmark program).
ISSUE_PROGRAMS = (
    "leakmap",
    "deletedmap",
    "churn",
    "stuckgrow",
    "slicepin",
    "overflowmap",
    "ptrfreemap",
    "valueleak",
    "lru",
)

MIB = 1 << 20


# -- references ---------------------------------------------------------------------


def go_pprof_top(toolchain, exe, profile_path, sample_index="inuse_space", extra=()) -> str:
    """``go tool pprof -top`` of the same toolchain: the external reference for a profile."""
    proc = subprocess.run(
        [
            str(toolchain.go), "tool", "pprof", "-top", f"-sample_index={sample_index}", *extra,
            str(exe), str(profile_path),
        ],
        env=go_env(toolchain),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def pprof_bytes(text: str) -> float:
    """'403776B' / '1.5MB' as printed by pprof -top, in bytes."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10), ("B", 1)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise AssertionError(f"not a pprof byte figure: {text!r}")


def pprof_flat(top: str, suffix: str) -> float:
    """Flat bytes of the ``pprof -top`` row whose name ends with ``suffix`` (0 if absent)."""
    for line in top.splitlines():
        if line.rstrip().endswith(suffix) and line.split() and line.split()[0][0].isdigit():
            return pprof_bytes(line.split()[0])
    return 0.0


def check_map_header(truth: dict, name: str) -> dict:
    """Cross-check one map's truth: len() vs the header read through unsafe vs a walk of its slots."""
    m = truth["maps"][name]
    assert re.fullmatch(r"0x[0-9a-f]+", m["addr"]) and m["addr"] != "0x0"
    if truth["impl"] == "classic":
        h = m["header"]
        assert h["count"] == m["len"]
        assert m["walk"]["live"] == m["len"], "live tophash slots must add up to len"
        assert m["walk"]["buckets"] == 2 ** h["B"]
        assert m["tables"] == []
        assert m["type"]["bucket_size"] == 8 + 8 * m["type"]["key_slot_size"] + 8 * m["type"]["elem_slot_size"] + 8
        if h["oldbuckets"] == "0x0":
            assert h["noverflow"] == m["walk"]["overflow_buckets"], "noverflow is exact for B < 16"
    else:
        h = m["header"]
        assert h["used"] == m["len"]
        assert m["walk"]["live"] == m["len"], "full ctrl bytes must add up to len"
        if h["dirLen"]:
            assert h["dirLen"] == 2 ** h["globalDepth"]
            assert h["globalShift"] == 64 - h["globalDepth"]
            assert sum(t["used"] for t in m["tables"]) == m["len"]
            assert sum(t["dir_refs"] for t in m["tables"]) == h["dirLen"]
            assert len({t["addr"] for t in m["tables"]}) == len(m["tables"]), "tables must be deduplicated"
            for t in m["tables"]:
                assert t["dir_refs"] == 2 ** (h["globalDepth"] - t["localDepth"])
                assert t["capacity"] == (t["groups"]["lengthMask"] + 1) * 8
                assert t["capacity"] <= 1024
                assert t["live"] == t["used"]
                # Go's own accounting: tombstones = capacity*7/8 - used - growthLeft.
                assert t["tombstones"] == t["capacity"] * 7 // 8 - t["used"] - t["growthLeft"]
        else:
            assert m["tables"] == []
    return m


def gc_truth(svc: GoService) -> dict:
    """Truth right after a full GC, so memstats heap_alloc is what is really still reachable."""
    svc.gc()
    return svc.truth()


# -- every program ------------------------------------------------------------------


@pytest.mark.parametrize("program", ISSUE_PROGRAMS)
def test_program_starts_advances_and_reports(go_version, fleet_service, program):
    with fleet_service(program) as svc:
        t0 = svc.truth()
        assert t0["go_version"] == f"go{go_version}"
        assert t0["impl"] == expected_map_impl(go_version)
        assert t0["phase"] == 0
        assert t0["maps"] or t0["slices"], "a fleet program must name at least one map or slice"
        t2 = svc.advance(2)
        assert t2["phase"] == 2
        for name in t2["maps"]:
            assert name.startswith("main.")
            check_map_header(t2, name)
        for name, s in t2["slices"].items():
            assert name.startswith("main.")
            assert 0 <= s["len"] <= s["cap"] and s["elem_size"] > 0
        again = svc.truth()
        assert {k: v for k, v in again.items() if k != "memstats"} == {
            k: v for k, v in t2.items() if k != "memstats"
        }, "/truth must not change state"
        pid = svc.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped by PID when the block ended


# -- one test per behaviour ------------------------------------------------------------


def test_leakmap_len_grows_by_steps(go_version, fleet_service):
    with fleet_service("leakmap") as svc:
        per_step = svc.truth()["extra"]["per_step"]
        t3 = svc.advance(3)
        m3 = check_map_header(t3, "main.sessions")
        assert m3["len"] == 3 * per_step
        m5 = check_map_header(svc.advance(2), "main.sessions")
        assert m5["len"] == 5 * per_step
        if t3["impl"] == "classic":
            assert m5["header"]["B"] >= m3["header"]["B"]
            assert not m3["type"]["indirect_key"] and m3["type"]["bucket_has_pointers"]
            # Pointer-holding buckets: overflow buckets are *not* listed in mapextra.
            assert m5["header"].get("mapextra", {}).get("overflow", "0x0") == "0x0"
        else:
            assert m5["walk"]["groups"] >= m3["walk"]["groups"]


def test_leakmap_heap_profile_is_read_by_go_pprof(go_version, toolchain, fleet_exe, fleet_service, fleet_site, tmp_path):
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(4)
        pb = svc.heap_profile()
        text = svc.heap_profile(debug=1)
    assert pb[:2] == b"\x1f\x8b", "the proto form is gzip-compressed"
    assert len(gzip.decompress(pb)) > 0
    assert text.startswith(b"heap profile:")
    path = tmp_path / "heap.pb.gz"
    path.write_bytes(pb)
    exe = fleet_exe("leakmap")
    top = go_pprof_top(toolchain, exe, path)
    # 4000 sessions of 64 bytes plus the map's buckets/groups are in use, attributed to main.step.
    assert pprof_flat(top, "main.step") >= 4000 * 64, top
    # Source lines are real (no -trimpath) and the two allocation sites are where the comments say.
    lines = go_pprof_top(toolchain, exe, path, sample_index="alloc_space", extra=("-lines",))
    for label in ("map_growth", "leak_value_new"):
        src, lineno = fleet_site("leakmap", label)
        assert f"{src}:{lineno}" in lines, f"{label} at {src}:{lineno} missing from:\n{lines}"


def test_deletedmap_keeps_its_buckets_after_deleting_everything(fleet_service):
    with fleet_service("deletedmap") as svc:
        full = svc.advance(1)
        fill_n = full["extra"]["fill_n"]
        before = check_map_header(full, "main.cache")
        assert before["len"] == fill_n
        svc.advance(1)
        empty = gc_truth(svc)
        after = check_map_header(empty, "main.cache")
        rebuilt = check_map_header(empty, "main.rebuilt")
        assert after["len"] == 0 and rebuilt["len"] == 0
        assert after["addr"] == before["addr"]
        if empty["impl"] == "classic":
            for field in ("B", "buckets", "noverflow"):
                assert after["header"][field] == before["header"][field], field
            assert after["walk"]["overflow_buckets"] == before["walk"]["overflow_buckets"]
            assert rebuilt["header"]["B"] == 0 and rebuilt["header"]["buckets"] == "0x0"
            retained = 2 ** after["header"]["B"] * after["type"]["bucket_size"]
        else:
            assert after["header"]["dirLen"] == before["header"]["dirLen"] > 0
            key = lambda t: (t["addr"], t["capacity"], t["groups"]["data"])  # noqa: E731
            assert sorted(map(key, after["tables"])) == sorted(map(key, before["tables"]))
            assert all(t["used"] == 0 for t in after["tables"])
            assert after["walk"]["tombstones"] > 0
            assert rebuilt["header"]["dirLen"] == 0 and rebuilt["header"]["dirPtr"] == "0x0"
            retained = after["walk"]["groups"] * after["type"]["group_size"]
        # The runtime agrees the emptied map's storage is still reachable.
        assert retained > MIB
        assert empty["memstats"]["heap_alloc"] >= retained
        # Later phases only read: nothing moves.
        idle = check_map_header(svc.advance(3), "main.cache")
        assert idle["header"] == after["header"] and idle["tables"] == after["tables"]


def test_churn_allocates_a_lot_but_in_use_stays_flat(fleet_service):
    with fleet_service("churn") as svc:
        svc.advance(5)
        early = gc_truth(svc)
        svc.advance(20)
        late = gc_truth(svc)
    x = late["extra"]
    for t in (early, late):
        assert check_map_header(t, "main.inflight")["len"] == x["window"]
        assert t["slices"]["main.batch"]["len"] == x["per_step"]
    assert late["slices"]["main.batch"]["cap"] == early["slices"]["main.batch"]["cap"]
    churned = late["memstats"]["total_alloc"] - early["memstats"]["total_alloc"]
    assert churned >= 20 * x["per_step"] * x["payload_size"]
    # In use: window payloads plus map and bookkeeping; it must not follow the churn.
    assert late["memstats"]["heap_alloc"] >= x["window"] * x["payload_size"]
    assert late["memstats"]["heap_alloc"] <= early["memstats"]["heap_alloc"] * 1.5 + MIB
    assert late["memstats"]["heap_alloc"] < churned / 4


def test_stuckgrow_oldbuckets_stay_when_writes_stop(go_version, fleet_service):
    with fleet_service("stuckgrow") as svc:
        t1 = svc.advance(1)
        m1 = check_map_header(t1, "main.stuck")
        assert m1["len"] == t1["extra"]["inserted"]
        t4 = svc.advance(3)
        m4 = check_map_header(t4, "main.stuck")
    if t1["impl"] == "swiss":
        assert go_minor(go_version) >= (1, 24)
        assert t1["extra"]["growing"] is False
        assert m1["len"] == 13 * 2**12 // 2 + 1
        return
    h = m1["header"]
    assert t1["extra"]["growing"] is True
    assert h["oldbuckets"] != "0x0"
    assert h["flags"] & 8 == 0, "a load-factor grow doubles the bucket array"
    old_count = 2 ** (h["B"] - 1)
    assert m1["walk"]["oldbuckets_count"] == old_count
    assert h["nevacuate"] < old_count
    assert m1["walk"]["evacuated_old_buckets"] < old_count
    assert m1["walk"]["old_live_unevacuated"] > m1["len"] // 2, "most entries still sit in old buckets"
    # Reads do not evacuate: the grow stays exactly where it stopped.
    assert m4["header"] == h and m4["walk"] == m1["walk"]


def test_slicepin_small_tail_pins_the_whole_array(toolchain, fleet_exe, fleet_service, tmp_path):
    with fleet_service("slicepin") as svc:
        svc.advance(2)
        t = gc_truth(svc)
        pb = svc.heap_profile()
    tail, copied = t["slices"]["main.tail"], t["slices"]["main.copied"]
    big = t["extra"]["big_bytes"]
    assert tail["len"] == tail["cap"] == 16 and tail["elem_size"] == 8
    assert copied["len"] == copied["cap"] == 16
    # 128 bytes of slice keep one 64 MiB array reachable; the copied tail keeps nothing big.
    assert big <= t["memstats"]["heap_alloc"] < 2 * big
    path = tmp_path / "slicepin.pb.gz"
    path.write_bytes(pb)
    in_use = pprof_flat(go_pprof_top(toolchain, fleet_exe("slicepin"), path), "main.step")
    assert big <= in_use < 2 * big


def test_overflowmap_has_many_overflow_buckets_without_growing(fleet_service):
    with fleet_service("overflowmap") as svc:
        t1 = svc.advance(1)
        t6 = svc.advance(5)
    m1, m6 = check_map_header(t1, "main.table"), check_map_header(t6, "main.table")
    fill_n = t1["extra"]["fill_n"]
    assert m1["len"] == m6["len"] == fill_n
    if t1["impl"] == "swiss":
        return
    h1, h6 = m1["header"], m6["header"]
    assert h1["B"] == h6["B"] == 10, "sized for fill_n: the table must never double"
    assert h6["flags"] & 8 or h6["oldbuckets"] == "0x0"
    # At 6.5 keys per 8-slot bucket about a fifth of the buckets overflow (Poisson tail).
    assert m1["walk"]["overflow_buckets"] >= 2 ** h1["B"] // 10
    if h6["oldbuckets"] == "0x0":
        assert m6["walk"]["overflow_buckets"] >= m1["walk"]["overflow_buckets"], "churn adds overflow buckets"


def test_ptrfreemap_lists_overflow_buckets_in_mapextra(fleet_service):
    with fleet_service("ptrfreemap") as svc:
        t1 = svc.advance(1)
        t4 = svc.advance(3)
    m1 = check_map_header(t1, "main.counters")
    m4 = check_map_header(t4, "main.counters")
    assert m1["len"] == m4["len"] == t1["extra"]["fill_n"]
    if t1["impl"] == "swiss":
        assert m1["type"]["group_has_pointers"] is False
        return
    assert m1["type"]["bucket_has_pointers"] is False
    x = m1["header"]["mapextra"]
    assert x["overflow"] != "0x0"
    # Every overflow bucket must be listed, or the GC would free it: len(*extra.overflow) == walked chains.
    assert x["overflow_len"] == m1["walk"]["overflow_buckets"] == m1["header"]["noverflow"] > 0
    # Updating existing keys adds no entries and no overflow buckets.
    assert m4["header"]["mapextra"]["overflow_len"] == x["overflow_len"]


def test_valueleak_grows_through_values_not_keys(fleet_service):
    with fleet_service("valueleak") as svc:
        t3 = svc.advance(3)
        h3 = gc_truth(svc)
        t6 = svc.advance(3)
        h6 = gc_truth(svc)
    chunk = t3["extra"]["chunk_size"]
    n = check_map_header(t3, "main.tenants")["len"]
    assert n == check_map_header(t6, "main.tenants")["len"] == 64
    assert t3["extra"]["value_len_total"] == 3 * n * chunk
    assert t6["extra"]["value_len_total"] == 6 * n * chunk
    assert t6["extra"]["value_cap_total"] >= t6["extra"]["value_len_total"]
    if t3["impl"] == "classic":
        assert t6["maps"]["main.tenants"]["header"]["B"] == t3["maps"]["main.tenants"]["header"]["B"]
    assert h6["memstats"]["heap_alloc"] - h3["memstats"]["heap_alloc"] >= 3 * n * chunk * 0.9


def test_lru_stays_at_capacity(fleet_service):
    with fleet_service("lru") as svc:
        t1 = svc.advance(1)
        t10 = svc.advance(9)
        t15 = svc.advance(5)
    cap = t1["extra"]["capacity"]
    for t in (t1, t10, t15):
        x = t["extra"]
        n = check_map_header(t, "main.index")["len"]
        assert n <= cap and n == x["list_len"]
        assert x["evictions"] == x["misses"] - n
    assert check_map_header(t15, "main.index")["len"] == cap
    assert t15["extra"]["hits"] > 0 and t15["extra"]["evictions"] > t10["extra"]["evictions"]


# -- opt-in: classic maps on Swiss-era toolchains ----------------------------------------


@pytest.mark.allgo
@pytest.mark.parametrize("version", ["1.24.11", "1.25.5"])
def test_noswissmap_experiment_builds_classic_maps(version):
    """Go 1.24/1.25 with GOEXPERIMENT=noswissmap: fleetkit must pick the hmap mirror with clearSeq."""
    exe = build_program(ensure_go(version), FLEET_DIR, "./cmd/stuckgrow", goexperiment="noswissmap")
    with GoService(exe) as svc:
        t = svc.advance(1)
    assert t["impl"] == expected_map_impl(version, "noswissmap") == "classic"
    m = check_map_header(t, "main.stuck")
    assert "clearSeq" in m["header"] and m["header"]["oldbuckets"] != "0x0"
