"""Map/slice attribution (goinspect.profile.attribute) on real MemProfileRate=1 heap profiles.

The expected kind never comes from the code under test: it is written in the Go source
(``// kind: K`` markers in testdata/model/cmd/sites), read from the allocating line of a
fleet program by this file's own rules, or named by the scenario that made the
allocation (testdata/model/cmd/modelcheck) for the runtime-frame table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from goinspect.cli import COMMAND_MODULES
from goinspect.cli import main as cli_main
from goinspect.commands.profile_sites import COMMAND
from goinspect.profile.sourcefiles import source_line
from goinspect.errors import GoinspectError
from goinspect.model.version import GoVersion
from goinspect.profile.attribute import KINDS, attribute, kind_from_frames, line_hint
from goinspect.profile.load import load_profile
from goinspect.run.build import build_program
from goinspect.run.toolchain import ensure_go

MODULE = Path(__file__).resolve().parent.parent / "testdata" / "model"
FLEET_MAIN = Path(__file__).resolve().parent.parent / "testdata" / "fleet" / "cmd"


# --- the runtime-frame table against the frames real runtimes record -------------------------------
# What each modelcheck scenario allocates (its Go source says so; see testdata/model/cmd/modelcheck).
SCENARIO_KINDS = {
    "append": {"slice-growth"},
    "stackbuf": {"slice-growth"},
    "make_slices": {"slice-make"},
    "make_map": {"map-header", "map-buckets"},
    "insert": {"map-header", "map-buckets"},
}


def test_runtime_frames_name_the_kind(go_version):
    """Every allocation of every modelcheck scenario: the recorded runtime frames give the scenario's kind
    (or nothing, where Go <= 1.25 records no frame between mallocgc's caller and the user's function)."""
    exe = build_program(ensure_go(go_version), MODULE, "./cmd/modelcheck")
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=True).stdout
    seen: Counter = Counter()
    for line in out.splitlines():
        d = json.loads(line)
        if d["type"] != "alloc":
            continue
        frames = d["frames"] or []
        if any(f.startswith("runtime.") and ("gc" in f.lower() or "sudog" in f.lower()) and
               not f.startswith("runtime.mallocgc") for f in frames):
            continue  # the runtime's own side allocations (GC assist) charged to the scenario
        group = next(g for g in SCENARIO_KINDS if d["scenario"].startswith(g))
        kind = kind_from_frames(frames)
        seen[(group, kind)] += 1
        if kind is None:
            # Go <= 1.25 hides growslice/makeslice (its stacks skip mallocgc's caller); 1.26+ keeps them.
            assert GoVersion.parse(go_version) < GoVersion(1, 26), (d, go_version)
            assert not any("slice" in f for f in frames), frames
            assert group in ("append", "stackbuf", "make_slices"), (d, go_version)
        else:
            assert kind in SCENARIO_KINDS[group], (d["scenario"], frames, kind)
    # Both map kinds were really observed through frames, on every version.
    assert seen[("make_map", "map-header")] and seen[("make_map", "map-buckets")]
    assert seen[("insert", "map-buckets")]


# --- marked lines: testdata/model/cmd/sites -------------------------------------------------------------
@pytest.fixture(scope="module")
def sites_profiles(tmp_path_factory):
    """version -> (proto path, debug=1 path, exe) for the sites program."""
    made = {}

    def get(version: str):
        """``version`` may end in ``+noswissmap`` (built with that GOEXPERIMENT)."""
        if version not in made:
            release, _, experiment = version.partition("+")
            exe = build_program(ensure_go(release), MODULE, "./cmd/sites", goexperiment=experiment or None)
            d = tmp_path_factory.mktemp(f"sites-{version}")
            proto, text = d / "heap.pb.gz", d / "heap.txt"
            subprocess.run([str(exe), str(proto), str(text)], check=True, timeout=120)
            made[version] = (proto, text, exe)
        return made[version]

    return get


def _markers() -> dict[int, str]:
    path = MODULE / "cmd" / "sites" / "main.go"
    return {i: line.split("// kind:")[1].strip() for i, line in enumerate(path.read_text().splitlines(), start=1)
            if "// kind:" in line and not line.lstrip().startswith("//")}


@pytest.mark.parametrize("form", ["proto", "debug1"])
def test_marked_sites(go_version, sites_profiles, form):
    proto, text, exe = sites_profiles(go_version)
    profile = load_profile(str(proto)) if form == "proto" else load_profile(str(text), exe=str(exe))
    result = attribute(profile, go_version, source_line)
    markers = _markers()
    got = {s.line: s for s in result.sites if s.file.endswith("cmd/sites/main.go")}
    assert set(markers) <= set(got), f"marked lines missing from the profile: {set(markers) - set(got)}"
    for line, want in markers.items():
        assert got[line].kind == want, (line, got[line].to_json())
    if form == "debug1" and GoVersion.parse(go_version) >= GoVersion(1, 26):
        # Go 1.26 records growslice/makeslice frames: slice kinds need no source line there.
        for line, want in markers.items():
            assert "runtime frames" in got[line].evidence or want == "other", got[line].to_json()


def test_marked_sites_ladder_only(go_version, sites_profiles):
    """Without source text or runtime frames, growth is still recognized from block sizes alone;
    a lone make() or new() has one block size and cannot be (it is labelled other)."""
    proto, _, _ = sites_profiles(go_version)
    result = attribute(load_profile(str(proto)), go_version, None)
    got = {s.line: s for s in result.sites if s.file.endswith("cmd/sites/main.go")}
    grows = {line: want for line, want in _markers().items()
             if want in ("slice-growth", "map-buckets") and "make(" not in
             (MODULE / "cmd" / "sites" / "main.go").read_text().splitlines()[line - 1]}
    assert len(grows) >= 4
    for line, want in grows.items():
        assert got[line].kind == want, got[line].to_json()
        assert "size ladder fits" in got[line].evidence


@pytest.mark.allgo
@pytest.mark.parametrize("release", ["1.24.11", "1.25.5"])
def test_marked_sites_noswissmap(sites_profiles, release):
    """Go 1.24/1.25 built with GOEXPERIMENT=noswissmap have classic maps: the version read from the
    executable says so, and the classic ladders label the marked lines, with and without source."""
    from goinspect.symbolize.elf import go_release_of

    proto, text, exe = sites_profiles(f"{release}+noswissmap")
    built_by = go_release_of(str(exe))
    assert built_by == f"{release}+noswissmap"
    markers = _markers()
    for profile in (load_profile(str(proto)), load_profile(str(text), exe=str(exe))):
        got = {s.line: s for s in attribute(profile, built_by, source_line).sites
               if s.file.endswith("cmd/sites/main.go")}
        for line, want in markers.items():
            assert got[line].kind == want, json.dumps(got[line].to_json())
    ladder = {s.line: s for s in attribute(load_profile(str(proto)), built_by, None).sites
              if s.file.endswith("cmd/sites/main.go")}
    for line, want in markers.items():
        if want == "map-buckets" and "make(" not in (MODULE / "cmd" / "sites" / "main.go").read_text().splitlines()[line - 1]:
            assert ladder[line].kind == want and "classic bucket" in ladder[line].evidence, ladder[line].to_json()


def test_sample_kinds_cover_every_sample(go_version, sites_profiles):
    proto, _, _ = sites_profiles(go_version)
    profile = load_profile(str(proto))
    result = attribute(profile, go_version, source_line)
    assert result.codes.shape == (len(profile.samples),)
    assert set(result.kinds) <= set(KINDS)
    # Site byte totals add up to the profile's alloc_space total.
    col = [t.type for t in profile.sample_types].index("alloc_space")
    assert sum(s.bytes for s in result.sites) == int(profile.samples.values[:, col].sum())


# --- the fleet ------------------------------------------------------------------------------------------
def expected_kind(code: str) -> str | None:
    """What a fleet line allocates, by this test's own reading of the Go line (None: mixed or unknown)."""
    code = code.split("//", 1)[0]
    allocs = sum(bool(re.search(p, code)) for p in (r"\bappend\(", r"\bmake\(", r"&\w+\{", r"\bnew\("))
    if re.search(r"\bappend\(", code):
        return "slice-growth"
    if re.search(r"\bmake\(\[\]", code) and allocs == 1:
        return "slice-make"
    if re.search(r"\bmake\(map\[[^\]]*\][^,]*,", code):
        return "map-buckets"
    if re.search(r"=\s*map\[[^\]]*\][*\w.]+\{\}", code):
        return "map-header"
    if re.search(r"^\s*\w+(\.\w+)*\[[^\]]+\]\s*=[^=]", code) and allocs == 0:
        return "map-buckets"
    if re.search(r":=\s*&\w+\{", code) and allocs == 1:
        return "other"
    return None


FLEET = ["leakmap", "deletedmap", "churn", "slicepin", "valueleak", "ptrfreemap", "overflowmap", "lru", "stuckgrow"]


@pytest.mark.parametrize("name", FLEET)
def test_fleet_sites(go_version, fleet_service, fleet_exe, tmp_path, name):
    main_go = FLEET_MAIN / name / "main.go"
    lines = main_go.read_text().splitlines()
    labelled = {i: lines[i - 1] for i in range(1, len(lines) + 1) if "// site:" in lines[i - 1]}
    with fleet_service(name, memprofilerate=1) as svc:
        svc.advance(3)
        proto = tmp_path / "heap.pb.gz"
        proto.write_bytes(svc.heap_profile(debug=0))
        text = tmp_path / "heap.txt"
        text.write_bytes(svc.heap_profile(debug=1))
    checked = 0
    for form, profile in (("proto", load_profile(str(proto))),
                          ("debug1", load_profile(str(text), exe=str(fleet_exe(name))))):
        result = attribute(profile, go_version, source_line)
        got = {s.line: s for s in result.sites if Path(s.file) == main_go}
        for line, code in labelled.items():
            if line not in got:
                continue  # a site the steps so far did not reach (e.g. a rebuild phase)
            want = expected_kind(code)
            site = got[line]
            if want is None:
                # Mixed lines: a map assignment of a fresh &T{} is map growth (if the map grew there)
                # plus the objects; never a slice.
                if re.search(r"^\s*\w+\[[^\]]+\]\s*=\s*&", code):
                    assert set(site.kinds) <= {"map-buckets", "other"}, (form, line, site.to_json())
                continue
            assert site.kind == want, (form, name, line, code.strip(), json.dumps(site.to_json()))
            checked += 1
    assert checked, f"no labelled line of {name} was checked"


def test_line_hint_reads_go():
    assert line_hint("\tbatch = append(batch, r) // x") == "append"
    assert line_hint("\ttable = make(map[int64]*item, fillN)") == "make-map"
    assert line_hint("\trebuilt = map[int64]*entry{}") == "make-map"
    assert line_hint("\tbig := make([]int64, bigLen)") == "make-slice"
    assert line_hint("\tcounters[k] = 0") == "map-assign"
    assert line_hint("\ttable[next] = &item{key: next}") == "map-assign"
    assert line_hint("\te := &entry{id: i}") == "new-object"
    assert line_hint("\tif a[i] == b {") is None
    assert line_hint("// counters[k] = 0") is None


def run_sites(argv: list[str]) -> int:
    """``goinspect profile sites ARGS`` through the CLI once cli.py lists the command, else straight through it."""
    if ("profile", "profile_sites") in COMMAND_MODULES:
        return cli_main(["profile", "sites", *argv])
    parser = argparse.ArgumentParser(prog="goinspect profile sites")
    COMMAND.prepare_parser(parser)
    try:
        return COMMAND.run(parser.parse_args(argv))
    except GoinspectError as e:
        print(f"goinspect: error: {e}", file=sys.stderr)
        return e.exit_code


def test_sites_command(go_version, sites_profiles, capsys):
    proto, _, _ = sites_profiles(go_version)
    assert run_sites([str(proto), "--go", go_version, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["go_version"].startswith(go_version.rsplit(".", 1)[0])
    kinds = {s["line"]: s["kind"] for s in data["sites"] if s["file"].endswith("cmd/sites/main.go")}
    assert all(kinds[line] == want for line, want in _markers().items())
    assert run_sites([str(proto)]) == 0
    out = capsys.readouterr().out
    assert "no Go version given" in out and "map-buckets" in out


def test_sites_command_reads_version_from_exe(go_version, sites_profiles, capsys):
    """With --exe and no --go, the Go version comes from the executable's build info."""
    _, text, exe = sites_profiles(go_version)
    assert run_sites([str(text), "--exe", str(exe), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["go_version"] == go_version and "read from --exe" in data["version_note"]


def test_sites_command_bad_version(tmp_path, capsys):
    p = tmp_path / "x.pb.gz"
    p.write_bytes(b"")
    assert run_sites([str(p), "--go", "banana"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("goinspect: error:") and "Traceback" not in err


def test_marked_sites_at_the_default_rate_are_never_mislabelled(go_version, tmp_path):
    """At the default MemProfileRate (512 KiB) only some allocations are sampled and every size ladder
    has gaps: a sampled marked line must get its own kind or an honest "other" — never another kind —
    and lines whose source says what they do (append, make) still get theirs."""
    exe = build_program(ensure_go(go_version), MODULE, "./cmd/sites")
    proto, text = tmp_path / "heap.pb.gz", tmp_path / "heap.txt"
    subprocess.run([str(exe), str(proto), str(text)], check=True, timeout=120,
                   env={**os.environ, "SITES_MEMPROFILERATE": str(512 * 1024)})
    profile = load_profile(str(proto))
    assert profile.period == 512 * 1024
    result = attribute(profile, go_version, source_line)
    markers = _markers()
    got = {s.line: s for s in result.sites if s.file.endswith("cmd/sites/main.go") and s.line in markers}
    assert got, "no marked line was sampled at all"
    source = (MODULE / "cmd" / "sites" / "main.go").read_text().splitlines()
    right = [line for line, s in got.items() if s.kind == markers[line]]
    for line, s in got.items():
        allowed = {markers[line], "other"}
        if "make(map" in source[line - 1]:
            # make(map, hint) allocates a header and buckets/tables; the marker names what dominates
            # when every allocation is recorded, but a sampled profile may have caught only the header.
            allowed |= {"map-header", "map-buckets"}
        assert s.kind in allowed, (line, markers[line], s.to_json())
    assert right, {line: s.to_json() for line, s in got.items()}
