"""goinspect check: clean fleet processes and cores pass every check; planted single-byte corruptions are caught.

Clean: every fleet program that holds maps, live on each default Go version, and one
gcore core per version (stuckgrow: a classic grow stuck half-way on 1.23.9, 32 Swiss
tables on 1.26.6): every check passes on every map and slice, runtime's included.

Corrupted: copies of that real core with exactly one byte changed. The byte is found
without goinspect: the program's own /truth gives the addresses (map header, bucket
arrays, tables, group arrays), the core's PT_LOAD headers (read with pyelftools) map
them to file offsets, and the bytes there are checked against /truth before the change.
The copies are real files (``cp --sparse=always``: a gcore core is ~1.3 GB of mostly
zero pages, which the fixture turns into holes, so a copy writes ~6 MB in half a
second) read through the whole CLI path, and each is deleted right after its run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

from goinspect.commands.check import COMMAND as CHECK
from conftest import StuckgrowCore
from maps_truth import run_json
from pprof_raw import pprof_raw

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="gcore and live reads need root (ptrace)"),
    pytest.mark.skipif(shutil.which("gcore") is None, reason="gcore (from gdb) is not installed"),
]

#: (program, steps): every fleet program holding maps or slices, at a phase that matters.
PROGRAMS = [("leakmap", 3), ("ptrfreemap", 3), ("overflowmap", 4), ("deletedmap", 2), ("stuckgrow", 2),
            ("lru", 2), ("churn", 3), ("valueleak", 2), ("slicepin", 2)]

#: The checks each kind of structure must get (so "all passed" cannot mean "nothing checked").
CLASSIC_CHECKS = {"classic.count", "classic.noverflow", "classic.overflow_chains", "classic.evacuation", "span.header"}
SWISS_TABLE_CHECKS = {"swiss.used_sum", "swiss.directory", "swiss.table_refs", "swiss.ctrl_full", "swiss.ctrl_bytes",
                      "swiss.growth_left", "span.header", "span.directory", "span.tables", "span.groups"}


def run_check(*argv: str) -> tuple[int, dict[str, Any], str]:
    """``goinspect check ARGV --json`` in-process (the object cli.py registers): exit code, JSON, stderr."""
    parser = argparse.ArgumentParser(prog="goinspect check")
    CHECK.prepare_parser(parser)
    args = parser.parse_args([*argv, "--json"])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = CHECK.run(args)
    return rc, json.loads(out.getvalue()), err.getvalue()


def run_check_text(*argv: str) -> tuple[int, str]:
    """``goinspect check ARGV`` (text) in-process: exit code and stdout."""
    parser = argparse.ArgumentParser(prog="goinspect check")
    CHECK.prepare_parser(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = CHECK.run(parser.parse_args(list(argv)))
    return rc, out.getvalue()


def names_by_structure(out: dict[str, Any]) -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for row in out["checks"]:
        got.setdefault(row["structure"], set()).add(row["name"])
    return got


def assert_checked(out: dict[str, Any], truth: dict[str, Any]) -> None:
    """Every map and slice of /truth got the checks its kind calls for, and they all passed."""
    assert out["passed"] and out["checks_failed"] == 0, [r for r in out["checks"] if not r["passed"]][:3]
    got = names_by_structure(out)
    for name, t in truth["maps"].items():
        if t["addr"] in (None, "0x0"):
            continue
        if truth["impl"] == "classic":
            want = CLASSIC_CHECKS | ({"span.buckets"} if t["header"]["buckets"] != "0x0" else set())
            want |= {"classic.extra_overflow"} if not t["type"]["bucket_has_pointers"] else set()
        else:
            want = SWISS_TABLE_CHECKS if t["header"]["dirLen"] else {"span.header"}
        assert want <= got[name], (name, want - got[name])
    for name in truth["slices"]:
        assert "slice.len_cap" in got[name], name


@pytest.mark.parametrize("program,steps", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_clean_live_process_passes_every_check(fleet_service, go_version, program, steps):
    with fleet_service(program) as svc:
        svc.advance(steps)
        truth = svc.truth()
        rc, out, err = run_check("--pid", str(svc.pid), "--runtime")
        maps = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")
    assert rc == 0 and err == "", err
    assert out["go_version"] == go_version and out["maps"] > 10 and out["slices"] > 10
    assert_checked(out, truth)
    # Arrays in static data (stdlib tables) are reported as outside the heap, and pass; heap ones are proven.
    arrays = [r["evidence"] for r in out["checks"] if r["name"] == "slice.array_in_allocation"]
    assert any("not in the Go heap" in e for e in arrays) and any(e.endswith("; allocated") for e in arrays)
    # Ownership in maps --json: the header and bucket array /truth names are the objects found, each in use.
    for m in maps["maps"]:
        t = truth["maps"][m["name"]]
        if m["addr"] is None:
            continue
        own = m["ownership"]
        assert own["header"]["addr"] == t["addr"]
        heap = [r for r in own.values() if r.get("where") == "heap"]
        assert heap and all(r["span"]["state"] == 1 and r["allocated"] for r in heap), m["name"]
        if m["impl"] == "hmap" and t["header"]["buckets"] != "0x0":
            b = own["buckets"]
            assert b["addr"] == t["header"]["buckets"] and b["span"]["elemsize"] == b["expected_elemsize"]
            assert b["span"]["noscan"] == (not t["type"]["bucket_has_pointers"]), m["name"]
        for tb in (m.get("swiss") or {}).get("tables", []):
            assert tb["groups_span"]["span"]["elemsize"] == tb["groups_span"]["expected_elemsize"]
            assert tb["groups_span"]["span"]["noscan"] == (not t["type"]["group_has_pointers"])


def test_owning_spans_agree_with_the_runtimes_heap_profile(fleet_service, toolchain, tmp_path):
    """Every heap structure of the program's maps is an object of the size the runtime itself recorded:
    with every allocation sampled, ``go tool pprof -raw`` on the program's own heap profile shows at
    least as many in-use objects of each span elemsize goinspect reports (its ``bytes`` label)."""
    with fleet_service("stuckgrow", memprofilerate=1) as svc:
        svc.advance(2)
        prof = tmp_path / "heap.pb.gz"
        prof.write_bytes(svc.heap_profile())  # forces a GC first: in-use figures are current
        maps = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")["maps"]
    raw = pprof_raw(toolchain.go, prof)
    inuse = raw.sample_types.index("inuse_objects/count")
    held: dict[int, int] = {}
    for smp in raw.samples:
        if "bytes" in smp.labels:
            size = int(smp.labels["bytes"])
            held[size] = held.get(size, 0) + smp.values[inuse]
    records = []
    for m in maps:
        records += [r for r in (m.get("ownership") or {}).values() if r.get("where") == "heap"]
        for t in (m.get("swiss") or {}).get("tables", []):
            records += [t["span"], t["groups_span"]]
    assert len(records) >= 4
    want: dict[int, int] = {}
    for r in records:
        assert r["span"]["elemsize"] == r["expected_elemsize"]
        want[r["span"]["elemsize"]] = want.get(r["span"]["elemsize"], 0) + 1
    for size, n in want.items():
        assert held.get(size, 0) >= n, (size, n, held.get(size))


def test_check_text_output_and_filter(fleet_service, go_version, capsys):
    """Without --json: one summary line on stdout, the footer on stderr, exit 0."""
    with fleet_service("leakmap") as svc:
        svc.advance(1)
        parser = argparse.ArgumentParser()
        CHECK.prepare_parser(parser)
        rc = CHECK.run(parser.parse_args(["--pid", str(svc.pid), "--filter", r"^main\."]))
    out, err = capsys.readouterr()
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("all passed") and "FAIL" not in out
    assert err.startswith(f"(Go {go_version}")


# ---------------------------------------------------------------------------------------------
# Cores: one clean core per Go version, and copies of it with one byte changed.


def core_offset(core: Path, vaddr: int) -> int:
    """File offset of ``vaddr`` in a core, from its PT_LOAD program headers."""
    with open(core, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            h = seg.header
            if h.p_type == "PT_LOAD" and h.p_vaddr <= vaddr < h.p_vaddr + h.p_filesz:
                return h.p_offset + vaddr - h.p_vaddr
    raise AssertionError(f"{vaddr:#x} is not in the core's dumped segments")


def core_bytes(core: Path, vaddr: int, n: int) -> np.ndarray:
    with open(core, "rb") as f:
        f.seek(core_offset(core, vaddr))
        return np.frombuffer(f.read(n), dtype=np.uint8)


@contextlib.contextmanager
def corrupted_copy(core: Path, vaddr: int, value: int) -> Iterator[Path]:
    """A sparse copy of ``core`` whose byte at ``vaddr`` is ``value`` (and must have been something else)."""
    copy = core.with_name(core.name + ".corrupt")
    subprocess.run(["cp", "--sparse=always", str(core), str(copy)], check=True)
    try:
        off = core_offset(core, vaddr)
        with open(copy, "r+b") as f:
            f.seek(off)
            old = f.read(1)[0]
            assert old != value
            f.seek(off)
            f.write(bytes([value]))
        yield copy
    finally:
        copy.unlink(missing_ok=True)


def test_clean_core_passes_every_check(stuckgrow_core):
    rc, out, err = run_check("--core", str(stuckgrow_core.core), "--exe", str(stuckgrow_core.exe), "--runtime")
    assert rc == 0 and err == ""
    assert_checked(out, stuckgrow_core.truth)
    assert out["checks"] == stuckgrow_core.live["check"]["checks"]  # the same figures as the live process


def _stuck(case: StuckgrowCore) -> dict[str, Any]:
    return case.truth["maps"]["main.stuck"]


def _header_word0(case: StuckgrowCore) -> int:
    """The map header's first word: hmap.count (runtime/map.go) or Map.used (internal/runtime/maps/map.go)."""
    t = _stuck(case)
    addr = int(t["addr"], 16)
    word = int(core_bytes(case.core, addr, 8).view("<u8")[0])
    assert word == t["len"]  # it is the count /truth reports
    return addr


def _old_buckets(case: StuckgrowCore) -> tuple[int, int, np.ndarray]:
    """(address, bucket size, [nold, size] rows) of the old bucket array of the stuck classic grow."""
    t = _stuck(case)
    size, addr, nold = t["type"]["bucket_size"], int(t["header"]["oldbuckets"], 16), t["walk"]["oldbuckets_count"]
    return addr, size, core_bytes(case.core, addr, nold * size).reshape(nold, size)


def _unevacuated(rows: np.ndarray) -> np.ndarray:
    return ~((rows[:, 0] >= 2) & (rows[:, 0] <= 4))  # runtime/map.go: evacuatedX/Y/Empty = 2, 3, 4


def where_tophash(case: StuckgrowCore) -> tuple[int, int]:
    """A live slot's tophash in an old bucket not yet evacuated, turned into emptyOne (a deleted slot)."""
    addr, size, rows = _old_buckets(case)
    b = int(np.flatnonzero(_unevacuated(rows) & (rows[:, 0] >= 5))[0])
    return addr + b * size, 1


def where_count(case: StuckgrowCore) -> tuple[int, int]:
    addr = _header_word0(case)
    return addr, int(core_bytes(case.core, addr, 1)[0]) ^ 1


def where_overflow(case: StuckgrowCore) -> tuple[int, int]:
    """Byte 4 of an unevacuated old bucket's overflow pointer (its last word): 0xc0 -> 0x80 leaves the heap."""
    addr, size, rows = _old_buckets(case)
    ovf = rows[:, size - 8:].copy().view("<u8")[:, 0]
    b = int(np.flatnonzero(_unevacuated(rows) & (ovf != 0))[0])
    at = addr + b * size + size - 8 + 4
    return at, int(core_bytes(case.core, at, 1)[0]) ^ 0x40


def _first_table(case: StuckgrowCore) -> dict[str, Any]:
    t = max(_stuck(case)["tables"], key=lambda tb: tb["used"])
    # internal/runtime/maps/table.go: table{used uint16; capacity uint16; growthLeft uint16; ...}
    raw = core_bytes(case.core, int(t["addr"], 16), 6).view("<u2")
    assert raw.tolist() == [t["used"], t["capacity"], t["growthLeft"]]
    return t


def where_ctrl(case: StuckgrowCore) -> tuple[int, int]:
    """A full slot's ctrl byte (top bit clear) in a table's group array, made ctrlEmpty (0x80)."""
    t = _first_table(case)
    gsize, ngroups = _stuck(case)["type"]["group_size"], t["groups"]["lengthMask"] + 1
    data = int(t["groups"]["data"], 16)
    ctrl = core_bytes(case.core, data, ngroups * gsize).reshape(ngroups, gsize)[:, :8]
    g, slot = (int(x[0]) for x in np.nonzero(ctrl < 0x80))
    return data + g * gsize + slot, 0x80


def where_growth_left(case: StuckgrowCore) -> tuple[int, int]:
    t = _first_table(case)
    at = int(t["addr"], 16) + 4
    return at, int(core_bytes(case.core, at, 1)[0]) ^ 1


def where_span_elemsize(case: StuckgrowCore) -> tuple[int, int]:
    """``mspan.elemsize`` of the span goinspect says owns the bucket array (classic) or a group array (Swiss),
    8 bytes bigger. The field is found by its value in the mspan: the one word equal to that elemsize."""
    m = run_json("maps", "--core", str(case.core), "--exe", str(case.exe), "--filter", r"^main\.stuck$")["maps"][0]
    own = m["ownership"]["buckets"] if m["impl"] == "hmap" else m["swiss"]["tables"][0]["groups_span"]
    span = own["span"]
    words = core_bytes(case.core, int(span["addr"], 16), 256).view("<u8")
    (i,) = np.flatnonzero(words == span["elemsize"])
    at = int(span["addr"], 16) + 8 * int(i)
    return at, int(core_bytes(case.core, at, 1)[0]) ^ 0x08


#: (corruption, map implementation, where, the check that must fail, checks that may fail with it)
CORRUPTIONS = [
    ("tophash", "classic", where_tophash, "classic.count", set()),
    ("count", "classic", where_count, "classic.count", set()),
    ("overflow_pointer", "classic", where_overflow, "classic.overflow_chains",
     {"classic.count", "classic.extra_overflow", "span.overflow"}),
    ("count", "swiss", where_count, "swiss.used_sum", set()),
    ("ctrl_byte", "swiss", where_ctrl, "swiss.ctrl_full", set()),
    ("growth_left", "swiss", where_growth_left, "swiss.growth_left", set()),
    ("span_elemsize", "classic", where_span_elemsize, "span.buckets", set()),
    ("span_elemsize", "swiss", where_span_elemsize, "span.groups", set()),
]


@pytest.mark.parametrize("what,impl,where,must_fail,may_fail", CORRUPTIONS,
                         ids=[f"{impl}-{what}" for what, impl, *_ in CORRUPTIONS])
def test_single_corrupted_byte_is_caught_by_name(stuckgrow_core, what, impl, where, must_fail, may_fail):
    if stuckgrow_core.truth["impl"] != impl:
        pytest.skip(f"this Go version has {stuckgrow_core.truth['impl']} maps")
    vaddr, value = where(stuckgrow_core)
    with corrupted_copy(stuckgrow_core.core, vaddr, value) as copy:
        rc, out, err = run_check("--core", str(copy), "--exe", str(stuckgrow_core.exe), "--runtime")
        text_rc, text = run_check_text("--core", str(copy), "--exe", str(stuckgrow_core.exe), "--runtime")
    assert text_rc == 1 and f"FAIL {must_fail}  map main.stuck: " in text
    failed = {(r["structure"], r["name"]) for r in out["checks"] if not r["passed"]}
    assert rc == 1 and not out["passed"]
    assert ("main.stuck", must_fail) in failed, failed
    assert failed <= {("main.stuck", n) for n in {must_fail} | may_fail}, failed
    assert f"{must_fail} (main.stuck)" in err and err.count("\n") == 1
    # Everything else still reads and checks as in the clean core.
    clean = {(r["structure"], r["name"]) for r in stuckgrow_core.live["check"]["checks"]}
    assert {(r["structure"], r["name"]) for r in out["checks"]} - failed <= clean
