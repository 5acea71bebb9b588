"""Gather the evidence for ``goinspect analyze`` (and ``goinspect ci``): snapshots and profiles over time.

Live: the process is opened once (types and layouts resolved without stopping
it), then paused once per sample, for the reads only. Cores: one snapshot per
core, all of the same executable, in the order given. Profiles: files in time
order, or a URL fetched once per sample — always *before* the pause, since a
stopped process cannot serve its own profile.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from goinspect.analysis.report import build_report
from goinspect.analysis.sites import site_series
from goinspect.analysis.snapshot import Snapshot, take_snapshot
from goinspect.errors import UsageError
from goinspect.profile.load import load_profile
from goinspect.profile.model import Profile
from goinspect.profile.sourcefiles import source_line
from goinspect.runtime.census import Census
from goinspect.runtime.heapgraph import ScanPlan


@dataclass
class AnalyzeRequest:
    pid: int | None = None
    cores: tuple[str, ...] = ()
    exe: str | None = None
    samples: int = 1
    interval: float = 1.0
    profiles: tuple[str, ...] = ()  # files (or URLs) in time order
    profile_url: str | None = None  # fetched once per live sample (or, with no process or core, polled `samples` times)
    timeout: float = 30.0
    filter: str | None = None
    runtime: bool = False
    verbose: bool = False
    #: Called with the sample index before each live sample is taken (``goinspect ci`` drives load here).
    between_samples: Callable[[int], None] | None = None
    graph_out: str | None = None  # write the last snapshot's heap graph (.graphml or .dot)
    progress: Callable[[str], None] | None = field(default=None, repr=False)


def check_request(req: AnalyzeRequest) -> None:
    if req.pid is not None and req.cores:
        raise UsageError("give one target: --pid P, or --core CORE [--core CORE2 ...] --exe EXE, not both.")
    if req.pid is None and not req.cores and not req.profiles and not req.profile_url:
        raise UsageError("nothing to analyze: give --pid P, or --core CORE --exe EXE, and/or heap profiles "
                         "(--profile files, or --profile-url polled --samples times).")
    if req.cores and not req.exe:
        raise UsageError("--core needs --exe (the executable the cores were dumped from).")
    if req.samples < 1:
        raise UsageError("--samples must be at least 1.")
    if req.interval < 0:
        raise UsageError("--interval must not be negative.")
    if req.profile_url and req.cores:
        raise UsageError("--profile-url is polled once per live sample; with cores give the profiles as --profile files.")
    if req.profile_url and req.pid is None and req.samples < 2:
        raise UsageError("polling --profile-url alone needs --samples 2 or more: a trend needs several profiles.")
    if req.cores and req.samples != 1:
        raise UsageError("--samples is for a live process; with cores, give one --core per snapshot.")
    if req.filter:
        try:
            re.compile(req.filter)
        except re.error as e:
            raise UsageError(f"--filter is not a valid regular expression: {e}.") from None


def analyze(req: AnalyzeRequest) -> dict[str, Any]:
    """Take the snapshots and profiles ``req`` asks for and judge every map and slice (the analyze JSON)."""
    from goinspect.target.open import open_core, open_live

    check_request(req)
    select = (lambda name: re.search(req.filter, name) is not None) if req.filter else (lambda name: True)
    say = req.progress or (lambda msg: None)
    snapshots: list[Snapshot] = []
    profiles: list[Profile] = []
    profile_sources: list[str] = []
    target_json: dict[str, Any] = {"kind": "live" if req.pid is not None else ("core" if req.cores else "profiles"),
                                   "pid": req.pid, "exe": req.exe, "cores": list(req.cores)}
    go_version = ""
    if req.pid is not None:
        with open_live(req.pid, verbose=req.verbose, timeout=req.timeout) as target:
            go_version, census, plan = target.go_version, Census(target, None), ScanPlan(target)
            target_json.update(exe=str(target.exe), go_version=go_version, map_impl=target.map_impl)
            previous = time.monotonic()
            for i in range(req.samples):
                if i:  # the interval runs from the end of the previous snapshot: a slow pause never squeezes the next
                    time.sleep(max(0.0, previous + req.interval - time.monotonic()))
                if req.between_samples is not None:
                    req.between_samples(i)
                if req.profile_url:
                    profiles.append(load_profile(req.profile_url, timeout=req.timeout))
                    profile_sources.append(req.profile_url)
                snapshots.append(take_snapshot(target, census, plan, source=f"pid {req.pid}", select=select,
                                               runtime=req.runtime))
                previous = time.monotonic()
                say(f"sample {i + 1}/{req.samples}: paused {snapshots[-1].pause_seconds * 1000:.0f} ms")
    if req.profile_url and req.pid is None:  # profiles alone: poll the URL like live samples
        previous = time.monotonic()
        for i in range(req.samples):
            if i:
                time.sleep(max(0.0, previous + req.interval - time.monotonic()))
            if req.between_samples is not None:
                req.between_samples(i)
            profiles.append(load_profile(req.profile_url, timeout=req.timeout))
            profile_sources.append(req.profile_url)
            previous = time.monotonic()
            say(f"profile {i + 1}/{req.samples} fetched")
    for core in req.cores:
        with open_core(Path(core), Path(req.exe or ""), verbose=req.verbose, timeout=req.timeout) as target:
            go_version = target.go_version
            target_json.update(exe=str(target.exe), go_version=go_version, map_impl=target.map_impl)
            snapshots.append(take_snapshot(target, Census(target, None), ScanPlan(target), source=core, select=select,
                                           runtime=req.runtime, wall_time=os.stat(core).st_mtime))
            say(f"core {core}: read in {snapshots[-1].read_seconds * 1000:.0f} ms")
    for spec in req.profiles:
        profiles.append(load_profile(spec, exe=req.exe, timeout=req.timeout))
        profile_sources.append(spec)
    if snapshots and req.graph_out and snapshots[-1].graph is not None:
        snapshots[-1].graph.export(req.graph_out)

    times = _profile_times(profiles, snapshots)
    sites = site_series(profiles, go_version or None, source_line, np.asarray(times) if times else None) \
        if profiles else []
    t0 = snapshots[0].wall_time if snapshots else 0.0
    target_json.update(
        started_at=t0 if snapshots else None, go_version=go_version, samples=len(snapshots), times=[s.wall_time - t0 for s in snapshots],
        pause_seconds=[s.pause_seconds for s in snapshots], read_seconds=[s.read_seconds for s in snapshots],
        profiles=profile_sources,
        graph={"nodes": snapshots[-1].graph.stats.get("nodes") if snapshots and snapshots[-1].graph else 0,
               "edges": snapshots[-1].graph.stats.get("edges") if snapshots and snapshots[-1].graph else 0,
               "seconds": round(sum(s.graph_seconds for s in snapshots), 3)})
    return build_report(target_json, snapshots, sites, times, go_version)


def _profile_times(profiles: list[Profile], snapshots: list[Snapshot]) -> list[float]:
    """Seconds since the first profile (its own timestamps; else the snapshot times they were taken with)."""
    stamps = [p.time_nanos for p in profiles]
    if profiles and all(stamps):
        return [(s - stamps[0]) / 1e9 for s in stamps]
    if len(profiles) == len(snapshots) and snapshots:
        return [s.wall_time - snapshots[0].wall_time for s in snapshots]
    return [float(i) for i in range(len(profiles))]
