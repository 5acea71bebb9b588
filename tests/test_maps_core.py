"""goinspect maps / map / slices from gcore cores: the same figures as the live process and its /truth.

One core per Go version (stuckgrow: a classic grow stuck half-way on 1.23.9, shared
Swiss tables on 1.26.6), made once per session in a temporary directory and
deleted afterwards. The live reading of the same process right before ``gcore``
is the reference for everything /truth does not cover (the runtime's and the
standard library's maps and slices).
"""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import StuckgrowCore
from maps_truth import assert_map_matches, by_name, run_json

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="gcore and live reads need root (ptrace)"),
    pytest.mark.skipif(shutil.which("gcore") is None, reason="gcore (from gdb) is not installed"),
]


def _core_args(case: StuckgrowCore) -> tuple[str, ...]:
    return ("--core", str(case.core), "--exe", str(case.exe))


def test_core_maps_equal_truth(stuckgrow_core):
    out = run_json("maps", *_core_args(stuckgrow_core), "--filter", r"^main\.")
    ours = by_name(out["maps"])
    assert set(ours) == set(stuckgrow_core.truth["maps"])
    for name, t in stuckgrow_core.truth["maps"].items():
        assert_map_matches(ours[name], t)
    assert out["pause_seconds"] is None  # nothing to pause in a core


def test_core_equals_live_for_every_map_and_slice(stuckgrow_core):
    """Every map and slice the live read found (runtime and stdlib included) reads the same from the core."""
    maps = run_json("maps", *_core_args(stuckgrow_core), "--runtime")
    slices = run_json("slices", *_core_args(stuckgrow_core), "--runtime")
    live_m, core_m = by_name(stuckgrow_core.live["maps"]["maps"]), by_name(maps["maps"])
    live_s, core_s = by_name(stuckgrow_core.live["slices"]["slices"]), by_name(slices["slices"])
    assert set(core_m) == set(live_m) and len(core_m) > 10
    assert set(core_s) == set(live_s) and len(core_s) > 10
    for name, m in live_m.items():
        assert core_m[name] == m, name
    for name, s in live_s.items():
        assert core_s[name] == s, name
    assert any(s["alloc_size_bytes"] for s in core_s.values())  # heap allocations found through the core's spans


def test_core_map_detail_and_entries(stuckgrow_core):
    inserted = stuckgrow_core.truth["extra"]["inserted"]
    m = run_json("map", "main.stuck", *_core_args(stuckgrow_core), "--entries", str(10**6))["maps"][0]
    assert len(m["entries"]) == inserted
    assert all(e["elem"] == 3 * e["key"] for e in m["entries"])
    if m["impl"] == "hmap":
        assert m["hmap"]["walk"]["growing"] and m["hmap"]["walk"]["old_live_unevacuated"] > 0
