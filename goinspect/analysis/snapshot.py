"""One snapshot: every map and slice of a target read in one pause, with the heap graph of that same pause.

A verdict compares snapshots, so everything in one snapshot must describe one
instant: the roots, the maps and slices they hold, and the objects reachable
through them are all read while the target is stopped once. The graph analysis
(dominators, retained bytes) runs after the target is resumed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from goinspect.analysis.graph import HeapGraph
from goinspect.runtime.census import Census
from goinspect.runtime.heapgraph import ScanPlan, collect
from goinspect.runtime.roots import Root, gather_roots, global_container_types, prepare_roots
from goinspect.runtime.spans import SpanIndex
from goinspect.runtime.types import has_pointers, slice_elem

#: Packages whose globals are the runtime's own bookkeeping, left out unless asked for.
RUNTIME_PREFIXES = ("runtime.", "internal/", "runtime/internal/")
MHEAP = "runtime.mheap_"


@dataclass
class Snapshot:
    """Maps and slices (census JSON, by name) and the heap graph, as of one pause."""

    source: str  # 'pid 1234' or the core's path
    wall_time: float  # seconds since the epoch when the pause began (cores: the file's modification time)
    pause_seconds: float | None  # None for a core
    read_seconds: float
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: dict[str, Root] = field(default_factory=dict)
    noscan: dict[str, bool | None] = field(default_factory=dict)  # the buckets/groups or array hold no pointers
    bucket_live: dict[str, np.ndarray] = field(default_factory=dict)  # classic maps: live slots per primary bucket
    graph: HeapGraph | None = None
    graph_seconds: float = 0.0


def take_snapshot(target: Any, census: Census, plan: ScanPlan, *, source: str, select: Callable[[str], bool],
                  runtime: bool = False, wall_time: float | None = None) -> Snapshot:
    """Pause ``target`` once: find the roots, read every selected map and slice, collect the heap graph.

    ``census`` and ``plan`` carry layouts between snapshots of one target; every type the globals
    name is resolved before the pause (a type seen only on a stack is resolved during its first one).
    """
    globals_ = target.globals()
    mheap = next((g for g in globals_ if g.name == MHEAP), None)
    user = [g for g in globals_ if runtime or not g.name.startswith(RUNTIME_PREFIXES)]
    types = global_container_types(user) | prepare_roots(target, census, runtime=runtime)  # locals' types too
    census.prepare(types)
    plan.prepare(types)
    snap = Snapshot(source, wall_time if wall_time is not None else time.time(), None, 0.0)
    with target.paused():
        t0 = time.perf_counter()
        census.spans = SpanIndex(target.memory, target, mheap.addr, go_version=target.go_version) if mheap else None
        every_root = gather_roots(target, user, target.memory, runtime=runtime)
        roots = [r for r in every_root if select(r.name)]
        census.prepare({r.type_name for r in every_root})
        plan.prepare({r.type_name for r in every_root})
        for r in roots:
            snap.roots[r.name] = r
            if r.kind == "map":
                info = census.read_map(r)
                snap.maps[r.name] = info.to_json()
                if info.primary_live is not None:
                    snap.bucket_live[r.name] = info.primary_live
                lay = census.map_layout(r.type_name)
                snap.noscan[r.name] = getattr(lay, "noscan", getattr(lay, "noscan_guess", None))
            else:
                s = census.read_slice(r)
                if s is not None:
                    snap.slices[r.name] = s.to_json()
                    snap.noscan[r.name] = not has_pointers(target, slice_elem(r.type_name))
        # The graph has every root, selected or not: an object another map shares is not retained by this one.
        objects = collect(target, census, every_root, plan=plan)
        snap.read_seconds = time.perf_counter() - t0
    pauses = getattr(target, "pauses", None)
    snap.pause_seconds = pauses[-1] if (pauses and target.pid is not None) else None
    t1 = time.perf_counter()
    snap.graph = HeapGraph(objects)
    snap.graph_seconds = time.perf_counter() - t1
    return snap
