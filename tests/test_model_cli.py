"""`goinspect model` through the real command line, compared with what real Go programs print.

Ground truth comes from testdata/model: cmd/modelcheck (capacities of one-at-a-time appends,
block sizes of make([]T, n) from runtime.MemProfile) and cmd/mapstate (map headers and tables
read through unsafe). Go 1.23.9 and 1.26.6 always; every release with --go-all.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from goinspect import cli
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


def goinspect(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The installed ``goinspect`` once the model command is registered in goinspect/cli.py;
    until then the same CLI entry point run through goinspect.commands.model.main."""
    if (None, "model") in cli.COMMAND_MODULES:
        cmd = [str(Path(sys.executable).with_name("goinspect")), "model", *args]
    else:
        cmd = [sys.executable, "-m", "goinspect.commands.model", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def model_json(*args: str) -> dict:
    """``goinspect model ... --json`` through the CLI's own entry point (cli.main) in this process:
    the same parser, command and error handling as the executable, without 0.3 s of start-up per call."""
    registered = (None, "model") in cli.COMMAND_MODULES
    if not registered:
        cli.COMMAND_MODULES.append((None, "model"))
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = cli.main(["model", *args, "--json"])
    finally:
        if not registered:
            cli.COMMAND_MODULES.remove((None, "model"))
    assert rc == 0
    return json.loads(buf.getvalue())


def run_go(version: str, package: str) -> list[dict]:
    release, _, experiment = version.partition("+")
    exe = build_program(ensure_go(release), MODULE, package, goexperiment=experiment or None)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module", params=VERSIONS)
def version(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def modelcheck(version) -> list[dict]:
    return run_go(version, "./cmd/modelcheck")


@pytest.fixture(scope="module")
def mapstate(version) -> list[dict]:
    return run_go(version, "./cmd/mapstate")


def test_growslice_caps_equal_go(version, modelcheck):
    caps = [d for d in modelcheck if d["type"] == "caps"]
    appends = next(d for d in modelcheck if d["type"] == "params")["appends"]
    assert len(caps) >= 8
    for d in caps:
        args = ["growslice", "--elem-size", str(d["elem"]), "--appends", str(appends), "--go", version]
        out = model_json(*args, *(["--pointers"] if d["pointers"] else []))
        assert [g["cap"] for g in out["growths"]] == d["caps"], d["name"]
        for g in out["growths"]:  # each row shows the step from nextslicecap through roundupsize to cap
            assert g["requested_bytes"] == g["nextslicecap"] * d["elem"]
            assert g["cap"] == g["roundupsize_bytes"] // d["elem"] and g["cap"] >= g["nextslicecap"]


def test_growslice_why(version, modelcheck):
    """`--why CAP` explains a capacity Go really produced (int64 elements), and rejects one it never does."""
    real = next(d for d in modelcheck if d["type"] == "caps" and d["name"] == "i64")["caps"]
    cap = real[-3]
    p = goinspect("growslice", "--elem", "int64", "--why", str(cap), "--go", version)
    assert f"=> cap {cap} " in p.stdout and " -> ".join(map(str, real[:real.index(cap) + 1])) in p.stdout
    missing = next(c for c in range(real[-3] + 1, real[-2]))
    bad = goinspect("growslice", "--elem", "int64", "--why", str(missing), "--go", version, check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "never occurs" in bad.stderr


def test_sizeclass_equals_go_blocks(version, modelcheck):
    """make([]T, n) asks for exactly n*size bytes: the block runtime.MemProfile recorded is the CLI's block."""
    params = next(d for d in modelcheck if d["type"] == "params")
    real: collections.Counter = collections.Counter()
    for d in modelcheck:
        frames = [f for f in d.get("frames") or [] if not f.startswith("runtime.mallocgc")]  # and 1.24+'s halves
        if d["type"] == "alloc" and d["scenario"] == "make_slices" and frames in ([], ["runtime.makeslice"]):
            real[d["block"]] += d["objects"]
    model: collections.Counter = collections.Counter()
    noscan = [str(8 * n) for n in params["makeLens"]]
    pointers = [str(k * n) for n in params["makeLens"] for k in (8, 24)]
    for sizes, flags in ((noscan, []), (pointers, ["--pointers"])):
        for c in model_json("sizeclass", *sizes, "--go", version, *flags)["sizes"]:
            model[c["block"]] += 1
    tiny = sum(1 for n in params["makeLens"] if 8 * n < 16)  # packed into a tiny block: not sampled
    assert model[16] - tiny <= real[16] <= model[16]
    real[16] = model[16] = 0
    assert real == model


def test_map_make_hint_equals_go(version, mapstate):
    layout = next(d["layout"] for d in mapstate if d["kind"] == "layout")
    for d in (d for d in mapstate if d["kind"] == "hint"):
        out = model_json("map", "--key", "int64", "--elem", "int64", "--hint", str(d["n"]), "--go", version)
        assert out["layout"] == layout
        if layout == "classic":
            assert out["B"] == d["B"] and out["buckets"] + out["preallocated_overflow"] == d["nbuckets"], d
        else:
            m = out["make"]
            assert (m["dir_len"], m["global_depth"]) == (d["dirLen"], d["globalDepth"]), d
            assert [(m["table_capacity"], m["growth_left"])] * m["tables"] == [
                (t["capacity"], t["growthLeft"]) for t in d["tables"] or []], d


def test_map_entries_and_next_grow_equal_go(version, mapstate):
    """After N inserts from empty: B (classic) or the table (Swiss), and the key that starts the next grow."""
    layout = next(d["layout"] for d in mapstate if d["kind"] == "layout")
    if layout == "classic":
        grow_at = {g["before"]["B"]: g["before"]["count"] + 1 for g in mapstate
                   if g["kind"] == "grow" and not g["after"]["sameSize"]}
    else:
        grow_at = sorted(g["at"] for g in next(d for d in mapstate if d["kind"] == "grows")["grows"])
    checked = 0
    for d in (d for d in mapstate if d["kind"] == "inserts"):
        n = d["n"]
        out = model_json("map", "--key", "int64", "--elem", "int64", "--entries", str(n), "--go", version)
        if layout == "classic":
            assert out["B"] == d["B"], d
            if d["B"] in grow_at:
                assert out["grows_at_count"] == grow_at[d["B"]]
                assert n + out["new_keys_until_grow"] == grow_at[d["B"]]
                checked += 1
        elif n <= 896:
            t = out["tables"]
            assert t["small"] == (d["dirLen"] == 0) and t["exact"]
            assert [t["capacity_each"]] * t["count"] == [x["capacity"] for x in d["tables"] or []], d
            assert [t["max_load_each"] - n] * t["count"] == [x["growthLeft"] for x in d["tables"] or []], d
            assert n + out["new_keys_until_grow"] == next(a for a in grow_at if a > n)
            checked += 1
        else:
            t = out["tables"]
            assert t["min"] <= len(d["tables"]) <= t["max"] and not t["exact"], (d["n"], t)
    assert checked >= 5


def test_map_noverflow_band_contains_go(version, mapstate):
    sampled = [d for d in mapstate if d["kind"] == "sampled"]
    if not sampled:
        pytest.skip("Swiss maps have no noverflow")
    for d in sampled:
        out = model_json("map", "--key", "int64", "--elem", "int64", "--entries", str(d["count"]),
                         "--overflow", str(d["overflow"]), "--noverflow", str(d["noverflow"]), "--go", version)
        assert out["B"] == d["B"]
        band = out["noverflow_for_overflow"]
        assert not band["exact"] and band["low"] <= d["noverflow"] <= band["high"], (d, band)
        back = out["overflow_for_noverflow"]
        assert back["low"] <= d["overflow"] <= back["high"]


@pytest.mark.parametrize("args, words", [
    (["map", "--key", "int64x", "--elem", "int64"], "unknown Go type"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "1.20"], "older than the oldest modelled"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "1.99"], "newer than the newest modelled"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "banana"], "not a Go version"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "1.26", "--overflow", "3"], "Swiss tables"),
    (["map", "--key", "int64"], "give the elem type"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "1.23", "--entries", "7000", "--nevacuate", "1100"],
     "past the 1024 old buckets"),
    (["map", "--key", "int64", "--elem", "int64", "--go", "1.26", "--nevacuate", "1"], "Swiss tables"),
    (["map", "--key", "int64", "--key-size", "8", "--elem", "int64"], "not both"),
    (["growslice", "--elem-size", "0"], "must be > 0"),
    (["map", "--key", "int64", "--elem", "int64", "--entries", str(10**15)], "maxAlloc"),
    (["growslice", "--elem", "struct{}"], "zero-size"),
    (["sizeclass", "-5"], "must be >= 0"),
    (["sizeclass"], "the following arguments are required"),
    (["sizeclass", "ten"], "not a whole number"),
])
def test_bad_input_one_line(args, words):
    p = goinspect(*args, check=False)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and words in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_absurd_hint_is_ignored_as_makemap_does():
    for go in ("1.23", "1.26"):
        out = model_json("map", "--key", "int64", "--elem", "int64", "--hint", str(10**15), "--go", go)
        assert out["hint_ignored"] and out["memory"]["held"] <= 1024


def test_text_output_names_the_steps():
    p = goinspect("growslice", "--elem-size", "24", "--go", "1.23", "--appends", "100")
    assert "nextslicecap" in p.stdout and "roundupsize" in p.stdout
    p = goinspect("map", "--key", "int64", "--elem", "int64", "--hint", "1000000", "--go", "1.26")
    assert "2048 table(s) x 1024 slots" in p.stdout and "next grow" in p.stdout and "memory" in p.stdout
    p = goinspect("map", "--key", "string", "--elem", "[200]byte", "--go", "1.23", "--entries", "1000")
    assert "elem stored indirectly" in p.stdout


def test_growslice_stack_buffer_equals_go(version, modelcheck):
    """A local slice that escapes after its loop: Go 1.26+ grows it on the heap from the stack buffer's cap."""
    appends = next(d for d in modelcheck if d["type"] == "params")["appends"]
    args = ["growslice", "--elem", "int64", "--appends", str(appends), "--stack-buffer", "--go", version]
    if not GoVersion.parse(version).append_stack_buffer:
        p = goinspect(*args, check=False)
        assert p.returncode == 2 and "no stack buffer" in p.stderr
        return
    real: collections.Counter = collections.Counter()
    for d in modelcheck:
        frames = [f for f in d.get("frames") or [] if not f.startswith("runtime.mallocgc")]
        if d["type"] == "alloc" and d["scenario"] == "stackbuf_i64" and frames in ([], ["runtime.growslice"]):
            real[d["block"]] += d["objects"]
    out = model_json(*args)
    assert out["start_cap"] > 0
    model = collections.Counter(g["block_bytes"] for g in out["growths"])
    real[16] = model[16] = 0  # tiny blocks may go unsampled (see test_model.py)
    assert +real == +model


def test_map_growing_writes_to_finish_contain_go(version, mapstate):
    """`--nevacuate K`: what the next writes do to a half-grown map, and how many finish it (real grows)."""
    grows = [g for g in mapstate if g["kind"] == "grow" and g["writes"] > 0 and not g["after"]["sameSize"]]
    if not grows:
        pytest.skip("Swiss maps grow table by table, at once")
    for g in grows:
        a = g["after"]
        out = model_json("map", "--key", "int64", "--elem", "int64", "--entries", str(a["count"]),
                         "--nevacuate", str(a["nevacuate"]), "--go", version)
        assert out["B"] == a["B"] and out["next_write"]["action"] == "evacuate"
        lo, hi = out["evacuation"]["writes_to_finish"]
        assert lo <= g["writes"] <= hi, (g, out["evacuation"])


def test_map_layout_by_type_name_equals_go(version, mapstate):
    """`--key K --elem V`: the bucket or group the CLI describes is the compiler's, for 16 shapes."""
    for d in (d for d in mapstate if d["kind"] == "maptype"):
        out = model_json("map", "--key", d["key"], "--elem", d["elem"], "--go", version)
        if out["layout"] == "classic":
            b = out["bucket"]
            assert (b["size"], b["indirect_key"], b["indirect_elem"], b["noscan"]) == (
                d["bucketSize"], d["indirectKey"], d["indirectElem"], d["noscan"]), d
        else:
            g = out["group"]
            assert (g["size"], g["slot_size"], g["elem_offset"], g["noscan"]) == (
                d["groupSize"], d["slotSize"], d["elemOff"], d["noscan"]), d
