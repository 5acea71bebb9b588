"""Benchmark: a full census of a 1,000,000-entry map with ``goinspect map`` vs iterating it with Go's own
``runtime-gdb.py`` in gdb, live and from a core.

Targets (issue 4 item 10): >= 50x faster than runtime-gdb.py, census <= 0.5 s after gdb
is up, target pause <= 0.25 s, peak memory <= 3x the map's own bytes.

The target is ``benchmarks/mapcensus`` (``map[int64]int64`` or ``map[string]*T`` with -n
entries), built with each Go version. ``goinspect map NAME --json`` runs as a
subprocess (its peak RSS from ``wait4``); ``read_seconds`` is the census inside the
pause (finding roots + reading + decoding), ``pause_seconds`` the whole stop
(attach .. detach). runtime-gdb.py runs in ``gdb -batch``: its map pretty-printer's
``children()`` is iterated and every key/value fetched (what ``print`` does, minus
formatting). Go 1.26's runtime-gdb.py has no Swiss-map printer that works on large
maps; that failure is reported as it happens, and the ratio uses 1.23.

    python benchmarks/bench_map_census.py [--go 1.23.9 --go 1.26.6] [--n 1000000] [--runs 3] [--no-core]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "benchmarks" / "mapcensus"

MIN_RATIO = 50.0
MAX_CENSUS_S = 0.5
MAX_PAUSE_S = 0.25
MAX_MEMORY_FACTOR = 3.0

KINDS = {"int": "main.ints", "str": "main.strs"}

# gdb-side: iterate a map with runtime-gdb.py's pretty printer, fetching every key and value.
GDB_ITERATE = r"""
import gdb, json, time
v = gdb.lookup_global_symbol("%(var)s").value()
pp = gdb.default_visualizer(v)
out = {"printer": type(pp).__name__ if pp else None}
t0 = time.perf_counter()
n = 0
try:
    for _, val in pp.children():
        val.fetch_lazy()
        n += 1
    out["ok"] = True
except BaseException as e:
    out["ok"] = False
    out["error"] = "%%s: %%s" %% (type(e).__name__, str(e)[:200])
out["seconds"] = time.perf_counter() - t0
out["entries"] = n // 2
print("BENCH " + json.dumps(out))
"""


def run_inner(argv: list[str]) -> int:
    """Child process: run the ``map`` subcommand (as cli.py would) so its RSS is measured alone."""
    from goinspect.commands.map import COMMAND

    parser = argparse.ArgumentParser(prog="goinspect map")
    COMMAND.prepare_parser(parser)
    return COMMAND.run(parser.parse_args(argv))


def measured(cmd: list[str], timeout: float) -> tuple[int, bytes, float, int]:
    """(exit status, stdout, wall seconds, peak RSS bytes) of a child process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        out.seek(0)
        return os.waitstatus_to_exitcode(status), out.read(), wall, usage.ru_maxrss * 1024


def goinspect_census(target_args: list[str], var: str, runs: int) -> dict:
    results = []
    for _ in range(runs):
        rc, out, wall, rss = measured([sys.executable, __file__, "--inner", "map", var, *target_args, "--json"], 600)
        if rc != 0:
            raise SystemExit(f"goinspect map failed (exit {rc})")
        doc = json.loads(out)
        m = doc["maps"][0]
        results.append({"wall": wall, "rss": rss, "read": doc["read_seconds"], "pause": doc["pause_seconds"],
                        "count": m["count"], "structure": m["memory"]["structure_bytes"]})
    best = min(results, key=lambda r: r["wall"])
    return {"wall_median": statistics.median(r["wall"] for r in results), "wall_best": best["wall"],
            "read_median": statistics.median(r["read"] for r in results),
            "pause_median": statistics.median(r["pause"] for r in results) if results[0]["pause"] is not None else None,
            "rss_max": max(r["rss"] for r in results), "count": best["count"], "structure": best["structure"]}


def runtime_gdb_iterate(goroot: Path, exe: Path, var: str, *, pid: int | None = None, core: Path | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(GDB_ITERATE % {"var": var})
        script.flush()
        cmd = ["gdb", "-nx", "-batch", "-iex", "set auto-load off", "-iex", "set pagination off", str(exe),
               "-ex", f"source {goroot / 'src' / 'runtime' / 'runtime-gdb.py'}"]
        cmd += ["-ex", f"attach {pid}"] if pid else ["-ex", f"core-file {core}"]
        cmd += ["-ex", f"source {script.name}"]
        if pid:
            cmd += ["-ex", "detach"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        return {"ok": False, "error": (proc.stderr.strip().splitlines() or ["gdb printed nothing"])[-1], "wall": wall}
    res = json.loads(line[6:])
    res["wall"] = wall
    return res


def report(label: str, gi: dict, rg: dict, n: int) -> dict:
    mib = 1 << 20
    print(f"\n== {label}")
    pause = f"{gi['pause_median'] * 1000:.0f} ms" if gi["pause_median"] is not None else "n/a (core)"
    print(f"goinspect map: count {gi['count']}, structure {gi['structure'] / mib:.1f} MiB; "
          f"census {gi['read_median'] * 1000:.0f} ms (median), pause {pause}, "
          f"whole command {gi['wall_median']:.2f} s median / {gi['wall_best']:.2f} s best, "
          f"peak RSS {gi['rss_max'] / mib:.0f} MiB ({gi['rss_max'] / gi['structure']:.2f}x the map's bytes)")
    ratio = None
    if rg.get("ok"):
        ratio = rg["seconds"] / gi["read_median"]
        print(f"runtime-gdb.py: iterated {rg['entries']} entries in {rg['seconds']:.2f} s "
              f"(gdb run {rg['wall']:.1f} s); ratio vs goinspect census: {ratio:.0f}x; "
              f"vs the whole goinspect command: {rg['seconds'] / gi['wall_median']:.1f}x")
    else:
        print(f"runtime-gdb.py FAILED: {rg.get('error')} (after {rg.get('seconds', rg['wall']):.1f} s, "
              f"{rg.get('entries', 0)} entries)")
    checks = {
        "census <= 0.5 s": gi["read_median"] <= MAX_CENSUS_S,
        "pause <= 0.25 s": gi["pause_median"] is None or gi["pause_median"] <= MAX_PAUSE_S,
        "peak RSS <= 3x map bytes": gi["rss_max"] <= MAX_MEMORY_FACTOR * gi["structure"],
        ">= 50x runtime-gdb.py": ratio is not None and ratio >= MIN_RATIO,
        "count == n": gi["count"] == n,
    }
    print("targets: " + ", ".join(f"{k}: {'OK' if v else 'MISSED'}" for k, v in checks.items()))
    return {"label": label, "goinspect": gi, "runtime_gdb": rg, "ratio": ratio, "checks": checks}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        return run_inner(sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--go", action="append", help="Go versions (default 1.23.9 and 1.26.6)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kind", action="append", choices=sorted(KINDS), help="map kinds (default both)")
    ap.add_argument("--no-core", action="store_true", help="skip the core-dump half")
    args = ap.parse_args()

    from goinspect.run.build import build_program
    from goinspect.run.process import GoService
    from goinspect.run.toolchain import ensure_go

    results = []
    for version in args.go or ["1.23.9", "1.26.6"]:
        tc = ensure_go(version)
        exe = build_program(tc, PROGRAM, ".")
        for kind in args.kind or ["int", "str"]:
            var = KINDS[kind]
            with GoService(exe, ["-kind", kind, "-n", str(args.n)], start_timeout=300) as svc:
                gi = goinspect_census(["--pid", str(svc.pid)], var, args.runs)
                rg = runtime_gdb_iterate(tc.goroot, exe, var, pid=svc.pid)
                results.append(report(f"Go {version} live {var} ({kind}, n={args.n})", gi, rg, args.n))
                if args.no_core:
                    continue
                with tempfile.TemporaryDirectory(prefix="goinspect-bench-") as tmp:
                    prefix = Path(tmp) / "core"
                    subprocess.run(["gcore", "-o", str(prefix), str(svc.pid)], check=True, capture_output=True,
                                   timeout=600)
                    core = Path(f"{prefix}.{svc.pid}")
                    gi = goinspect_census(["--core", str(core), "--exe", str(exe)], var, args.runs)
                    rg = runtime_gdb_iterate(tc.goroot, exe, var, core=core)
                    results.append(report(f"Go {version} core {var} ({kind}, n={args.n}, core "
                                          f"{core.stat().st_size >> 20} MiB)", gi, rg, args.n))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_map_census.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
