"""Goroutine-stack roots: maps and slices that live only in a goroutine's local variables.

Real programs, real gdb, both default Go versions. The fleet's ``stackmap`` program keeps a
leaking map and a growing slice in locals of ``main.owner``, parked on a channel; its /truth is
computed by that goroutine itself. The unwinder is checked frame by frame (function and PC offset)
against the program's own goroutine dump (``/debug/pprof/goroutine?debug=2``), and a core made
with gcore must read the same as the live process. Pure tests of the location-expression and
unwinding logic are at the bottom.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from goinspect.runtime.goroutines import Frame, Goroutine, Stack, Unwinder
from goinspect.runtime.roots import Root, _one_root_per_value, _plausible, _unique_names
from goinspect.symbolize.dwarf_locals import LocalsIndex, LocalVar, container_types, parse_expr, word_addresses
from maps_truth import assert_map_matches, assert_slice_matches, by_name, run_json

live_only = pytest.mark.skipif(os.geteuid() != 0, reason="attaching to a live process needs root (ptrace)")

MAP, SLICE = "main.owner.pending", "main.owner.history"
#: stackmap's map whose header is a stack object of its frame (its variable has no DWARF location).
FRAME_MAP = "main.counter.m"


def _check_stack_roots(maps: dict, slices: dict, truth: dict) -> None:
    """Every map and slice the program names (all in goroutine locals) equals its truth, and nothing else
    under main.* is reported."""
    m, s = by_name(maps["maps"]), by_name(slices["slices"])
    assert set(m) == set(truth["maps"]) | {FRAME_MAP} and set(s) == set(truth["slices"])
    # found among the frame's stack objects: the header is in the goroutine's stack, its count the program's len(m)
    assert m[FRAME_MAP]["root"] == "stack" and m[FRAME_MAP]["count"] == truth["extra"]["counter_len"] > 0
    assert m[FRAME_MAP]["count"] == truth["extra"]["per_step"] * truth["phase"]
    for name, t in truth["maps"].items():
        assert m[name]["root"] == "stack", name
        assert_map_matches(m[name], t)  # count, header address, every header/walk figure
    for name, t in truth["slices"].items():
        assert s[name]["root"] == "stack", name
        assert_slice_matches(s[name], t)  # len, cap, array address, owning allocation
    # a struct's fields, through the receiver pointer and in a struct-valued local (split into slots)
    serve = "main.(*registry).serve."
    assert {serve + f for f in ("r.byName", "spare.byName")} <= set(m)
    assert {serve + f for f in ("r.order", "spare.order")} <= set(s)
    assert m[MAP]["count"] == truth["extra"]["per_step"] * truth["phase"]
    workers = [n for n in m if n.startswith("main.worker.m#")]  # one local, several goroutines: name#goid
    assert len(workers) == truth["extra"]["workers"] >= 2
    assert sorted(m[n]["count"] for n in workers) == list(range(1, len(workers) + 1))


@live_only
def test_live_stack_map_and_slice_equal_truth(fleet_service, go_version):
    with fleet_service("stackmap") as svc:
        for steps in (1, 3):  # the map grows between readings: the same local, read again
            svc.advance(steps)
            truth = svc.truth()
            maps = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")
            slices = run_json("slices", "--pid", str(svc.pid), "--filter", r"^main\.")
            _check_stack_roots(maps, slices, truth)
        one = run_json("map", MAP, "--pid", str(svc.pid), "--entries", "5")["maps"][0]
    assert one["root"] == "stack" and len(one["entries"]) == 5
    assert all(e["elem"] is not None for e in one["entries"])


@live_only
def test_unwinder_agrees_with_the_programs_own_traceback(fleet_service, go_version):
    """Every physical frame we unwind, function and PC offset, equals the runtime's own traceback of
    the same goroutine (frames the runtime hides -- runtime internals -- aside)."""
    from goinspect.runtime.goroutines import read_goroutines, read_stack
    from goinspect.runtime.roots import _PREPARED, prepare_roots
    from goinspect.target.open import open_live

    with fleet_service("stackmap") as svc:
        svc.advance(1)
        target = open_live(svc.pid)
        try:
            prepare_roots(target)
            ctx = _PREPARED[target]
            ours: dict[int, list[tuple[str, int]]] = {}
            with target.paused():
                for g in read_goroutines(target.memory, ctx.layout, ctx.allgs, ctx.registers):
                    st = read_stack(target.memory, g)
                    if st is None:
                        continue
                    ctx.unwinder.unwind(st)
                    assert st.stopped == "", (g.goid, st.stopped)
                    assert st.frames[-1].function == "runtime.goexit" or g.goid == 1 or not g.goid
                    ours[g.goid] = [(f.function, f.lookup_pc + 1 - f.entry) for f in st.frames
                                    if _shown(f.function) and not _wrapper(ctx.unwinder.table, f.entry)]
        finally:
            target.close()
        dump = svc.get("/debug/pprof/goroutine?debug=2").decode()
    theirs = _traceback(dump)
    compared = 0
    for goid, (state, frames) in theirs.items():
        if state.startswith(("running", "runnable")) or goid not in ours:
            continue  # the goroutine serving the dump, or one that moved since our pause
        assert ours[goid] == frames, goid
        compared += 1
    assert compared >= 3  # main (accept), main.owner (chan receive), the stdin reader (syscall)
    owner = next(g for g, (_s, fr) in theirs.items() if fr and fr[0][0] == "main.owner")
    assert theirs[owner][0] == "chan receive" or theirs[owner][0].startswith("chan receive")


@live_only
def test_running_goroutine_is_walked_from_its_threads_registers(fleet_service, go_version):
    """main.spinner never parks: no saved PC/SP, so its stack is walked from the stopped thread's registers
    (/proc/PID/task/TID/syscall) and the map in its frame is found like any other."""
    from goinspect.runtime.goroutines import G_RUNNING, read_goroutines, read_stack
    from goinspect.runtime.roots import _PREPARED, prepare_roots
    from goinspect.target.open import open_live

    with fleet_service("stackmap", env={"STACKMAP_SPIN": "1"}) as svc:
        truth = svc.truth()
        ours = by_name(run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.spinner\.")["maps"])
        assert_map_matches(ours["main.spinner.m"], truth["maps"]["main.spinner.m"])
        target = open_live(svc.pid)
        try:
            prepare_roots(target)
            ctx = _PREPARED[target]
            with target.paused():
                for g in read_goroutines(target.memory, ctx.layout, ctx.allgs, ctx.registers):
                    st = read_stack(target.memory, g)
                    if st is not None:
                        ctx.unwinder.unwind(st)
                        if any(f.function == "main.spinner" for f in st.frames):
                            break
                else:
                    pytest.fail("no goroutine runs main.spinner")
        finally:
            target.close()
    names = [f.function for f in st.frames]
    if "runtime.asyncPreempt" not in names:  # not caught in the instant sysmon preempts it
        assert g.status == G_RUNNING and g.exact
        assert names == ["main.spin", "main.spinner", names[2], "runtime.goexit"]


def _shown(name: str) -> bool:
    """runtime.showframe: runtime-internal frames are left out of tracebacks (exported ones are kept)."""
    if not name.startswith("runtime."):
        return "." in name
    rest = name[len("runtime."):]
    return rest[:1].isupper() and "." not in rest


def _wrapper(table, entry: int) -> bool:
    """Autogenerated wrappers (promoted methods) are elided from tracebacks too."""
    return table.func(int(table.func_indexes(np.asarray([entry]))[0])).func_id == table.wrapper_func_id


def _traceback(dump: str) -> dict[int, tuple[str, list[tuple[str, int]]]]:
    """goid -> (state, [(function, pc - entry)] of each physical frame) from a debug=2 goroutine dump."""
    out = {}
    for block in dump.strip().split("\n\n"):
        lines = block.splitlines()
        head = re.match(r"goroutine (\d+) \[([^\]]*)\]:", lines[0])
        if not head:
            continue
        frames = []
        for call, where in zip(lines[1::2], lines[2::2]):
            if call.startswith("created by"):
                break
            off = re.search(r" \+0x([0-9a-f]+)$", where)
            if off:  # inlined frames ("(...)") have no offset: they share the physical frame below them
                frames.append((call[:call.rindex("(")], int(off.group(1), 16)))
        out[int(head.group(1))] = (head.group(2), frames)
    return out


@live_only
def test_pause_stays_short(fleet_service, go_version, capsys):
    """The stack walk adds little to a pause: measured here against the globals-only read."""
    from goinspect.runtime.census import Census
    from goinspect.runtime.roots import find_roots, gather_roots, prepare_roots
    from goinspect.target.open import open_live

    with fleet_service("stackmap") as svc:
        svc.advance(2)
        target = open_live(svc.pid)
        try:
            census = Census(target, None)
            prepare_roots(target, census)
            user = [g for g in target.globals() if not g.name.startswith(("runtime.", "internal/"))]
            figures = {}
            for label, read in (("globals", lambda: find_roots(user, target.memory)),
                                ("globals+stacks", lambda: gather_roots(target, user, target.memory))):
                with target.paused():
                    t0 = time.perf_counter()
                    roots = read()
                    took = time.perf_counter() - t0
                figures[label] = (took, target.pauses[-1], len(roots))
        finally:
            target.close()
    with capsys.disabled():
        print(f"\n[go{go_version}] roots read / whole pause: " + ", ".join(
            f"{k}: {r * 1000:.1f} ms / {p * 1000:.1f} ms ({n} roots)" for k, (r, p, n) in figures.items()))
    extra = figures["globals+stacks"][0] - figures["globals"][0]
    assert figures["globals+stacks"][2] >= figures["globals"][2] + 2
    assert extra < 0.25, figures  # a dozen goroutines: milliseconds, not a DWARF parse inside the pause


# -- from a core ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stackmap_core(fleet_service, fleet_exe, go_version, tmp_path_factory):
    """One gcore core of stackmap per Go version, with the truth and live readings of that moment; deleted after."""
    if os.geteuid() != 0 or shutil.which("gcore") is None:
        pytest.skip("gcore and live reads need root (ptrace) and gdb's gcore")
    tmp = tmp_path_factory.mktemp(f"stackcore-{go_version}")
    with fleet_service("stackmap", env={"STACKMAP_SPIN": "1"}) as svc:  # a running goroutine: NT_PRSTATUS
        svc.advance(2)
        truth = svc.truth()
        live = {c: run_json(c, "--pid", str(svc.pid), "--filter", r"^main\.") for c in ("maps", "slices")}
        tids = sorted(int(t) for t in os.listdir(f"/proc/{svc.pid}/task"))
        prefix = tmp / "core"
        subprocess.run(["gcore", "-o", str(prefix), str(svc.pid)], check=True, capture_output=True, timeout=120)
        core = Path(f"{prefix}.{svc.pid}")
        assert svc.truth()["maps"] == truth["maps"]
    if shutil.which("fallocate"):
        subprocess.run(["fallocate", "--dig-holes", str(core)], check=False, capture_output=True)
    yield fleet_exe("stackmap"), core, truth, live, tids
    core.unlink(missing_ok=True)


def test_core_stack_roots_equal_truth_and_live(stackmap_core):
    exe, core, truth, live, _tids = stackmap_core
    args = ("--core", str(core), "--exe", str(exe), "--filter", r"^main\.")
    maps, slices = run_json("maps", *args), run_json("slices", *args)
    _check_stack_roots(maps, slices, truth)  # main.spinner.m among them: found from the core's registers
    assert "main.spinner.m" in by_name(maps["maps"])
    assert by_name(maps["maps"]) == by_name(live["maps"]["maps"])
    assert by_name(slices["slices"]) == by_name(live["slices"]["slices"])


def test_core_thread_registers_name_every_thread(stackmap_core):
    """NT_PRSTATUS: one (pc, sp) per thread the process had, each pc inside the executable or a mapping."""
    from goinspect.target.elf import core_thread_registers

    _exe, core, _truth, _live, tids = stackmap_core
    regs = core_thread_registers(core)
    assert sorted(regs) == tids
    assert all(pc and sp for pc, sp in regs.values())


# -- pure logic ------------------------------------------------------------------------------------


def _sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            return bytes(out + bytes([b]))
        out.append(b | 0x80)


def test_parse_expr_go_forms():
    cfa, fbreg, piece, plus, consts = 0x9C, 0x91, 0x93, 0x22, 0x11
    assert parse_expr(bytes([cfa])) == ((0, "cfa", 0),)
    assert parse_expr(bytes([fbreg]) + _sleb(-56)) == ((0, "cfa", -56),)
    assert parse_expr(bytes([cfa, consts]) + _sleb(-24) + bytes([plus])) == ((0, "cfa", -24),)
    split = (bytes([fbreg]) + _sleb(-48) + bytes([piece, 8, fbreg]) + _sleb(-80) + bytes([piece, 8])
             + bytes([0x50 + 3, piece, 8]))
    assert parse_expr(split) == ((8, "cfa", -48), (8, "cfa", -80), (8, "reg", 3))
    assert parse_expr(bytes([piece, 8, fbreg]) + _sleb(-8) + bytes([piece, 8])) == ((8, "none", 0), (8, "cfa", -8))
    assert parse_expr(b"") == ()
    assert parse_expr(bytes([0x96]))[-1][1] == "bad"  # DW_OP_nop and other unknown ops are not evaluated


def test_word_addresses():
    cfa = 0x1000
    assert word_addresses(((0, "cfa", -56),), cfa, 0, 3) == [cfa - 56, cfa - 48, cfa - 40]
    assert word_addresses(((0, "cfa", -56),), cfa, 16, 1) == [cfa - 40]
    split = ((8, "cfa", -48), (8, "cfa", -80), (8, "cfa", -72))
    assert word_addresses(split, cfa, 0, 3) == [cfa - 48, cfa - 80, cfa - 72]
    assert word_addresses(((8, "cfa", -48), (8, "reg", 1), (8, "cfa", -72)), cfa, 0, 3) is None
    assert word_addresses(((8, "cfa", -48), (8, "reg", 1), (8, "cfa", -72)), cfa, 0, 1) == [cfa - 48]
    struct = ((16, "cfa", -100), (24, "cfa", -40))  # a string, then a slice field at offset 16
    assert word_addresses(struct, cfa, 16, 3) == [cfa - 40, cfa - 32, cfa - 24]
    assert word_addresses(((0, "reg", 0),), cfa, 0, 1) is None


def test_local_scope_and_ranges():
    v = LocalVar("main.f", "m", "map", "map[int]int", (), ((100, 200),), ((90, 150, ((0, "cfa", -8),)),
                                                                       (150, 300, ((0, "reg", 0),))))
    assert v.pieces_at(95) is None  # before its lexical block
    assert v.pieces_at(120) == ((0, "cfa", -8),)
    assert v.pieces_at(160) == ((0, "reg", 0),)
    assert v.pieces_at(250) is None  # after its block, whatever the list says
    idx = LocalsIndex({0x400000: [v]})
    assert LocalsIndex.from_json(idx.to_json()).by_entry == idx.by_entry
    held = LocalVar("main.f", "p", "ptr", "[]byte", (), (), ())  # &p: a slice variable moved to the heap
    assert container_types([v, held]) == {"map[int]int", "[]byte"}


class _Table:
    """Two functions: f at [0x1000, 0x1100) with a 0x28-byte frame; goexit at [0x2000, 0x2010)."""

    funcs = [(0x1000, 0x1100, "main.f", 0x28), (0x2000, 0x2010, "runtime.goexit", 0)]

    def func_indexes(self, pcs: np.ndarray) -> np.ndarray:
        return np.array([next((i for i, (a, b, *_r) in enumerate(self.funcs) if a <= pc < b), -1) for pc in pcs])

    def sp_deltas(self, index: int, pcs):
        return np.array([self.funcs[index][3]] * len(pcs))

    def func_name(self, index: int) -> str:
        return self.funcs[index][2]

    def func(self, index: int):
        return type("F", (), {"entry": self.funcs[index][0]})


def test_unwinder_pure():
    sp, hi = 0x7000, 0x7100
    stack = bytearray(hi - sp)
    stack[0x28:0x30] = (0x2000 + 1).to_bytes(8, "little")  # f's return address: into goexit (after its CALL)
    g = Goroutine(7, 4, 0, sp - 0x100, hi, 0x1050, sp, False)
    st = Stack(g, sp, bytes(stack))
    Unwinder(_Table()).unwind(st)
    assert st.stopped == ""
    assert st.frames == [Frame("main.f", 0x1000, 0x104F, sp + 0x30, sp),
                         Frame("runtime.goexit", 0x2000, 0x2000, sp + 0x38, sp + 0x30)]
    # A running goroutine's PC is exact (no -1); a PC in no function stops the walk and says so.
    st2 = Stack(Goroutine(8, 2, 0, sp - 0x100, hi, 0x1000, sp, True), sp, bytes(stack))
    Unwinder(_Table()).unwind(st2)
    assert st2.frames[0].lookup_pc == 0x1000
    st3 = Stack(Goroutine(9, 4, 0, sp - 0x100, hi, 0x5000, sp, False), sp, bytes(stack))
    Unwinder(_Table()).unwind(st3)
    assert st3.frames == [] and st3.stopped.startswith("no function")


def test_plausible_headers_and_unique_names():
    assert _plausible("map", [0xC000010000]) and not _plausible("map", [0]) and not _plausible("map", [0xC000010001])
    assert _plausible("slice", [0xC000010000, 3, 4])
    assert not _plausible("slice", [0x2000, 0xC000010000, 0])  # a misread header: len > cap
    assert not _plausible("slice", [0, 0, 0]) and not _plausible("slice", [None, 1, 1])
    a = Root("main.f.m", "stack", "map", 1, "map[int]int", 5, "main.f")
    b = Root("main.g.p", "stack", "map", 2, "map[int]int", 5, "main.g")
    # one map in the outer frame (depth 3) and passed to the inner one (depth 1); another a global holds
    kept = _one_root_per_value([("main.g.p", 5, 1, b, ("map", 0xA), False), ("main.f.m", 5, 3, a, ("map", 0xA), False),
                                ("main.h.x", 6, 2, a, ("map", 0xB), False)], {("map", 0xB)})
    assert [k[0] for k in kept] == ["main.f.m"]
    # in one frame, the physical function's own variable wins over an inlined callee's parameter
    kept = _one_root_per_value([("main.a.p", 5, 1, b, ("map", 0xC), True), ("main.z.m", 5, 1, a, ("map", 0xC), False)],
                               set())
    assert [k[0] for k in kept] == ["main.z.m"]
    r = a
    out = _unique_names([("main.f.m", 5, 2, r), ("main.f.m", 9, 2, r), ("main.f.m", 9, 4, r), ("main.g.s", 5, 1, r)])
    assert [x.name for x in out] == ["main.f.m#5", "main.f.m#9/2", "main.f.m#9/4", "main.g.s"]


def test_stackmap_locals_stay_on_the_stack(toolchain, tmp_path):
    """The compiler's own escape analysis (-gcflags=-m): pending, history and the workers' m are never moved
    to the heap, so the only references to their map headers and the slice's array are in goroutine frames;
    tally's seen is (a closure may replace it), so only a pointer to the variable is in its frame."""
    from conftest import FLEET_DIR
    from goinspect.run.build import go_env

    out = subprocess.run([str(toolchain.go), "build", "-gcflags=-m", "-o", str(tmp_path / "stackmap"), "./cmd/stackmap"],
                         cwd=FLEET_DIR, env=go_env(toolchain), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    mine = [line for line in out.stderr.splitlines() if "cmd/stackmap/main.go" in line]
    assert any("make(map[int64]*record) escapes to heap" in line for line in mine), mine
    assert not any(re.search(r"moved to heap: (pending|history|m)$", line) for line in mine), mine
    # main.counter.m: its map literal does not escape, so the header is a stack object of counter's frame
    assert any(re.search(r"main.go:\d+:\d+: map\[int64\]int64\{\} does not escape", line) for line in mine), mine
    # main.tally.seen is the other case on purpose: the variable is on the heap, its frame holds &seen
    assert any(line.endswith("moved to heap: seen") for line in mine), mine


def test_frame_map_headers_pair_with_their_variables():
    """A map variable with no location pairs with the one stack object shaped like a map header (size and
    pointer mask) holding a plausible header; anything ambiguous is left out, never guessed."""
    from types import SimpleNamespace

    from goinspect.runtime.roots import StackContext, _stack_headers
    from goinspect.symbolize.pclntab import StackObject

    mask = bytes([0b101100])  # runtime.hmap: buckets, oldbuckets, extra
    cfa = 0x10000
    header = {cfa - 16 - 56 + 8 * k: w for k, w in enumerate([7, 0x0300, 0xC000100000, 0, 0, 0])}
    objs = (StackObject(-56, 48, 48, mask), StackObject(-328, 272, 272, b"\x00\x92$I\x02"),
            StackObject(-120, 48, 24, b"\x04"))  # the second and third: wrong shape
    table = SimpleNamespace(stack_objects=lambda func: objs)
    ctx = StackContext(None, 0, SimpleNamespace(table=table), None, None, (48, mask))
    st = SimpleNamespace(word=lambda a: header.get(a, 0))
    seen = LocalVar("main.f", "seen", "map", "map[int]int", (), (), (), False, True)
    [root] = _stack_headers(ctx, [seen], 1, cfa, st, 5, "main.f")
    assert (root.name, root.addr, root.inline_header, root.goroutine) == ("main.f.seen", cfa - 72, True, 5)
    assert root.map_header(None) == cfa - 72  # the header itself: nothing to dereference
    other = LocalVar("main.f", "other", "map", "map[string]int", (), (), (), False, True)
    assert _stack_headers(ctx, [seen, other], 1, cfa, st, 5, "main.f") is None  # two variables, one header
    empty = SimpleNamespace(word=lambda a: 0)  # an all-zero object: nothing allocated, nothing to report
    assert _stack_headers(ctx, [seen], 1, cfa, empty, 5, "main.f") == []
