"""Benchmark: ``goinspect profile top`` against ``go tool pprof -top`` on a large real heap profile.

The profile comes from the fleet program ``manystacks`` run with
``GODEBUG=memprofilerate=1``: every allocation is a sample with its own
~100-frame stack, so a few steps give hundreds of thousands of samples and
tens of MB of uncompressed protobuf. It is built once and cached under
``benchmarks/out/``.

Both tools run as subprocesses on the same file with the same sample index;
each is run several times and the median and best wall times are reported.
goinspect's peak memory is the ``ru_maxrss`` of its process (from ``wait4``),
compared with the uncompressed profile size.

    python benchmarks/bench_profile_top.py [--go 1.26.6] [--steps 12] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
FLEET = ROOT / "testdata" / "fleet"

# Targets from the issue.
MAX_RATIO = 1.0
MAX_MEMORY_FACTOR = 2.0


def build_profile(go_version: str, steps: int) -> tuple[Path, Path]:
    """The cached profile (building the program and taking the profile if needed), and the go binary."""
    from goinspect.run.build import build_program
    from goinspect.run.process import GoService
    from goinspect.run.toolchain import ensure_go

    tc = ensure_go(go_version)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"manystacks-go{go_version}-steps{steps}.pb.gz"
    if not path.exists():
        exe = build_program(tc, FLEET, "./cmd/manystacks")
        print(f"building the profile: manystacks, {steps} steps at MemProfileRate=1 ...", flush=True)
        with GoService(exe, env={"GODEBUG": "memprofilerate=1"}) as svc:
            svc.get(f"/advance?steps={steps}", timeout=1800)
            data = svc.heap_profile()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path, tc.go


def run_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes (ru_maxrss of this process alone, from wait4), and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} ... failed: {err.read().decode()[-2000:]}")
        return wall, usage.ru_maxrss * 1024, out.read().decode()


def timed_runs(cmd: list[str], env: dict[str, str], runs: int) -> tuple[list[float], int, str]:
    walls, peak, out = [], 0, ""
    for _ in range(runs):
        wall, rss, out = run_timed(cmd, env)
        walls.append(wall)
        peak = max(peak, rss)
    return walls, peak, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--go", default="1.26.6", help="Go toolchain that builds manystacks and runs pprof")
    ap.add_argument("--steps", type=int, default=12, help="manystacks steps (50,000 allocations each)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sample-index", default="inuse_space")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.build_only:
        path, go = build_profile(args.go, args.steps)
        print(path, go)
        return 0
    # The profile is built in a child process: a child's ru_maxrss starts at its parent's RSS (the
    # kernel carries the high-water mark across fork/exec), so this process stays small.
    built = subprocess.run([sys.executable, __file__, "--build-only", "--go", args.go, "--steps", str(args.steps)],
                           check=True, capture_output=True, text=True).stdout.split()
    path, go = Path(built[-2]), Path(built[-1])
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}
    # Decoding alone, in a fresh process: as load_profile does it (the whole uncompressed bytes, then
    # the columns) and streamed (columns built while inflating).
    probe = ("import sys, time; from goinspect.profile import decode, source; t = time.perf_counter(); "
             "p = {how}; s = time.perf_counter() - t; "
             "print(len(p.samples), len(p.samples.locs), s, sum(len(c) for c in source.open_source(sys.argv[1], 600).chunks()))")
    _, whole_rss, out = run_timed([sys.executable, "-c", probe.format(
        how="decode.decode(source.read_source(sys.argv[1], 600), 'p')"), str(path)], env)
    _, stream_rss, out = run_timed([sys.executable, "-c", probe.format(
        how="decode.decode_stream(source.open_source(sys.argv[1], 600), 'p')"), str(path)], env)
    n_samples, n_frames, decode_s, uncompressed = (float(x) for x in out.split())
    _, baseline_rss, _ = run_timed([sys.executable, "-c", "import numpy, goinspect.profile.decode, goinspect.cli"], env)

    pprof_cmd = [str(go), "tool", "pprof", "-top", f"-sample_index={args.sample_index}", "-symbolize=none", str(path)]
    ours_cmd = [sys.executable, "-m", "goinspect", "profile", "top", "--sample-index", args.sample_index, str(path)]
    run_timed(pprof_cmd, env)  # warm-up: Go >= 1.24 builds pprof on first use
    run_timed(ours_cmd, env)
    pprof_walls, pprof_rss, pprof_out = timed_runs(pprof_cmd, env, args.runs)
    ours_walls, ours_rss, ours_out = timed_runs(ours_cmd, env, args.runs)

    total_line = lambda text: next((l for l in text.splitlines() if l.startswith("Showing nodes")), "?")  # noqa: E731
    ratio = statistics.median(ours_walls) / statistics.median(pprof_walls)
    mem_factor = ours_rss / uncompressed
    print(f"profile      {path.relative_to(ROOT)}")
    print(f"             {path.stat().st_size / 1e6:.1f} MB gzip, {uncompressed / 1e6:.1f} MB uncompressed, "
          f"{n_samples:.0f} samples, {n_frames:.0f} frames")
    print(f"decode       {decode_s:.2f} s (decode_stream, in a fresh process)")
    print(f"pprof -top   median {statistics.median(pprof_walls):.2f} s, best {min(pprof_walls):.2f} s, "
          f"peak RSS {pprof_rss / 1e6:.0f} MB   [{total_line(pprof_out)}]")
    print(f"goinspect    median {statistics.median(ours_walls):.2f} s, best {min(ours_walls):.2f} s, "
          f"peak RSS {ours_rss / 1e6:.0f} MB   [{total_line(ours_out)}]")
    print(f"ratio        {ratio:.2f} (goinspect / pprof, median wall time; target <= {MAX_RATIO})")
    print(f"memory       {mem_factor:.2f}x the uncompressed profile (ru_maxrss of the goinspect process; "
          f"target <= {MAX_MEMORY_FACTOR})")
    print(f"decode only  whole bytes then columns: peak RSS {whole_rss / 1e6:.0f} MB "
          f"({whole_rss / uncompressed:.2f}x); streamed: peak RSS {stream_rss / 1e6:.0f} MB "
          f"({stream_rss / uncompressed:.2f}x); interpreter + imports alone {baseline_rss / 1e6:.0f} MB")
    ok = ratio <= MAX_RATIO and mem_factor <= MAX_MEMORY_FACTOR
    print("targets      " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
