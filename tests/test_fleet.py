"""The fleet itself: each real Go program starts, advances deterministically and tells the truth.

Ground truth here comes from the Go programs (len() and the runtime headers
they read through unsafe) and from ``go tool pprof`` of the same toolchain;
nothing in these tests computes the expected answer with goinspect code.
"""

from __future__ import annotations

import gzip
import subprocess

import pytest

from conftest import expected_map_impl
from goinspect.run.build import go_env


def go_pprof_top(toolchain, exe, profile_path, sample_index="inuse_space") -> str:
    """``go tool pprof -top`` of the same toolchain: the external reference for a profile."""
    proc = subprocess.run(
        [str(toolchain.go), "tool", "pprof", "-top", f"-sample_index={sample_index}", str(exe), str(profile_path)],
        env=go_env(toolchain),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def check_map_header(truth: dict, name: str) -> dict:
    """Cross-check one map's truth: len() vs the header read through unsafe vs a walk of its slots."""
    m = truth["maps"][name]
    if truth["impl"] == "classic":
        assert m["header"]["count"] == m["len"]
        assert m["walk"]["live"] == m["len"], "live tophash slots must add up to len"
        assert m["walk"]["buckets"] == 2 ** m["header"]["B"]
        assert m["tables"] == []
    else:
        assert m["header"]["used"] == m["len"]
        assert m["walk"]["live"] == m["len"], "full ctrl bytes must add up to len"
        if m["header"]["dirLen"]:
            assert m["header"]["dirLen"] == 2 ** m["header"]["globalDepth"]
            assert sum(t["used"] for t in m["tables"]) == m["len"]
            assert sum(t["dir_refs"] for t in m["tables"]) == m["header"]["dirLen"]
            for t in m["tables"]:
                assert t["dir_refs"] == 2 ** (m["header"]["globalDepth"] - t["localDepth"])
                assert t["capacity"] == (t["groups"]["lengthMask"] + 1) * 8
                assert t["live"] == t["used"]
    return m


def test_leakmap_len_grows_by_steps(go_version, fleet_service):
    with fleet_service("leakmap") as svc:
        t0 = svc.truth()
        assert t0["go_version"] == f"go{go_version}"
        assert t0["impl"] == expected_map_impl(go_version)
        assert t0["phase"] == 0 and t0["maps"]["main.sessions"]["len"] == 0
        per_step = t0["extra"]["per_step"]
        t3 = svc.advance(3)
        assert t3["phase"] == 3
        m = check_map_header(t3, "main.sessions")
        assert m["len"] == 3 * per_step
        t5 = svc.advance(2)
        assert check_map_header(t5, "main.sessions")["len"] == 5 * per_step
        again = svc.truth()
        assert {k: v for k, v in again.items() if k != "memstats"} == {
            k: v for k, v in t5.items() if k != "memstats"
        }, "/truth must not change state"


def test_leakmap_heap_profile_is_read_by_go_pprof(go_version, toolchain, fleet_exe, fleet_service, tmp_path):
    with fleet_service("leakmap", memprofilerate=1) as svc:
        svc.advance(4)
        pb = svc.heap_profile()
        text = svc.heap_profile(debug=1)
    assert pb[:2] == b"\x1f\x8b", "the proto form is gzip-compressed"
    assert len(gzip.decompress(pb)) > 0
    assert text.startswith(b"heap profile:")
    path = tmp_path / "heap.pb.gz"
    path.write_bytes(pb)
    top = go_pprof_top(toolchain, fleet_exe("leakmap"), path)
    # 4000 sessions of 64 bytes plus the map's buckets are in use and attributed to main.step.
    assert "main.step" in top
    line = next(ln for ln in top.splitlines() if ln.rstrip().endswith("main.step"))
    assert pprof_bytes(line.split()[0]) >= 4000 * 64, line


def pprof_bytes(text: str) -> float:
    """'403776B' / '1.5MB' as printed by pprof -top, in bytes."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10), ("B", 1)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise AssertionError(f"not a pprof byte figure: {text!r}")
