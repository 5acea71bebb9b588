"""Reference reports from ``go tool pprof``, parsed, and comparisons with goinspect's JSON.

Reusable by every agreement test (proto and ``?debug=1`` profiles alike):

    ref = pprof_top(toolchain.go, path, sample_index="inuse_space", granularity="lines")
    ours = goinspect_json("profile", "top", str(path), "--sample-index", "inuse_space", "--granularity", "lines")
    assert_top_agrees(ours, ref)

pprof is run with ``-unit=B`` so values print as exact integers rather than
rounded kB/MB (counts print as integers with a "B" suffix then, which the
parser strips), and with ``-symbolize=none`` so it never goes looking for the
binary: Go's proto profiles are already symbolized.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_ROW = re.compile(
    r"^\s*(?P<flat>\S+)\s+(?P<flatp>\S+)\s+(?P<sump>\S+)\s+(?P<cum>\S+)\s+(?P<cump>\S+)  (?P<name>.*?)"
    r"(?: \((?P<inline>inline|partial-inline)\))?$"
)
_SHOWING = re.compile(r"^Showing nodes accounting for (?P<shown>\S+), \S+ of (?P<total>\S+) total$")
_DROPPED = re.compile(r"^Dropped (?P<n>\d+) nodes? \(cum <= (?P<cutoff>\S+)\)$")
_TOPN = re.compile(r"^Showing top (?P<n>\d+) nodes out of (?P<of>\d+)$")


@dataclass(frozen=True)
class PprofRow:
    name: str
    flat: int
    cum: int
    inline: str


@dataclass
class PprofTop:
    total: int
    shown: int
    dropped_nodes: int
    rows: list[PprofRow] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    kept_nodes: int | None = None  # from "Showing top N nodes out of M"


def _int(text: str) -> int:
    """A value printed with -unit=B: an integer, possibly with a 'B' suffix."""
    t = text.removesuffix("B")
    value = float(t)
    if value != int(value):
        raise AssertionError(f"pprof printed a non-integer value {text!r} despite -unit=B")
    return int(value)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off", CGO_ENABLED="0")
    return env


def run_pprof(go: Path, args: list[str], timeout: float = 600) -> str:
    """``go tool pprof ARGS`` with a clean error when it fails."""
    proc = subprocess.run([str(go), "tool", "pprof", *args], capture_output=True, text=True, timeout=timeout,
                          env=go_env())
    if proc.returncode != 0:
        raise AssertionError(f"go tool pprof {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def pprof_args(*, sample_index: str | None = None, granularity: str = "functions", focus: str | None = None,
               ignore: str | None = None, nodecount: int | None = None, node_fraction: float | None = None,
               diff_base: Path | None = None, symbolize: bool = False) -> list[str]:
    args = ["-unit=B", f"-{granularity}"]
    if not symbolize:
        args.insert(0, "-symbolize=none")
    if sample_index:
        args.append(f"-sample_index={sample_index}")
    if focus:
        args.append(f"-focus={focus}")
    if ignore:
        args.append(f"-ignore={ignore}")
    if nodecount is not None:
        args.append(f"-nodecount={nodecount}")
    if node_fraction is not None:
        args.append(f"-nodefraction={node_fraction}")
    if diff_base is not None:
        args.append(f"-diff_base={diff_base}")
    return args


def parse_top(text: str) -> PprofTop:
    lines = text.splitlines()
    header: list[str] = []
    total = shown = dropped = 0
    kept: int | None = None
    i = 0
    while i < len(lines) and not lines[i].lstrip().startswith("flat  flat%"):
        line = lines[i]
        header.append(line)
        if m := _SHOWING.match(line):
            shown, total = _int(m["shown"]), _int(m["total"])
        elif m := _DROPPED.match(line):
            dropped = int(m["n"])
        elif m := _TOPN.match(line):
            kept = int(m["of"])
        i += 1
    if i == len(lines):
        raise AssertionError(f"no table in pprof output:\n{text}")
    rows = []
    for line in lines[i + 1 :]:
        if not line.strip():
            continue
        m = _ROW.match(line)
        if not m:
            raise AssertionError(f"unparsed pprof row: {line!r}")
        rows.append(PprofRow(m["name"], _int(m["flat"]), _int(m["cum"]), m["inline"] or ""))
    return PprofTop(total=total, shown=shown, dropped_nodes=dropped, rows=rows, header=header, kept_nodes=kept)


def pprof_top(go: Path, profile: Path, *, exe: Path | None = None, **options) -> PprofTop:
    """``go tool pprof -top [exe] profile`` with the given options (see ``pprof_args``), parsed.

    With ``exe`` (e.g. for ``?debug=1`` text profiles) pprof symbolizes through the binary.
    """
    binary = [str(exe)] if exe is not None else []
    args = pprof_args(symbolize=exe is not None, **options)
    return parse_top(run_pprof(go, ["-top", *args, *binary, str(profile)]))


def goinspect_cli(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``goinspect`` CLI (same interpreter); fails the test unless it exits 0."""
    proc = subprocess.run([sys.executable, "-m", "goinspect", *argv], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"goinspect {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def goinspect_json(*argv: str, timeout: float = 600) -> dict:
    """Run the real ``goinspect`` CLI (same interpreter) and parse its ``--json`` output."""
    proc = subprocess.run([sys.executable, "-m", "goinspect", *argv, "--json"], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"goinspect {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def goinspect_args(*, sample_index: str | None = None, granularity: str = "functions", focus: str | None = None,
                   ignore: str | None = None, nodecount: int | None = None, node_fraction: float | None = None
                   ) -> list[str]:
    """goinspect options equivalent to ``pprof_args`` with the same keywords."""
    args = ["--granularity", granularity]
    if sample_index:
        args += ["--sample-index", sample_index]
    if focus:
        args += ["--focus", focus]
    if ignore:
        args += ["--ignore", ignore]
    if nodecount is not None:
        args += ["--nodecount", str(nodecount)]
    if node_fraction is not None:
        args += ["--node-fraction", str(node_fraction)]
    return args


def _canonical_ties(rows: list[tuple[str, int, int, str]]) -> list[tuple[str, int, int, str]]:
    """Sort runs of rows that share a name and |flat|.

    pprof >= 1.24 (``comparePrintableName``) treats two different nodes with the
    same printed name as equal when sorting, so their order is whatever Go's
    map iteration gave: it changes from run to run. That only happens at
    ``files`` granularity, where pprof keeps one node per function start line.
    Such runs are compared as sets; every other row must be in pprof's order.
    """
    out: list[tuple[str, int, int, str]] = []
    i = 0
    while i < len(rows):
        j = i + 1
        while j < len(rows) and rows[j][0] == rows[i][0] and abs(rows[j][1]) == abs(rows[i][1]):
            j += 1
        out.extend(sorted(rows[i:j]))
        i = j
    return out


def assert_top_agrees(ours: dict, ref: PprofTop, *, check_inline: bool = True) -> None:
    """goinspect's ``top --json`` equals pprof's -top: total, shown, dropped count and every row in order,
    "(inline)"/"(partial-inline)" markers included unless ``check_inline`` is false."""
    assert ours["total"] == ref.total, f"total: goinspect {ours['total']} != pprof {ref.total}"
    assert ours["shown"] == ref.shown, f"shown: goinspect {ours['shown']} != pprof {ref.shown}"
    assert ours["dropped_nodes"] == ref.dropped_nodes
    got = _canonical_ties([(r["name"], r["flat"], r["cum"], r["inline"] if check_inline else "") for r in ours["rows"]])
    want = _canonical_ties([(r.name, r.flat, r.cum, r.inline if check_inline else "") for r in ref.rows])
    if got != want:
        for k, (g, w) in enumerate(zip(got, want)):
            if g != w:
                raise AssertionError(f"row {k}: goinspect {g} != pprof {w}")
        raise AssertionError(f"goinspect has {len(got)} rows, pprof {len(want)}")
    assert ref.rows or ref.total == 0, "pprof showed no rows: the comparison would be empty"
