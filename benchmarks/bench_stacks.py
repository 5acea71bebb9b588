"""Benchmark: how much walking every goroutine's stack adds to a pause.

Runs the fleet's ``stackmap`` program with N parked worker goroutines (``STACKMAP_WORKERS``), each
holding a local map, and times, inside one pause each, the globals-only root read (``find_roots``)
against ``gather_roots`` (globals + every goroutine's stack: allgs, one read per stack, unwinding,
DWARF locations). Also checks the answer: one ``main.worker.m#GOID`` root per worker.

    python benchmarks/bench_stacks.py [--go 1.23.9 --go 1.26.6] [--workers 100 --workers 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "testdata" / "fleet"


def measure(go_version: str, workers: int) -> dict[str, float | int]:
    from goinspect.run.build import build_program
    from goinspect.run.process import GoService
    from goinspect.run.toolchain import ensure_go
    from goinspect.runtime.census import Census
    from goinspect.runtime.roots import find_roots, gather_roots, prepare_roots, stack_stats
    from goinspect.target.open import open_live

    exe = build_program(ensure_go(go_version), FLEET, "./cmd/stackmap")
    with GoService(exe, (), {"STACKMAP_WORKERS": str(workers)}, ) as svc:
        svc.advance(1)
        target = open_live(svc.pid)
        try:
            t0 = time.perf_counter()
            prepare_roots(target, Census(target, None))
            prepare = time.perf_counter() - t0
            user = [g for g in target.globals() if not g.name.startswith(("runtime.", "internal/"))]
            out: dict[str, float | int] = {"workers": workers, "prepare_s": prepare}
            for label, read in (("globals", lambda: find_roots(user, target, target.memory)),
                                ("stacks", lambda: gather_roots(target, user, target.memory))):
                with target.paused():
                    t1 = time.perf_counter()
                    roots = read()
                    out[f"{label}_read_s"] = time.perf_counter() - t1
                out[f"{label}_pause_s"] = target.pauses[-1]
                out[f"{label}_roots"] = len(roots)
            found = sum(r.name.startswith("main.worker.m#") for r in roots)
            stats = stack_stats(target)
        finally:
            target.close()
    if found != workers:
        raise SystemExit(f"go{go_version}: {found} worker maps found, {workers} expected")
    out["goroutines"] = stats["goroutines"]
    out["frames"] = stats["frames"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--go", action="append", help="Go version(s) (default 1.23.9 and 1.26.6)")
    ap.add_argument("--workers", action="append", type=int, help="parked goroutines (default 100 and 10000)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    for v in args.go or ["1.23.9", "1.26.6"]:
        for n in args.workers or [100, 10000]:
            r = measure(v, n)
            print(f"go{v} {r['goroutines']:6d} goroutines, {r['frames']:6d} frames: "
                  f"pause {r['globals_pause_s'] * 1000:7.1f} ms globals only, {r['stacks_pause_s'] * 1000:7.1f} ms "
                  f"with stacks (roots read {r['globals_read_s'] * 1000:.1f} -> {r['stacks_read_s'] * 1000:.1f} ms); "
                  f"prepared before the pause in {r['prepare_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
