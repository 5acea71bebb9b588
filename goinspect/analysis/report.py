"""From snapshots (and profile sites) to the analyze report: one verdict per map and slice, worst first.

Pure: snapshots in, the JSON document out (its shape is the contract the
terminal report, the HTML report and ``goinspect ci`` read). Items are
matched across snapshots by name; an item absent from a snapshot (a goroutine
that ended, a map set to nil) simply has a shorter series.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from goinspect.analysis.sites import SiteSeries, feeds
from goinspect.analysis.snapshot import Snapshot
from goinspect.analysis.verdicts import (MapSample, SiteSeries as JudgedSite, SliceSample, Verdict, judge_map,
                                         judge_slice)

#: Worst first: what the terminal and HTML reports sort by.
SEVERITY = ("leak", "slice-pinning", "growing", "retained-capacity", "churn", "undetermined", "healthy")
#: At most this many cells in an occupancy picture (buckets or tables); more are summed into this many.
MAX_CELLS = 4096


def turnover(previous: np.ndarray | None, current: np.ndarray | None) -> float | None:
    """Fraction of the objects an item points to now that it did not point to in the previous snapshot."""
    if previous is None or current is None or len(current) == 0:
        return None
    kept = np.intersect1d(previous, current, assume_unique=True)
    return 1.0 - len(kept) / len(current)


def _graph_figures(snap: Snapshot, name: str) -> tuple[int, int, np.ndarray | None]:
    g = snap.graph
    if g is None:
        return 0, 0, None
    return g.reachable_bytes(name), g.retained_bytes(name), g.value_targets(name)


def map_sample(snap: Snapshot, m: dict[str, Any], t: float, prev_targets: np.ndarray | None
               ) -> tuple[MapSample, np.ndarray | None]:
    reach, retained, targets = _graph_figures(snap, m["name"])
    mem = m["memory"]
    if m["impl"] == "swiss" and m.get("swiss"):
        w = m["swiss"]["walk"]
        B, growing, old, nevac, nover, ovf = None, False, 0, 0, 0, 0
        capacity, tombstones = int(w.get("capacity", 0)), int(w.get("tombstones", 0))
    elif m.get("hmap"):
        h, w = m["hmap"]["header"], m["hmap"]["walk"]
        B, growing = int(h["B"]), bool(w.get("growing"))
        old, nevac, nover = int(w.get("oldbuckets_count", 0)), int(h.get("nevacuate", 0)), int(h["noverflow"])
        ovf = int(w.get("overflow_buckets", 0))
        capacity = 8 * ((w.get("buckets") or 0) + ovf)
        tombstones = int(w.get("empty_one_slots", 0))
    else:  # nil or unreadable map
        B, growing, old, nevac, nover, ovf, capacity, tombstones = None, False, 0, 0, 0, 0, 0, 0
    s = MapSample(t=t, count=int(m["count"]), structure_bytes=int(mem["structure_bytes"]),
                  live_bytes=int(mem["live_bytes"]), reachable_bytes=reach, retained_bytes=retained,
                  impl=m["impl"], B=B, growing=growing, oldbuckets=old, nevacuate=nevac, noverflow=nover,
                  overflow_buckets=ovf, capacity=capacity, tombstones=tombstones, key_size=int(mem["key_size"]),
                  elem_size=int(mem["elem_size"]), turnover=turnover(prev_targets, targets), rooted=True,
                  noscan=snap.noscan.get(m["name"]), addr=_address(m.get("addr")))
    return s, targets


def slice_sample(snap: Snapshot, s: dict[str, Any], t: float, prev_targets: np.ndarray | None
                 ) -> tuple[SliceSample, np.ndarray | None]:
    reach, retained, targets = _graph_figures(snap, s["name"])
    return SliceSample(t=t, len=int(s["len"]), cap=int(s["cap"]), elem_size=int(s["elem_size"]),
                       alloc_bytes=s["alloc_size_bytes"], offset_in_alloc=s["offset_in_alloc"],
                       reachable_bytes=reach, retained_bytes=retained, turnover=turnover(prev_targets, targets),
                       rooted=True, noscan=snap.noscan.get(s["name"]), array=_address(s.get("array_addr"))), targets


def _address(text: str | int | None) -> int | None:
    """An address as the census JSON gives it (``0x…``), None when absent."""
    if text is None:
        return None
    return int(text, 16) if isinstance(text, str) else int(text)


def occupancy(m: dict[str, Any], bucket_live: np.ndarray | None = None) -> dict[str, Any] | None:
    """What the HTML picture draws: live slots per table (Swiss) or per primary bucket (classic: its own
    8 slots, not its overflow chain), at most MAX_CELLS cells (neighbours summed)."""
    if m.get("addr") is None:
        return None
    if m["impl"] == "swiss" and m.get("swiss"):
        w = m["swiss"]["walk"]
        cells = [[t.get("live", t.get("used", 0)), t.get("capacity", 0)] for t in m["swiss"]["tables"]
                 if not t.get("unreadable")]
        if not cells:  # a small map: one group of 8 slots
            cells = [[int(w.get("live", 0)), int(w.get("capacity", 8))]]
        return {"impl": "swiss", "cell": "table" if m["swiss"]["tables"] else "group", "capacity": w.get("capacity", 0),
                "used": int(m["count"]), "tombstones": w.get("tombstones", 0), "cells": _downsample(cells)}
    if m.get("hmap"):
        w = m["hmap"]["walk"]
        cells = _downsample_live(bucket_live) if bucket_live is not None and len(bucket_live) else []
        return {"impl": "hmap", "cell": "bucket", "capacity": 8 * ((w.get("buckets") or 0) +
                                                                    int(w.get("overflow_buckets", 0))),
                "used": int(m["count"]), "tombstones": int(w.get("empty_one_slots", 0)),
                "buckets": w.get("buckets"), "overflow_buckets": w.get("overflow_buckets", 0),
                "cells": cells}
    return None


def _downsample_live(live: np.ndarray) -> list[list[int]]:
    """[live, slots] per bucket, or per run of neighbouring buckets when there are more than MAX_CELLS."""
    n = len(live)
    if n <= MAX_CELLS:
        return [[int(c), 8] for c in live.tolist()]
    edges = np.linspace(0, n, MAX_CELLS + 1).astype(np.int64)
    sums = np.add.reduceat(live.astype(np.int64), edges[:-1])
    return [[int(a), int(8 * b)] for a, b in zip(sums.tolist(), np.diff(edges).tolist())]


def _downsample(cells: list[list[int]]) -> list[list[int]]:
    if len(cells) <= MAX_CELLS:
        return cells
    a = np.asarray(cells, dtype=np.int64)
    groups = np.array_split(np.arange(len(a)), MAX_CELLS)
    return [[int(a[g, 0].sum()), int(a[g, 1].sum())] for g in groups]


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {"verdict": v.verdict, "confidence": v.confidence,
            "evidence": [{"source": e.source, "text": e.text, "figures": e.figures} for e in v.evidence],
            "fix": v.fix, "freed_bytes": int(v.freed_bytes), "needs": v.needs}


def _judged(site: SiteSeries, t: list[float]) -> JudgedSite:
    return JudgedSite(function=site.function, file=site.file, line=site.line, kind=site.kind, t=t,
                      inuse_bytes=site.inuse_bytes, alloc_bytes=site.alloc_bytes, inuse_objects=site.inuse_objects,
                      alloc_objects=site.alloc_objects)


def build_report(target: dict[str, Any], snapshots: list[Snapshot], sites: list[SiteSeries],
                 profile_times: list[float], go_version: str) -> dict[str, Any]:
    """The analyze JSON: ``target``, ``maps``, ``slices``, ``profile_sites`` (worst verdict first)."""
    t0 = snapshots[0].wall_time if snapshots else 0.0
    names: list[tuple[str, str]] = []
    for snap in snapshots:
        for kind, items in (("map", snap.maps), ("slice", snap.slices)):
            names += [(n, kind) for n in items if (n, kind) not in names]
    for s in sites:
        s.feeds = feeds(s.text, names)
    maps, slices = [], []
    for name, kind in names:
        samples = []
        prev = None
        last: dict[str, Any] = {}
        last_snap = snapshots[0]
        for snap in snapshots:
            item = (snap.maps if kind == "map" else snap.slices).get(name)
            if item is None:
                continue
            t = snap.wall_time - t0
            sample, prev = (map_sample if kind == "map" else slice_sample)(snap, item, t, prev)
            samples.append(sample)
            last, last_snap = item, snap
        fed = [s for s in sites if s.feeds == name]
        judged = [_judged(s, profile_times) for s in fed]
        v = (judge_map if kind == "map" else judge_slice)(name, samples, judged, go_version)
        root = last_snap.roots.get(name)
        g = last_snap.graph
        out: dict[str, Any] = {
            "name": name, "root": last.get("root", root.root if root else "global"), "addr": last.get("addr")
            if kind == "map" else last.get("array_addr"), "type": last.get("type"),
            **_verdict_json(v),
            "retained_bytes": samples[-1].retained_bytes, "path": g.path(name) if g is not None else [],
            "sites": [s.id for s in fed],
        }
        if root is not None and getattr(root, "goroutine", None) is not None:
            out.update(goroutine=root.goroutine, frame=root.frame)
        ts = [s.t for s in samples]
        if kind == "map":
            out["count"] = samples[-1].count
            out["series"] = {"t": ts, "count": [s.count for s in samples],
                             "structure_bytes": [s.structure_bytes for s in samples],
                             "reachable_bytes": [s.reachable_bytes for s in samples],
                             "retained_bytes": [s.retained_bytes for s in samples]}
            out["occupancy"] = occupancy(last, last_snap.bucket_live.get(name))
            out["impl"] = last.get("impl")
            maps.append(out)
        else:
            out.update(len=samples[-1].len, cap=samples[-1].cap, elem_size=samples[-1].elem_size,
                       alloc_bytes=samples[-1].alloc_bytes, offset_in_alloc=samples[-1].offset_in_alloc)
            out["series"] = {"t": ts, "len": [s.len for s in samples], "cap": [s.cap for s in samples],
                             "alloc_bytes": [s.alloc_bytes for s in samples],
                             "reachable_bytes": [s.reachable_bytes for s in samples],
                             "retained_bytes": [s.retained_bytes for s in samples]}
            slices.append(out)
    order = {v: i for i, v in enumerate(SEVERITY)}
    key = lambda d: (order.get(d["verdict"], len(order)), -(d["retained_bytes"] or 0), d["name"])  # noqa: E731
    return {"target": target, "maps": sorted(maps, key=key), "slices": sorted(slices, key=key),
            "profile_sites": [s.to_json() for s in sites]}
