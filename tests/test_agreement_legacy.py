"""goinspect agrees with ``go tool pprof -top`` on the legacy ``?debug=1`` form, symbolized with ``--exe``.

pprof (same toolchain, same file, same binary) is the reference: totals and
every row (name, flat, cum) at function and line granularity, for all four
sample types, on profiles served by real fleet programs. Library level:
``legacy.pprof_view`` + the report layer's ``aggregate``; CLI level:
``goinspect profile top --json``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from goinspect.profile import legacy
from goinspect.profile.aggregate import aggregate
from goinspect.run.build import go_env

SAMPLE_TYPES = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
_ROW = re.compile(r"^\s*(-?\d+)B?\s+\S+%\s+\S+%\s+(-?\d+)B?\s+\S+%\s+(.+?)\s*$")


@pytest.fixture(scope="module")
def served(fleet_service, fleet_exe, tmp_path_factory, go_version):
    """?debug=1 profiles of two fleet programs (every allocation recorded) and their binaries."""
    out = []
    for program in ("leakmap", "churn"):
        with fleet_service(program, memprofilerate=1) as svc:
            svc.advance(3)
            data = svc.heap_profile(debug=1)
        path = tmp_path_factory.mktemp(f"agree-{go_version}") / f"{program}.txt"
        path.write_bytes(data)
        out.append((fleet_exe(program), path))
    return out


def pprof_top(toolchain, exe, path, sample_index: str, lines: bool) -> tuple[int, dict[str, tuple[int, int]]]:
    args = [str(toolchain.go), "tool", "pprof", "-top", "-unit=B", "-nodefraction=0", "-nodecount=1000000",
            f"-sample_index={sample_index}"]
    if lines:
        args.append("-lines")
    proc = subprocess.run([*args, str(exe), str(path)], capture_output=True, text=True, env=go_env(toolchain),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    total = int(re.search(r"of (-?\d+)B? total", proc.stdout).group(1))
    rows = {}
    body = proc.stdout.split("flat%", 1)[1].splitlines()[1:]
    for line in body:
        m = _ROW.match(line)
        if m:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return total, rows


def our_rows(profile, sample_index: int, lines: bool) -> tuple[int, dict[str, tuple[int, int]]]:
    agg = aggregate(legacy.pprof_view(profile), sample_index, "lines" if lines else "functions")
    rows = {}
    for i in agg.present():
        node = agg.nodes[i]
        name = f"{node.name} {node.file}:{node.line}" if lines else node.name
        rows[name] = (int(agg.flat[i]), int(agg.cum[i]))
    return agg.total, rows


@pytest.mark.parametrize("lines", [False, True], ids=["functions", "lines"])
def test_rows_equal_pprof(served, toolchain, lines):
    for exe, path in served:
        profile = legacy.parse(path.read_bytes(), exe=str(exe), name=str(path))
        for i, st in enumerate(SAMPLE_TYPES):
            want_total, want = pprof_top(toolchain, exe, path, st, lines)
            total, got = our_rows(profile, i, lines)
            assert total == want_total, (path.name, st)
            if lines:
                # pprof prints the full path; compare with the report layer's cleaned path by base name.
                def key(name: str) -> str:
                    fn, _, loc = name.rpartition(" ")
                    return f"{fn} {loc.rsplit('/', 1)[-1]}"

                want = {key(k): v for k, v in want.items()}
                got = {key(k): v for k, v in got.items()}
            assert got == want, (path.name, st)


def test_cli_top_equals_pprof(served, toolchain):
    for exe, path in served:
        for st in SAMPLE_TYPES:
            want_total, want = pprof_top(toolchain, exe, path, st, lines=False)
            proc = subprocess.run(
                [sys.executable, "-m", "goinspect", "profile", "top", "--exe", str(exe), "--sample-index", st, "--node-fraction", "0",
                 "--json", str(path)],
                capture_output=True, text=True, timeout=600,
            )
            assert proc.returncode == 0, proc.stderr
            report = json.loads(proc.stdout)
            assert report["total"] == want_total
            got = {row["name"]: (row["flat"], row["cum"]) for row in report["rows"]}
            assert got == want, (path.name, st)
