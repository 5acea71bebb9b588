"""goinspect's reports equal ``go tool pprof`` of the same toolchain on the same real fleet profiles.

For both default Go versions and every heap sample type: the total, the
"showing" sum, the dropped-node count and every row of ``-top`` (name, flat,
cum, inline marker, in order) at functions/lines/files granularity and with
-focus/-ignore; the absolute diff against ``-diff_base``; per-line values
against ``-list``; and exported profiles re-read by pprof.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pprof_ref import assert_top_agrees, goinspect_args, goinspect_cli, goinspect_json, pprof_top, run_pprof

SAMPLE_INDEXES = ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")


@pytest.fixture(scope="module")
def profiles(go_version, fleet_service, tmp_path_factory) -> dict[str, Path]:
    """Real heap profiles served by fleet programs (exact at MemProfileRate=1, and scaled at the default rate)."""
    out = tmp_path_factory.mktemp(f"agreement-{go_version}")
    paths: dict[str, Path] = {}

    def save(name: str, svc) -> None:
        paths[name] = out / f"{name}.pb.gz"
        paths[name].write_bytes(svc.heap_profile())

    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(1)
        save("leakmap_1", svc)
        svc.advance(2)
        save("leakmap_3", svc)
    with fleet_service("churn") as svc:  # default MemProfileRate: sampled, scaled values
        svc.advance(3)
        save("churn", svc)
    with fleet_service("lru", memprofilerate=1) as svc:
        svc.advance(2)
        save("lru", svc)
    return paths


def check_top(toolchain, path: Path, **opts) -> dict:
    ref = pprof_top(toolchain.go, path, **opts)
    ours = goinspect_json("profile", "top", str(path), *goinspect_args(**opts))
    assert_top_agrees(ours, ref)
    return ours


@pytest.mark.parametrize("sample_index", SAMPLE_INDEXES)
@pytest.mark.parametrize("program", ["leakmap_3", "churn", "lru"])
def test_top_functions_match_pprof(toolchain, profiles, program, sample_index):
    ours = check_top(toolchain, profiles[program], sample_index=sample_index)
    assert ours["sample_index"] == sample_index
    assert ours["rows"], "no rows: nothing was compared"


@pytest.mark.parametrize("sample_index", SAMPLE_INDEXES)
@pytest.mark.parametrize("granularity", ["lines", "files"])
def test_top_lines_and_files_match_pprof(toolchain, profiles, granularity, sample_index):
    ours = check_top(toolchain, profiles["leakmap_3"], sample_index=sample_index, granularity=granularity)
    if granularity == "lines":
        assert all(":" in r["name"] for r in ours["rows"])


def test_top_default_sample_index_matches_pprof(toolchain, profiles):
    """No --sample-index: the profile's default type (else the last), as pprof picks it."""
    ours = check_top(toolchain, profiles["leakmap_3"])
    header = pprof_top(toolchain.go, profiles["leakmap_3"]).header
    assert f"Type: {ours['sample_index']}" in header


@pytest.mark.parametrize("sample_index", ["alloc_space", "inuse_objects"])
@pytest.mark.parametrize("filters", [
    {"focus": r"main\."},
    {"ignore": "fleetkit"},
    {"focus": "cmd/lru/", "granularity": "lines"},  # matches a file name, not a function name
    {"focus": r"main\.", "ignore": r"main\.get"},
    {"nodecount": 3},
    {"node_fraction": 0},
])
def test_top_with_filters_and_trimming_matches_pprof(toolchain, profiles, sample_index, filters):
    ours = check_top(toolchain, profiles["lru"], sample_index=sample_index, **filters)
    if "focus" in filters or "ignore" in filters:
        assert ours["filters"]


@pytest.mark.parametrize("sample_index", SAMPLE_INDEXES)
def test_diff_matches_pprof_diff_base(toolchain, profiles, sample_index):
    base, cur = profiles["leakmap_1"], profiles["leakmap_3"]
    ref = pprof_top(toolchain.go, cur, sample_index=sample_index, diff_base=base)
    ours = goinspect_json("profile", "diff", str(base), str(cur), "--sample-index", sample_index)
    assert_top_agrees(ours, ref)
    # The leak grew between step 1 and step 3, and the diff's total is the base profile's.
    base_top = goinspect_json("profile", "top", str(base), "--sample-index", sample_index)
    assert ours["total"] == base_top["total"]
    assert sum(r["flat"] for r in ours["rows"]) > 0


def test_exported_diff_reads_back_in_pprof_with_the_same_rows(toolchain, profiles, tmp_path):
    base, cur = profiles["leakmap_1"], profiles["leakmap_3"]
    out = tmp_path / "diff.pb.gz"
    goinspect_cli("profile", "export", str(cur), "--diff-base", str(base), "-o", str(out))
    for sample_index in ("alloc_space", "inuse_objects"):
        ref = pprof_top(toolchain.go, out, sample_index=sample_index)
        ours = goinspect_json("profile", "diff", str(base), str(cur), "--sample-index", sample_index)
        assert_top_agrees(ours, ref)


def test_exported_focus_profile_has_the_focused_total_in_pprof(toolchain, profiles, tmp_path):
    src = profiles["lru"]
    out = tmp_path / "focus.pb.gz"
    goinspect_cli("profile", "export", str(src), "--focus", r"main\.get", "--sample-index", "inuse_space",
                  "-o", str(out))
    ref = pprof_top(toolchain.go, out)
    focused = goinspect_json("profile", "top", str(src), "--focus", r"main\.get", "--sample-index", "inuse_space",
                             "--node-fraction", "0")
    unfocused = goinspect_json("profile", "top", str(src), "--sample-index", "inuse_space")
    assert ref.header and "Type: inuse_space" in ref.header
    assert ref.total == focused["shown"] > 0
    assert ref.total < unfocused["total"]
    assert_top_agrees(goinspect_json("profile", "top", str(out)), ref)


_LIST_ROW = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\d+):")


def pprof_list(go: Path, path: Path, regex: str, sample_index: str) -> dict[tuple[str, int], tuple[int, int]]:
    """Per (function, line) flat/cum from ``pprof -list`` (lines with a value only)."""
    text = run_pprof(go, ["-list", regex, "-symbolize=none", "-unit=B", f"-sample_index={sample_index}", str(path)])
    out: dict[tuple[str, int], tuple[int, int]] = {}
    fn = ""
    for line in text.splitlines():
        if line.startswith("ROUTINE"):
            fn = line.split("======================== ", 1)[1].rsplit(" in ", 1)[0]
            continue
        m = _LIST_ROW.match(line)
        if m and (m[1] != "." or m[2] != "."):
            val = lambda s: 0 if s == "." else int(float(s.removesuffix("B")))  # noqa: E731
            out[(fn, int(m[3]))] = (val(m[1]), val(m[2]))
    return out


@pytest.mark.parametrize("sample_index", ["alloc_space", "inuse_objects"])
def test_list_matches_pprof_list(toolchain, profiles, fleet_site, sample_index):
    path = profiles["lru"]
    ours = goinspect_json("profile", "list", r"main\.get", str(path), "--sample-index", sample_index)
    got = {(f["function"], ln["line"]): (ln["flat"], ln["cum"])
           for f in ours["functions"] for ln in f["lines"] if ln["flat"] or ln["cum"]}
    assert got == pprof_list(toolchain.go, path, r"main\.get", sample_index)
    # The program's own allocation site is listed with its source text and a value.
    file, line = fleet_site("lru", "value_make")
    fn = next(f for f in ours["functions"] if f["function"] == "main.get")
    row = next(ln for ln in fn["lines"] if ln["line"] == line)
    assert fn["source_error"] is None and "site: value_make" in row["source"] and row["flat"] > 0
