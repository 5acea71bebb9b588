"""The report commands on real fleet profiles, checked against what the programs themselves report.

``trend`` must call a leak growing, bounded churn churn and a filled LRU a
plateau, with the per-snapshot object counts the programs' ``/truth`` gives.
Also: the pure trend arithmetic, pprof-style unit formatting, and that bad
input ends in one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pprof_ref import go_env, goinspect_json, run_pprof
from goinspect.profile.aggregate import go_clean
from goinspect.profile.trend import classify, fit_line, series_stats
from goinspect.render.units import fmt_pct, fmt_value


def snapshots(svc, out: Path, name: str, steps: list[int]) -> tuple[list[str], list[dict]]:
    """Advance by each of ``steps`` and save a heap profile after each; also the program's truth then."""
    paths, truths = [], []
    for i, n in enumerate(steps):
        truth = svc.advance(n) if n else svc.truth()
        path = out / f"{name}_{i}.pb.gz"
        path.write_bytes(svc.heap_profile())
        paths.append(str(path))
        truths.append(truth)
    return paths, truths


def site_row(report: dict, file: Path, line: int) -> dict:
    for s in report["sites"]:
        if s["file"] == str(file) and s["line"] == line:
            return s
    raise AssertionError(f"no site {file}:{line} in trend: {[s['name'] for s in report['sites']]}")


def test_trend_calls_a_leaking_map_growing(go_version, fleet_service, fleet_site, tmp_path):
    with fleet_service("leakmap", memprofilerate=1) as svc:
        paths, truths = snapshots(svc, tmp_path, "leakmap", [1, 1, 1, 1])
    file, line = fleet_site("leakmap", "leak_value_new")
    report = goinspect_json("profile", "trend", *paths, "--sample-index", "inuse_objects", "--nodecount", "0")
    site = site_row(report, file, line)
    # One *session per map entry: the in-use objects at the site are len(main.sessions) in every snapshot.
    assert site["values"] == [t["maps"]["main.sessions"]["len"] for t in truths]
    assert site["class"] == "growing" and site["monotonic"] and site["r2"] > 0.999
    assert site["slope_per_snapshot"] == pytest.approx(truths[0]["extra"]["per_step"])
    assert site["slope_per_second"] is not None and site["slope_per_second"] > 0
    assert report["total"]["class"] == "growing"
    # Sorted by growth: the leak is at the top.
    assert report["sites"][0]["growth"] >= site["growth"] > 0


def test_trend_calls_bounded_churn_churn(go_version, fleet_service, fleet_site, tmp_path):
    with fleet_service("churn", memprofilerate=1) as svc:
        svc.advance(2)  # the in-flight window fills in the first two steps
        paths, truths = snapshots(svc, tmp_path, "churn", [1, 1, 1, 1])
    file, line = fleet_site("churn", "payload_make")
    report = goinspect_json("profile", "trend", *paths, "--sample-index", "inuse_objects", "--nodecount", "0")
    site = site_row(report, file, line)
    window = truths[0]["extra"]["window"]
    assert [t["maps"]["main.inflight"]["len"] for t in truths] == [window] * 4
    # Every in-flight request's payload is live, and the count does not move from snapshot to snapshot.
    assert len(set(site["values"])) == 1 and site["values"][0] >= window
    assert site["class"] == "churn"
    per_step = truths[0]["extra"]["per_step"]
    assert np.diff(site["companion"]["values"]).tolist() == [per_step] * 3  # alloc_objects keeps rising


def test_trend_calls_a_filled_lru_a_plateau(go_version, fleet_service, fleet_site, tmp_path):
    with fleet_service("lru", memprofilerate=1) as svc:
        paths, truths = snapshots(svc, tmp_path, "lru", [1, 1, 10, 2])
    capacity = truths[0]["extra"]["capacity"]
    lens = [t["maps"]["main.index"]["len"] for t in truths]
    assert lens[0] < capacity and lens[-2:] == [capacity, capacity], lens  # the program did fill up
    file, line = fleet_site("lru", "value_make")
    report = goinspect_json("profile", "trend", *paths, "--sample-index", "inuse_objects", "--nodecount", "0")
    site = site_row(report, file, line)
    # The site's line allocates two live objects per cached entry: the *entry and its val slice (an entry
    # evicted in the last step may still be reachable from the list element the program just unlinked).
    assert all(2 * n <= v <= 2 * n + 4 for v, n in zip(site["values"], lens)), (site["values"], lens)
    assert site["class"] == "plateau" and site["level_tail"] and site["rose"]
    space = goinspect_json("profile", "trend", *paths, "--nodecount", "0")
    assert site_row(space, file, line)["class"] == "plateau"


def test_trend_text_table(go_version, fleet_service, tmp_path):
    with fleet_service("leakmap") as svc:
        paths, _ = snapshots(svc, tmp_path, "leak", [1, 1, 1])
    out = subprocess.run([sys.executable, "-m", "goinspect", "profile", "trend", *paths, "--nodecount", "3"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.lstrip().startswith("#1"))
    assert "slope/snap" in header and "R²" in header and "class" in header
    assert any("(total)" in ln for ln in lines)


def test_top_text_uses_pprofs_units(toolchain, fleet_service, tmp_path):
    """The default table prints the same flat/cum strings as pprof's (kB/MB scaling, percentages)."""
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(2)
        path = tmp_path / "leak.pb.gz"
        path.write_bytes(svc.heap_profile())
    for si in ("inuse_space", "alloc_objects"):
        ref = run_pprof(toolchain.go, ["-top", "-symbolize=none", f"-sample_index={si}", str(path)])
        ours = subprocess.run([sys.executable, "-m", "goinspect", "profile", "top", str(path), "--sample-index", si],
                              capture_output=True, text=True, check=True).stdout

        def table(text: str) -> list[list[str]]:
            rows = text.splitlines()
            start = next(i for i, r in enumerate(rows) if r.split()[:2] == ["flat", "flat%"])
            return [r.split()[:5] for r in rows[start + 1:]]

        assert table(ours) == table(ref)
        showing = [r for r in ref.splitlines() if r.startswith(("Showing", "Dropped", "Type:"))]
        assert showing and all(r in ours.splitlines() for r in showing)


# -- bad input: one line on stderr, non-zero exit --------------------------------------------------

def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goinspect", *argv], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def small_profile(tmp_path_factory) -> Path:
    """A real heap profile written by a tiny Go program whose source is deleted afterwards."""
    from goinspect.run.toolchain import DEFAULT_GO_VERSIONS, ensure_go

    tc = ensure_go(DEFAULT_GO_VERSIONS[0])
    d = tmp_path_factory.mktemp("small")
    (d / "go.mod").write_text("module small\n\ngo 1.21\n")
    (d / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\t"runtime"\n\t"runtime/pprof"\n)\n\nvar keep [][]byte\n\n'
        "func main() {\n\truntime.MemProfileRate = 1\n\tfor i := 0; i < 100; i++ {\n"
        "\t\tkeep = append(keep, make([]byte, 1024))\n\t}\n\truntime.GC()\n"
        '\tf, _ := os.Create(os.Args[1])\n\tpprof.Lookup("heap").WriteTo(f, 0)\n\tf.Close()\n}\n')
    subprocess.run([str(tc.go), "run", ".", str(d / "heap.pb.gz")], cwd=d, env=go_env(), check=True, timeout=600)
    (d / "main.go").unlink()
    return d / "heap.pb.gz"


@pytest.mark.parametrize("argv, code, words", [
    (["profile", "top", "{p}", "--focus", "("], 2, "--focus"),
    (["profile", "top", "{p}", "--ignore", "[z-a]"], 2, "--ignore"),
    (["profile", "top", "{p}", "--sample-index", "cpu"], 2, "unknown sample index"),
    (["profile", "top", "{p}", "--nodecount", "-1"], 2, "--nodecount"),
    (["profile", "trend", "{p}", "{p}"], 2, "at least 3 snapshots"),
    (["profile", "trend", "{p}", "{p}", "{p}", "--plateau-snapshots", "9"], 2, "--plateau-snapshots"),
    (["profile", "list", "nosuchfunction", "{p}"], 2, "no function matching"),
    (["profile", "list", "(", "{p}"], 2, "regular expression"),
    (["profile", "diff", "{p}", "/nonexistent/heap.pb.gz"], 3, "nonexistent"),
    (["profile", "export", "{p}", "-o", "/nonexistent/dir/out.pb.gz"], 3, "cannot write"),
])
def test_bad_input_is_one_clear_line(small_profile, argv, code, words):
    proc = run(*[a.replace("{p}", str(small_profile)) for a in argv])
    assert proc.returncode == code, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("goinspect: error:") and words in err[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_list_without_source_still_prints_values(small_profile):
    """The program's source is gone: list says so and still gives the per-line values (100 live 1 KiB blocks)."""
    data = goinspect_json("profile", "list", r"^main\.main$", str(small_profile), "--sample-index", "inuse_objects")
    (fn,) = data["functions"]
    assert fn["source_error"] and "main.go" in fn["source_error"]
    assert fn["flat"] >= 100 and all(ln["source"] is None for ln in fn["lines"])
    text = run("profile", "list", r"^main\.main$", str(small_profile))
    assert text.returncode == 0 and "source not shown" in text.stdout


# -- pure pieces ---------------------------------------------------------------------------------

def test_fit_line_recovers_a_line_and_judges_fit():
    f = fit_line(np.arange(5), np.array([3, 5, 7, 9, 11]))
    assert f.slope == pytest.approx(2) and f.intercept == pytest.approx(3) and f.r2 == pytest.approx(1)
    noisy = fit_line(np.arange(4), np.array([0, 10, 0, 10]))
    assert noisy.r2 < 0.5
    assert fit_line(np.arange(3), np.array([4, 4, 4])).r2 == 1.0


@pytest.mark.parametrize("values, companion, expected", [
    ([100, 200, 300, 400], None, "growing"),
    ([100, 200, 400, 400], None, "plateau"),
    ([400, 400, 401, 400], [1000, 2000, 3000, 4000], "churn"),
    ([400, 400, 401, 400], [1000, 1000, 1000, 1000], "flat"),
    ([400, 300, 200, 100], None, "shrinking"),
    ([12, 20, 12, 12, 20], None, "fluctuating"),  # a buffer pool breathing: ends higher, no growth
    ([100, 150, 140, 250, 300], None, "growing"),  # one dip, but a line fits: still growing
    ([0, 0, 0], None, "flat"),
])
def test_classify(values, companion, expected):
    st = series_stats(np.array(values), None)
    comp = series_stats(np.array(companion), None) if companion else None
    assert classify(st, comp) == expected


def test_go_clean_and_pprof_formatting():
    assert go_clean("/a//b/../c/") == "/a/c" and go_clean("//x") == "/x" and go_clean("a/./b") == "a/b"
    assert fmt_value(1676280, "bytes") == "1.60MB" and fmt_value(1676280, "bytes", "kB") == "1636.99kB"
    assert fmt_value(2048, "bytes") == "2kB" and fmt_value(0, "bytes") == "0" and fmt_value(123, "count") == "123"
    assert fmt_pct(1, 100) == "1.00%" and fmt_pct(21, 1_000_000) == "0.0021%" and fmt_pct(100, 100) == "100%"


def test_top_names_the_kind_of_each_row(go_version, fleet_service, fleet_site, tmp_path):
    """The kind column: a map's assignment line allocates buckets/tables, an append line grows a slice."""
    with fleet_service("churn", memprofilerate=1) as svc:
        svc.advance(2)
        path = tmp_path / "churn.pb.gz"
        path.write_bytes(svc.heap_profile())
    data = goinspect_json("profile", "top", str(path), "--sample-index", "alloc_space", "--granularity", "lines",
                          "--go", go_version, "--node-fraction", "0")
    rows = {(r["file"], r["line"]): r for r in data["rows"]}
    for label, kind in (("map_assign", "map-buckets"), ("batch_append", "slice-growth")):
        file, line = fleet_site("churn", label)
        assert rows[(str(file), line)]["kind"] == kind, (label, rows[(str(file), line)])
    plain = goinspect_json("profile", "top", str(path), "--no-kind")
    assert "kind" not in plain["rows"][0]


def test_trend_polls_a_live_url(go_version, fleet_service, fleet_site):
    """--samples polls the service itself; an idle leakmap holds the same entries at every poll: flat, not growing."""
    with fleet_service("leakmap", memprofilerate=1) as svc:
        held = svc.advance(2)["maps"]["main.sessions"]["len"]
        report = goinspect_json("profile", "trend", svc.base_url + "/debug/pprof/heap?gc=1", "--samples", "3",
                                "--interval", "0.2", "--sample-index", "inuse_objects", "--nodecount", "0")
    assert [s["source"].endswith(f"(poll {i + 1})") for i, s in enumerate(report["snapshots"])] == [True] * 3
    file, line = fleet_site("leakmap", "leak_value_new")
    site = site_row(report, file, line)
    assert site["values"] == [held] * 3 and site["class"] == "flat"


def test_trend_polling_needs_one_url():
    done = subprocess.run([sys.executable, "-m", "goinspect", "profile", "trend", "a.pb.gz", "--samples", "3"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("goinspect: error: --samples polls one http(s) URL")
    assert "Traceback" not in done.stderr


def test_list_on_a_terminal_is_highlighted(fleet_service, tmp_path):
    """On a terminal the source is coloured by pygments (ANSI escapes); NO_COLOR turns that off."""
    import os
    import pty

    with fleet_service("lru", memprofilerate=1) as svc:
        svc.advance(2)
        path = tmp_path / "lru.pb.gz"
        path.write_bytes(svc.heap_profile())

    def on_pty(env: dict[str, str]) -> str:
        main, sub = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "goinspect", "profile", "list", r"main\.get", str(path)],
                                stdout=sub, stderr=subprocess.PIPE, env={**os.environ, **env})
        os.close(sub)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the pty closes (EIO) when the child exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(main)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        return b"".join(chunks).decode(errors="replace")

    coloured = on_pty({})
    assert "\x1b[" in coloured and "value_make" in coloured
    plain = on_pty({"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "site: value_make" in plain
