"""The legacy ``?debug=1`` heap profile and its symbolization through the executable.

Ground truth comes from outside goinspect: the profiles are served by real fleet
programs, totals and per-sample values come from ``go tool pprof`` of the same
toolchain on the same file, symbols from ``go tool addr2line``/``go tool nm``
and from the runtime's own comment lines, and the sampling scale from Go's
``math.Exp`` compiled by that toolchain.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goinspect.errors import InputError, ProfileError
from goinspect.profile import legacy
from goinspect.profile.load import load_profile
from goinspect.run.build import build_program, go_env
from goinspect.run.process import GoService
from goinspect.symbolize.binary import open_executable
from goinspect.symbolize.elf import ElfImage
from goinspect.symbolize.pclntab import PcLnTab

from conftest import FLEET_DIR

SAMPLE_TYPES = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
_COMMENT = re.compile(r"^#\t(0x[0-9a-f]+)\t(\S.*?)\+0x[0-9a-f]+\t+(.*):(\d+)$", re.M)


def go_tool(toolchain, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [str(toolchain.go), "tool", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=go_env(toolchain),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def served(fleet_service, fleet_exe, tmp_path_factory, go_version):
    """Two real ?debug=1 profiles from leakmap (every allocation, and default sampling) and its binary."""
    out = {}
    for rate in (1, None):
        with fleet_service("leakmap", memprofilerate=rate) as svc:
            svc.advance(5 if rate == 1 else 40)
            data = svc.heap_profile(debug=1)
        path = tmp_path_factory.mktemp(f"legacy-{go_version}") / f"heap-rate{rate or 'default'}.txt"
        path.write_bytes(data)
        out[rate] = path
    return fleet_exe("leakmap"), out


def pprof_total(toolchain, exe: Path, path: Path, sample_index: str) -> int:
    top = go_tool(toolchain, "pprof", "-top", "-unit=B", f"-sample_index={sample_index}", str(exe), str(path))
    m = re.search(r"of (\d+)B? total", top)
    assert m, top
    return int(m.group(1))


def pprof_raw_samples(toolchain, exe: Path, path: Path) -> Counter:
    """Every sample of ``pprof -raw`` as (values..., bytes label)."""
    raw = go_tool(toolchain, "pprof", "-raw", str(exe), str(path))
    section = raw.split("Samples:", 1)[1].split("Locations", 1)[0]
    samples: Counter = Counter()
    values = None
    for line in section.splitlines()[1:]:
        m = re.match(r"^\s+((?:-?\d+\s+)+-?\d+):", line)
        if m:
            values = tuple(int(v) for v in m.group(1).split())
            continue
        b = re.search(r"bytes:\[(\d+)\]", line)
        if b and values is not None:
            samples[values + (int(b.group(1)),)] += 1
            values = None
    return samples


@pytest.mark.parametrize("rate", [1, None], ids=["rate1", "default-rate"])
def test_totals_and_samples_equal_pprof(served, toolchain, rate):
    exe, paths = served
    path = paths[rate]
    prof = legacy.parse(path.read_bytes(), exe=str(exe), name=str(path))
    assert [t.type for t in prof.sample_types] == SAMPLE_TYPES
    totals = prof.samples.values.sum(axis=0)
    for i, st in enumerate(SAMPLE_TYPES):
        assert int(totals[i]) == pprof_total(toolchain, exe, path, st), st
    ours = Counter(
        tuple(int(v) for v in row) + (int(b),)
        for row, b in zip(prof.samples.values, prof.samples.num_labels["bytes"].values)
    )
    assert ours == pprof_raw_samples(toolchain, exe, path)
    expected_period = 1 if rate == 1 else 512 * 1024
    assert prof.period == expected_period


def test_symbols_equal_addr2line_and_runtime_comments(served, toolchain):
    exe, paths = served
    path = paths[1]
    text = path.read_text()
    prof = legacy.parse(text.encode(), exe=str(exe), name=str(path))
    # go tool addr2line (debug/gosym) names a PC by its physical function and the innermost line.
    addrs = [loc.address for loc in prof.locations]
    out = go_tool(toolchain, "addr2line", str(exe), stdin="".join(f"{a:#x}\n" for a in addrs)).splitlines()
    assert len(out) == 2 * len(addrs)
    for i, loc in enumerate(prof.locations):
        ours = (loc.lines[-1].function.name, f"{loc.lines[0].function.filename}:{loc.lines[0].line}")
        assert ours == (out[2 * i], out[2 * i + 1]), hex(loc.address)
    # The runtime's comment lines come from runtime.CallersFrames: one innermost frame per PC.
    table, _ = open_executable(str(exe))
    comments = _COMMENT.findall(text)
    assert comments
    frames = table.frames([int(pc, 16) for pc, *_ in comments])
    for pc, func, file, line in comments:
        inner = frames[int(pc, 16)][0]
        assert (legacy.print_name(inner.function), inner.file, inner.line) == (func, file, int(line)), pc


def test_runtime_frames_come_back_with_exe(served, go_version):
    exe, paths = served
    data = paths[1].read_bytes()
    with_exe = legacy.parse(data, exe=str(exe), name="heap")
    names = {ln.function.name for loc in with_exe.locations for ln in loc.lines}
    minor = int(go_version.split(".")[1])
    if minor >= 24:
        map_frames = {n for n in names if n.startswith("internal/runtime/maps.")}
        assert map_frames, sorted(names)
    else:
        map_frames = {"runtime.mapassign_fast64", "runtime.makeBucketArray", "runtime.hashGrow"}
        assert map_frames <= names
    # Without the binary only the frames the runtime printed get names: leading runtime frames stay bare PCs.
    without = legacy.parse(data, exe=None, name="heap")
    bare = {ln.function.name for loc in without.locations for ln in loc.lines}
    assert not map_frames & bare
    assert "main.step" in bare
    bare_leaves = [without.locations[int(i)] for i in without.samples.locs[without.samples.loc_offsets[:-1]]]
    assert any(not loc.lines for loc in bare_leaves)
    assert np.array_equal(without.samples.values, with_exe.samples.values)
    assert with_exe.drop_frames == legacy.DROP_FRAMES and with_exe.fold_inlined
    assert not without.fold_inlined


def test_inlined_frames_are_lines_callee_first(served):
    exe, paths = served
    prof = legacy.parse(paths[1].read_bytes(), exe=str(exe), name="heap")
    table, _ = open_executable(str(exe))
    multi = [loc for loc in prof.locations if len(loc.lines) > 1]
    assert multi, "expected some allocation PC inside inlined code"
    for loc in multi:
        frames = table.frames([loc.address])[loc.address]
        assert [ln.function.name for ln in loc.lines] == [f.function for f in frames]
        # The outermost line is the physical function that holds the PC.
        idx = int(table.func_indexes(np.array([loc.address]))[0])
        assert loc.lines[-1].function.name == table.func_name(idx)


def test_wrong_executable_is_rejected(served, fleet_exe):
    _exe, paths = served
    other = fleet_exe("manystacks")
    with pytest.raises(ProfileError, match=r"was not written by .*manystacks"):
        legacy.parse(paths[1].read_bytes(), exe=str(other), name="heap")


def test_stripped_binary_symbolizes_the_same(served, toolchain):
    exe, paths = served
    stripped = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=("-ldflags=-s -w",))
    assert ElfImage(stripped).section(".symtab") is None
    data = paths[1].read_bytes()
    full = legacy.parse(data, exe=str(exe), name="heap")
    bare = legacy.parse(data, exe=str(stripped), name="heap")
    assert [loc.lines for loc in bare.locations] == [loc.lines for loc in full.locations]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"just some text\n", r"not an ELF"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00>\x00" + b"\0" * 44, r"not a readable ELF|no .gopclntab|no .text"),
    ],
    ids=["text-file", "broken-elf"],
)
def test_not_a_go_executable(served, tmp_path, content, message):
    _exe, paths = served
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    with pytest.raises(ProfileError, match=message):
        legacy.parse(paths[1].read_bytes(), exe=str(bad), name="heap")


def test_non_go_elf_and_missing_file(served, tmp_path):
    _exe, paths = served
    data = paths[1].read_bytes()
    with pytest.raises(ProfileError, match=r"no .gopclntab|not a Go executable"):
        legacy.parse(data, exe="/bin/true", name="heap")
    with pytest.raises(InputError, match="cannot open executable"):
        legacy.parse(data, exe=str(tmp_path / "missing"), name="heap")


def test_bad_text_names_line_and_defect(served):
    _exe, paths = served
    text = paths[None].read_bytes()
    lines = text.split(b"\n")
    sample_no = next(i for i, ln in enumerate(lines) if ln and ln[0:1].isdigit())
    # A sample line cut in the middle.
    cut = b"\n".join(lines[:sample_no] + [lines[sample_no][:7]])
    with pytest.raises(ProfileError, match=rf"line {sample_no + 1}: not a heap sample"):
        legacy.parse(cut, exe=None, name="heap")
    # Cut between lines: the header's totals no longer add up.
    last_sample = max(i for i, ln in enumerate(lines) if ln and ln[0:1].isdigit())
    with pytest.raises(ProfileError, match=r"line 1 counts .* but the samples add up to .*truncated"):
        legacy.parse(b"\n".join(lines[:last_sample]), exe=None, name="heap")
    # A count of zero with bytes.
    parts = lines[sample_no].split(b" @", 1)
    zeroed = b"0: 0 [0: 64] @" + parts[1]
    with pytest.raises(ProfileError, match=rf"line {sample_no + 1}: allocation count is 0 but allocation bytes is 64"):
        legacy.parse(b"\n".join(lines[:sample_no] + [zeroed] + lines[sample_no + 1 :]), exe=None, name="heap")
    # Only a header.
    with pytest.raises(ProfileError, match="no samples"):
        legacy.parse(lines[0] + b"\n", exe=None, name="heap")


def test_load_profile_dispatches_text_form(served):
    exe, paths = served
    assert legacy.looks_like_text(paths[1].read_bytes())
    assert not legacy.looks_like_text(b"\x1f\x8b\x08\x00")
    prof = load_profile(str(paths[1]), exe=str(exe))
    assert prof.fold_inlined and len(prof.samples) > 0


# --- the pclntab decoder on its own ----------------------------------------------------------


def test_pclntab_names_equal_nm_and_addr2line(fleet_exe, toolchain):
    exe = fleet_exe("leakmap")
    table = PcLnTab(ElfImage(exe))
    nm = go_tool(toolchain, "nm", str(exe))
    text_syms: dict[int, set[str]] = {}
    gofunc = None
    for line in nm.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in ("T", "t"):
            text_syms.setdefault(int(parts[0], 16), set()).add(parts[2].removesuffix(".abi0"))
        if len(parts) == 3 and parts[2] == "go:func.*":
            gofunc = int(parts[0], 16)
    entries = table.function_entries()
    named = 0
    for i, entry in enumerate(entries.tolist()):
        if entry in text_syms:
            # The ELF symbol table spells the middle dot of compiler-made names as ".".
            assert table.func_name(i).replace("\u00b7", ".") in text_syms[entry], hex(entry)
            named += 1
    assert named > 0.9 * len(entries)
    if gofunc is not None:
        assert table.gofunc == gofunc
    # PCs spread over the whole text: entries and points inside functions.
    rng = np.random.default_rng(7)
    pick = rng.choice(len(entries) - 1, size=min(400, len(entries) - 1), replace=False)
    span = entries[pick + 1] - entries[pick]
    pcs = np.unique(np.concatenate([entries[pick], entries[pick] + rng.integers(0, np.maximum(span, 1))]))
    frames = table.frames(pcs)
    out = go_tool(toolchain, "addr2line", str(exe), stdin="".join(f"{pc:#x}\n" for pc in pcs.tolist())).splitlines()
    for k, pc in enumerate(pcs.tolist()):
        fr = frames[pc]
        assert (fr[-1].function, f"{fr[0].file}:{fr[0].line}") == (out[2 * k], out[2 * k + 1]), hex(pc)
    # Outside the text, no function.
    assert table.func_indexes(np.array([0, table.text_start - 1, 1 << 60])).tolist() == [-1, -1, -1]


_SCALE_GO = """package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
)

// The scaling of google/pprof's scaleHeapSample, compiled by the toolchain under test.
func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var count, size, rate int64
		fmt.Sscan(in.Text(), &count, &size, &rate)
		avg := float64(size) / float64(count)
		scale := 1 / (1 - math.Exp(-avg/float64(rate)))
		fmt.Println(int64(float64(count)*scale), int64(float64(size)*scale))
	}
}
"""


def test_scale_equals_go_math(toolchain, tmp_path):
    (tmp_path / "go.mod").write_text("module scale\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text(_SCALE_GO)
    exe = build_program(toolchain, tmp_path, ".")
    rng = np.random.default_rng(3)
    n = 20000
    count = rng.integers(1, 100000, size=n)
    block = np.exp(rng.uniform(np.log(8), np.log(1 << 22), size=n)).astype(np.int64) + 1
    size = count * block
    rate = rng.choice([2, 4096, 512 * 1024, 1 << 20], size=n)
    stdin = "".join(f"{c} {s} {r}\n" for c, s, r in zip(count, size, rate))
    proc = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, timeout=120)
    want = np.array([[int(v) for v in line.split()] for line in proc.stdout.splitlines()])
    got = np.empty((n, 2), dtype=np.int64)
    for r in np.unique(rate):
        sel = rate == r
        c, s = legacy.scale_heap_sample(count[sel], size[sel], int(r))
        got[sel, 0], got[sel, 1] = c, s
    assert np.array_equal(got, want)


# --- property: any damage gives a Profile or one ProfileError, never another exception ------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_text_never_crashes(served, data):
    exe, paths = served
    text = paths[None].read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "byte", "drop-line", "dup-line", "splice"]))
    if kind == "truncate":
        damaged = text[: data.draw(st.integers(0, len(text)))]
    elif kind == "byte":
        i = data.draw(st.integers(0, len(text) - 1))
        damaged = text[:i] + bytes([data.draw(st.integers(0, 255))]) + text[i + 1 :]
    else:
        lines = text.split(b"\n")
        i = data.draw(st.integers(0, len(lines) - 1))
        if kind == "drop-line":
            lines = lines[:i] + lines[i + 1 :]
        elif kind == "dup-line":
            lines = lines[: i + 1] + lines[i:]
        else:
            lines[i] = data.draw(st.binary(max_size=40))
        damaged = b"\n".join(lines)
    use_exe = data.draw(st.booleans())
    try:
        prof = legacy.parse(damaged, exe=str(exe) if use_exe else None, name="heap")
    except ProfileError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert len(prof.samples) > 0
        assert prof.samples.loc_offsets[-1] == len(prof.samples.locs)
        assert int(prof.samples.locs.max(initial=0)) < len(prof.locations)


def test_pie_executable_symbolizes_through_its_load_bias(served, toolchain, tmp_path):
    """A PIE build serves its own profile; comment lines place the binary, symbols equal the non-PIE path's rules."""
    pie = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=("-buildmode=pie",))
    assert ElfImage(pie).is_pie
    with GoService(pie, (), {"GODEBUG": "memprofilerate=1"}) as svc:
        svc.advance(2)
        text = svc.heap_profile(debug=1).decode()
    prof = legacy.parse(text.encode(), exe=str(pie), name="heap")
    by_address = {loc.address: loc for loc in prof.locations}
    comments = _COMMENT.findall(text)
    assert comments
    for pc, func, file, line in comments:
        loc = by_address.get(int(pc, 16))
        if loc is not None:
            assert (legacy.print_name(loc.lines[0].function.name), loc.lines[0].function.filename,
                    loc.lines[0].line) == (func, file, int(line)), pc
    names = {ln.function.name for loc in prof.locations for ln in loc.lines}
    assert "runtime.mapassign_fast64" in names or any(n.startswith("internal/runtime/maps.") for n in names)
    # The non-PIE build of the same program is not the binary that wrote it.
    with pytest.raises(ProfileError, match="was not written by"):
        legacy.parse(text.encode(), exe=str(served[0]), name="heap")
