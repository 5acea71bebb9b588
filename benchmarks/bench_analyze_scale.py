"""Benchmark (issue 6 item 9): the heap graph of a 1,000,000-entry map whose values point to 1,000,000
small objects -- reachability, dominators, verdicts -- in <= 30 s with peak memory <= 4 GiB.

The target is ``benchmarks/scale`` (its own tiny Go module, not a fleet program: every fleet
test would otherwise pay for filling a million entries), built with each Go version, so both
map layouts are measured (1.23: classic buckets; 1.26: Swiss tables). Once it prints READY the
benchmark runs, as a subprocess, ``goinspect analyze --pid P --samples 3 --json`` when that command exists
(else ``goinspect why main.index --pid P --json``: the same read + graph + dominators, without
verdicts) and reports its wall time, the target's pause, and its peak RSS (``wait4``). It also
checks the answer: the map's value objects must number the map's len, and the bytes reachable
through its values must be len x the block the runtime gives one value object.

    python benchmarks/bench_analyze_scale.py [--go 1.23.9 --go 1.26.6] [--n 1000000] [--samples 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "benchmarks" / "scale"
VAR = "main.index"

MAX_SECONDS = 30.0
MAX_RSS_BYTES = 4 << 30


def has_analyze() -> bool:
    from goinspect.cli import COMMAND_MODULES

    return any(m == "analyze" for _, m in COMMAND_MODULES)


def measured(cmd: list[str], timeout: float) -> tuple[int, bytes, float, int]:
    """(exit code, stdout, wall seconds, peak RSS bytes) of one command; RSS from ``wait4`` of that child
    alone (``RUSAGE_CHILDREN`` would also count the Go build and the target)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise SystemExit(f"{' '.join(cmd)} took more than {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, out.read(), wall, usage.ru_maxrss * 1024


def start_target(exe: Path, n: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([str(exe), str(n)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"benchmarks/scale did not start: {line!r}")
    _, count, _pid, item_size = line.split()
    if int(count) != n:
        proc.kill()
        raise SystemExit(f"benchmarks/scale holds {count} entries, not {n}")
    return proc, int(item_size)


def figures(kind: str, doc: dict, n: int) -> dict:
    """Pause and the map's graph figures from the command's JSON."""
    if kind == "analyze":
        m = next((m for m in doc.get("maps", []) if m["name"] == VAR), None)
        t = doc.get("target", {})
        pauses = t.get("pause_seconds") or [None]
        return {"pause_s": pauses[-1], "retained_bytes": m and m.get("retained_bytes"),
                "reachable_bytes": m and (m.get("series", {}).get("reachable_bytes") or [None])[-1],
                "verdict": m and m.get("verdict"), "count": m and m.get("count"), "graph": t.get("graph")}
    return {"pause_s": doc.get("pause_seconds"), "retained_bytes": doc.get("retained_bytes"),
            "reachable_bytes": doc.get("reachable_bytes"), "value_objects": doc.get("value_objects"),
            "graph": doc.get("graph"), "read_s": doc.get("read_seconds"), "graph_s": doc.get("graph_seconds")}


def run_one(version: str, n: int, samples: int) -> dict:
    from goinspect.model.sizeclasses import block_size
    from goinspect.run.build import build_program
    from goinspect.run.toolchain import ensure_go

    exe = build_program(ensure_go(version), PROGRAM, ".")
    goinspect = str(Path(sys.executable).with_name("goinspect"))
    proc, item_size = start_target(exe, n)
    try:
        kind = "analyze" if has_analyze() else "why"
        cmd = [goinspect, "analyze", "--pid", str(proc.pid), "--samples", str(samples), "--interval", "0.5",
               "--json"] if kind == "analyze" else \
            [goinspect, "why", VAR, "--pid", str(proc.pid), "--json"]
        rc, out, wall, rss = measured(cmd, timeout=600)
        if rc != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {rc}")
        doc = json.loads(out)
    finally:
        proc.kill()
        proc.wait()
    f = figures(kind, doc, n)
    want_reach = n * block_size(item_size, True, version)  # item holds no pointers: a noscan block each
    ok_reach = f.get("reachable_bytes") == want_reach
    label = f"goinspect analyze --pid P --samples {samples} --interval 0.5 --json" if kind == "analyze" else \
        f"goinspect why {VAR} --pid P --json"
    return {"go": version, "entries": n, "command": label,
            "wall_s": round(wall, 2), "peak_rss_bytes": rss, "reachable_expected": want_reach,
            "reachable_ok": ok_reach, "within_targets": wall <= MAX_SECONDS and rss <= MAX_RSS_BYTES, **f}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--go", action="append", help="Go version(s) (default 1.23.9 and 1.26.6)")
    ap.add_argument("--n", type=int, default=1_000_000, help="map entries (default 1,000,000)")
    ap.add_argument("--samples", type=int, default=3,
                    help="snapshots analyze takes (default 3: enough for a verdict about time)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    results = []
    for v in args.go or ["1.23.9", "1.26.6"]:
        # one subprocess per run: RUSAGE_CHILDREN's max is this run's (runs grow n-wise)
        r = run_one(v, args.n, args.samples)
        results.append(r)
        if not args.json:
            g = r.get("graph") or {}
            print(f"Go {v}: {r['command']}: {r['wall_s']:.1f} s wall (target {MAX_SECONDS:.0f} s), "
                  f"last pause {r['pause_s'] or 0:.2f} s, peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB "
                  f"(target {MAX_RSS_BYTES >> 30} GiB); graph {g.get('nodes')} objects, {g.get('edges')} edges; "
                  + (f"verdict {r['verdict']}; " if r.get("verdict") else "")
                  + f"reachable through values {r['reachable_bytes']} B "
                  f"({'==' if r['reachable_ok'] else '!='} {r['reachable_expected']} expected); "
                  f"{'OK' if r['within_targets'] else 'OVER TARGET'}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(r["within_targets"] and r["reachable_ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
