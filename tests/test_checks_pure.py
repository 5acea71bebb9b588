"""The cross-checks as pure functions: made-up reader output that breaks one rule fails exactly that check.

Complements test_checks.py (real processes and cores) with the rules a single corrupted
byte in a fleet core does not reach: the noverflow band above B = 16, evacuation marks
against nevacuate, shared overflow chains, directory/table-reference arithmetic, slice
bounds, and where a structure may live outside the heap.
"""

from __future__ import annotations

import argparse
import copy

import pytest

from goinspect.checks import check_map, check_slice
from goinspect.commands.check import COMMAND as CHECK
from goinspect.errors import UsageError
from goinspect.model import classicmap


def _span(elemsize: int, start: str = "0xc000100000") -> dict:
    return {"addr": "0x7f0000001000", "start": start, "npages": 1, "elemsize": elemsize, "sizeclass": 5,
            "noscan": False, "state": 1, "nelems": 8192 // elemsize}


def _rec(addr: str, nbytes: int, elemsize: int, expected: int | None, offset: int | None = 0,
         base: str | None = None) -> dict:
    return {"addr": addr, "where": "heap", "span": _span(elemsize), "object_index": 0, "object_base": base or addr,
            "allocated": True, "bytes": nbytes, "expected_elemsize": expected, "expected_offset": offset}


def classic_map(B: int = 5, count: int = 100, noverflow: int = 3, overflow: int = 3) -> dict:
    return {"name": "main.m", "impl": "hmap", "addr": "0xc000010000", "hmap": {
        "header": {"count": count, "B": B, "noverflow": noverflow, "nevacuate": 0, "flags": 0,
                   "buckets": "0xc000200000", "oldbuckets": "0x0", "extra": "0x0"},
        "mapextra": None,
        "walk": {"buckets": 1 << B, "overflow_buckets": overflow, "live": count, "unreadable_buckets": 0,
                 "overflow_revisits": 0, "chains_truncated": False, "max_chain": 2, "growing": False,
                 "evacuation_marks_in_live_buckets": 0, "pointer_free_buckets": False}},
        "ownership": {"header": _rec("0xc000010000", 48, 48, 48)}}


def swiss_map() -> dict:
    tables = [{"addr": f"0xc0000{i}0000", "dir_refs": refs, "used": 500, "capacity": 1024, "growthLeft": 396,
               "localDepth": ld, "index": 0, "groups": {"data": "0xc001000000", "lengthMask": 127},
               "live": 500, "empty": 524, "tombstones": 0}
              for i, (refs, ld) in enumerate([(2, 1), (1, 2), (1, 2)])]
    return {"name": "main.s", "impl": "swiss", "addr": "0xc000010000", "swiss": {
        "header": {"used": 1500, "dirLen": 4, "globalDepth": 2, "globalShift": 62, "dirPtr": "0xc000300000"},
        "tables": tables, "walk": {"unreadable_tables": 0}}, "ownership": {}}


def failed(checks) -> set[str]:
    return {c.name for c in checks if not c.passed}


def test_clean_made_up_maps_pass():
    assert failed(check_map(classic_map())) == set()
    assert failed(check_map(swiss_map())) == set()


def test_noverflow_exact_below_16_and_banded_above():
    assert failed(check_map(classic_map(B=15, noverflow=2, overflow=3))) == {"classic.noverflow"}
    band = classicmap.noverflow_band(18, 4160)  # a 1M-entry map[int64]int64: B=18, ~4160 overflow buckets
    inside = classic_map(B=18, noverflow=round(band.expected), overflow=4160)
    assert failed(check_map(inside)) == set()
    for outside in (band.low - 1, band.high + 1):
        assert failed(check_map(classic_map(B=18, noverflow=outside, overflow=4160))) == {"classic.noverflow"}


def test_shared_or_cyclic_overflow_chain_fails():
    m = classic_map()
    m["hmap"]["walk"]["overflow_revisits"] = 1
    assert failed(check_map(m)) == {"classic.overflow_chains"}


def test_evacuation_marks_must_agree_with_nevacuate():
    m = classic_map(B=6)
    h, w = m["hmap"]["header"], m["hmap"]["walk"]
    h.update(oldbuckets="0xc000400000", nevacuate=10)
    w.update(growing=True, oldbuckets_count=32, evacuated_old_buckets=12, evacuated_below_nevacuate=10,
             evacuated_with_stray_marks=0, old_overflow_buckets=0, old_live_unevacuated=40,
             evacuation_marks_in_unevacuated=0)
    assert failed(check_map(m)) == set()
    bad = copy.deepcopy(m)
    bad["hmap"]["walk"]["evacuated_below_nevacuate"] = 9  # a bucket below nevacuate still holds its entries
    assert failed(check_map(bad)) == {"classic.evacuation"}
    bad = copy.deepcopy(m)
    bad["hmap"]["walk"]["evacuated_with_stray_marks"] = 1
    assert failed(check_map(bad)) == {"classic.evacuation"}


def test_pointer_free_overflow_list_must_cover_every_overflow_bucket():
    m = classic_map()
    m["hmap"]["walk"]["pointer_free_buckets"] = True
    m["hmap"]["mapextra"] = {"overflow_len": 3, "oldoverflow_len": None}
    assert failed(check_map(m)) == set()
    m["hmap"]["mapextra"]["overflow_len"] = 2
    assert failed(check_map(m)) == {"classic.extra_overflow"}


@pytest.mark.parametrize("change,expected", [
    (lambda s: s["header"].update(dirLen=8), {"swiss.directory", "swiss.table_refs"}),  # 4 refs in 8 entries
    (lambda s: s["header"].update(globalShift=61), {"swiss.directory"}),
    (lambda s: s["tables"][0].update(dir_refs=1), {"swiss.table_refs"}),
    (lambda s: s["header"].update(used=1499), {"swiss.used_sum"}),
    (lambda s: s["tables"][1].update(live=499, empty=525), {"swiss.ctrl_full"}),
    (lambda s: s["tables"][2].update(tombstones=1, empty=523), {"swiss.growth_left"}),
    (lambda s: s["tables"][2].update(growthLeft=395), {"swiss.growth_left"}),
    (lambda s: s["tables"][2].update(empty=523), {"swiss.ctrl_bytes"}),
])
def test_swiss_rules(change, expected):
    m = swiss_map()
    change(m["swiss"])
    assert failed(check_map(m)) == expected


def test_span_records():
    m = classic_map()
    m["ownership"]["buckets"] = _rec("0xc000200008", 1216, 1280, 1280, offset=8, base="0xc000200000")
    assert failed(check_map(m)) == set()  # after the 8-byte malloc header, as the model says
    m["ownership"]["buckets"]["span"]["elemsize"] = 1408
    assert failed(check_map(m)) == {"span.buckets"}
    m["ownership"]["buckets"] = {**_rec("0xc000200000", 1216, 1280, 1280), "allocated": False}
    assert failed(check_map(m)) == {"span.buckets"}
    # A large bucket array is the one object of its span.
    big = {**_rec("0xc000400000", 163840, 163840, 163840), "span": {**_span(163840), "npages": 20, "nelems": 1}}
    m["ownership"]["buckets"] = big
    assert failed(check_map(m)) == set()
    m["ownership"]["buckets"] = {**big, "span": {**big["span"], "nelems": 2}}
    assert failed(check_map(m)) == {"span.buckets"}
    # A map header on a goroutine stack is fine; a mapextra outside the heap or in a dead span is not.
    m = classic_map()
    m["ownership"]["header"] = {"addr": "0xc000400000", "where": "stack", "bytes": 48}
    assert failed(check_map(m)) == set()
    m["ownership"]["mapextra"] = {"addr": "0x500000", "where": "outside heap", "bytes": 24}
    assert failed(check_map(m)) == {"span.mapextra"}
    m["ownership"]["mapextra"] = {"addr": "0xc000500000", "where": "span not in use", "bytes": 24}
    assert failed(check_map(m)) == {"span.mapextra"}


def test_slices():
    s = {"name": "main.b", "len": 5, "cap": 8, "elem_size": 8, "array_addr": "0xc000200010",
         "span": _rec("0xc000200010", 64, 80, None, None, base="0xc000200000")}
    assert failed(check_slice(s)) == set()
    s["span"]["span"]["elemsize"] = 64  # 16 bytes into a 64-byte object, 64 bytes of cap: past its end
    assert failed(check_slice(s)) == {"slice.array_in_allocation"}
    s.update(len=9, span=None)
    assert failed(check_slice(s)) == {"slice.len_cap"}


@pytest.mark.parametrize("argv,message", [
    ([], "give exactly one target"),
    (["--pid", "1", "--core", "c"], "give exactly one target"),
    (["--core", "c"], "--core needs --exe"),
    (["--pid", "1", "--filter", "("], "--filter is not a valid regular expression"),
])
def test_check_command_line_errors_are_one_sentence(argv, message):
    parser = argparse.ArgumentParser()
    CHECK.prepare_parser(parser)
    with pytest.raises(UsageError, match=message) as e:
        CHECK.run(parser.parse_args(argv))
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
