"""Bytes a map's structure holds, counted two independent ways, must agree.

`goinspect maps` adds up the header, bucket arrays (with their preallocated overflow tails),
overflow buckets, old buckets and mapextra as the model lays them out; the heap graph
(`goinspect why`) counts the distinct heap allocations it reached, each at its span's elemsize.
A map stuck mid-grow is the hard case: its old array has its own preallocated overflow tail,
and chains that use it add no blocks.
"""

from __future__ import annotations

import pytest

from maps_truth import run_json


@pytest.mark.parametrize("program", ["stuckgrow", "deletedmap", "overflowmap", "leakmap"])
def test_census_and_graph_agree_on_structure_bytes(program, fleet_service):
    with fleet_service(program) as svc:
        svc.advance(3)
        maps = run_json("maps", "--pid", str(svc.pid), "--filter", r"^main\.")["maps"]
        assert maps
        for m in maps:
            if m["addr"] is None:
                continue
            why = run_json("why", m["name"], "--pid", str(svc.pid))
            assert m["memory"]["structure_bytes"] == why["structure_bytes"], m["name"]
            walk = (m.get("hmap") or {}).get("walk", {})
            if walk.get("growing"):
                assert 0 <= walk["old_preallocated_overflow_used"] <= walk["old_overflow_buckets"]
