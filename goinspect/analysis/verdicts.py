"""One verdict per map and slice, from samples over time, matched profile sites and the runtime model.

Pure: dataclasses in, a :class:`Verdict` out; the caller reads targets and profiles.
The vocabulary is fixed (``VERDICTS``). Every threshold comes from the runtime model
(what inserts or appends alone would have built for the entries held, size classes)
or from statistics of the series (``goinspect.profile.trend``: a rise beyond the
tolerance, sustained to the end) -- never from a program's names or sizes.

What one snapshot decides: ``retained-capacity`` (capacity far beyond what the entries
ever needed), ``slice-pinning`` (the allocation is far bigger than the slice can reach, or a large
object far bigger than its elements ever used)
and a classic grow in progress (``growing``, low confidence: *stuck* needs a second
sample with ``nevacuate`` not moving). Everything about time -- ``leak``, ``churn``,
``healthy`` -- needs two or more snapshots, or a series of heap profiles whose sites
feed the item; otherwise the verdict is ``undetermined`` and ``needs`` says what would
decide it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from goinspect.model import classicmap, slices as slicemodel, swissmap
from goinspect.model.sizeclasses import for_version
from goinspect.model.version import MIN_MODELLED, GoVersion
from goinspect.profile.trend import DEFAULT_TOLERANCE, SeriesStats, classify, series_stats

VERDICTS = ("leak", "retained-capacity", "growing", "slice-pinning", "churn", "healthy", "undetermined")
CONFIDENCES = ("high", "medium", "low")

#: A map (slice) holds "retained capacity" when its capacity is more than this many times what inserts
#: (appends) alone would have built for the most entries (elements) it held in any sample: at least one
#: doubling more than the entries ever needed, beyond the slack growth itself leaves.
SPARE_FACTOR = 2
#: A slice pins its allocation when the allocation is at least this many times the block its own
#: capacity would get (most of the array is out of the slice's reach), or -- for a large object (its own
#: span, > maxSmallSize) -- the block appends would have built for the most elements it ever held.
PIN_FACTOR = 2
#: A size that rose in every one of this many intervals, however little, is growing: a level that only
#: drifts goes up or down at random, and up every time has probability 2^-7 < 1% (a sign test).
SIGN_TEST_INTERVALS = 7
#: Series shorter than this give a verdict about time at reduced confidence.
CONFIDENT_SAMPLES = 3

NEEDS_SAMPLES = ("2+ snapshots (--samples N --interval S on a live process, or several --core in time order) "
                 "or a series of heap profiles (--profile) whose sites feed it")


@dataclass(frozen=True, slots=True)
class MapSample:
    """One snapshot of a map. ``capacity``: slots the structure has room for (Swiss: sum of table
    capacities, 8 for a small map); classic maps are judged by ``B``. ``turnover``: fraction of the
    objects the values point to that were not there in the previous sample (None: unknown or no
    pointers). ``noscan``: the bucket/group type holds no pointers (None: unknown; only size-class
    rounding depends on it)."""

    t: float
    count: int
    structure_bytes: int
    live_bytes: int
    reachable_bytes: int
    retained_bytes: int
    impl: str  # 'hmap' | 'swiss'
    B: int | None
    growing: bool
    oldbuckets: int
    nevacuate: int
    noverflow: int
    overflow_buckets: int
    capacity: int
    tombstones: int
    key_size: int
    elem_size: int
    turnover: float | None
    rooted: bool
    noscan: bool | None = None
    addr: int | None = None  # the header's address (a map made anew has another)


@dataclass(frozen=True, slots=True)
class SliceSample:
    """One snapshot of a slice. ``alloc_bytes``/``offset_in_alloc``: the heap object its array points
    into (None when the array is not in the heap: static data, a stack). ``noscan``: the elements hold
    no pointers (None: unknown) -- pointer-free arrays under 16 bytes share the tiny allocator's blocks."""

    t: float
    len: int
    cap: int
    elem_size: int
    alloc_bytes: int | None
    offset_in_alloc: int | None
    reachable_bytes: int
    retained_bytes: int
    turnover: float | None
    rooted: bool
    noscan: bool | None = None
    array: int | None = None  # the array's address (a slice made anew, or reallocated, has another)


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """A heap-profile allocation site matched to the item, across the profiles (oldest first)."""

    function: str
    file: str
    line: int
    kind: str
    t: list[float]
    inuse_bytes: list[int]
    alloc_bytes: list[int]
    inuse_objects: list[int]
    alloc_objects: list[int]


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str  # 'snapshots' | 'profile' | 'model' | 'graph'
    text: str
    figures: dict[str, Any] = field(default_factory=dict)


NO_SNAPSHOT = Evidence("snapshots", "no snapshot holds it", {"samples": 0})


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    confidence: str
    evidence: list[Evidence]
    fix: str
    freed_bytes: int
    needs: str | None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"unknown confidence {self.confidence!r}")


# ---------------------------------------------------------------------------------------------
# The model: what the entries need, what a fresh structure holds.

def model_version(go_version: str | None, impl: str = "") -> GoVersion | None:
    """The release whose rules apply (``go1.23.9``, ``1.26``...); a classic map on 1.24/1.25 means noswissmap.
    None when the text names no release (the newest modelled rules are then used)."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", go_version or "")
    if not m:
        return None
    major, minor, patch = int(m[1]), int(m[2]), int(m[3]) if m[3] else -1
    noswiss = impl == "hmap" and (1, 24) <= (major, minor) <= (1, 25)
    return max(GoVersion(major, minor, patch, noswiss), MIN_MODELLED)


def natural_map_capacity(count: int, impl: str, version: GoVersion | None = None) -> int:
    """The most slots inserts alone build for ``count`` entries (no deletes).

    Classic: ``8 * 2^B`` for the smallest B within the load factor (``b_for_hint``; doubling grows stop
    exactly there). Swiss: one group up to 8 entries, one table up to 7/8 of 1024 slots, then 1024-slot
    tables that hold at least half of 896 entries each after a split (``swissmap.directory_estimate``).
    """
    if impl == "swiss":
        if count <= swissmap.SMALL_MAP_MAX:
            return swissmap.GROUP_SLOTS
        full = swissmap.max_growth_left(swissmap.MAX_TABLE_CAPACITY)
        if count <= full:
            return swissmap.table_capacity_for_inserts(count)
        return math.ceil(count / (full // 2)) * swissmap.MAX_TABLE_CAPACITY
    return classicmap.BUCKET_COUNT << classicmap.b_for_hint(count, version)


def fresh_map_bytes(count: int, s: MapSample, version: GoVersion | None = None) -> int:
    """Structure bytes of ``make(map[K]V, count)`` filled with ``count`` entries: header, buckets or
    directory/tables/groups (indirect keys/elems excluded, as in ``structure_bytes``)."""
    if s.impl == "swiss":
        gt = swissmap.group_type(s.key_size, s.elem_size, s.noscan is not True, s.noscan is not True)
        return swissmap.made_bytes(count, gt, version)
    bt = classicmap.bucket_type(s.key_size, s.elem_size, s.noscan is not True, s.noscan is not True)
    total = classicmap.header_block(version)
    if count > 0:
        arr = classicmap.bucket_array(classicmap.b_for_hint(count, version), bt, version)
        total += arr.block
        if arr.prealloc_overflow:
            total += for_version(version).block_size(classicmap.MAPEXTRA_SIZE, False)
    return total


def clone_bytes(length: int, elem_size: int, noscan: bool | None, version: GoVersion | None = None) -> int:
    """Block ``slices.Clone`` of ``length`` elements allocates (append's growslice rounds to a size class;
    the larger of the two roundings when pointer-freedom is unknown)."""
    if length <= 0 or elem_size <= 0:
        return 0
    return max(slicemodel.growslice(length, 0, elem_size, ns, version).block for ns in _noscans(noscan))


def own_block(nbytes: int, noscan: bool | None, version: GoVersion | None = None) -> int:
    """The block an array of ``nbytes`` gets when it is allocated for itself (the larger rounding when
    pointer-freedom is unknown: a pointer-free array under 16 bytes lives in a shared 16-byte tiny block)."""
    if nbytes <= 0:
        return 0
    return max(for_version(version).block_size(nbytes, ns) for ns in _noscans(noscan))


def _noscans(noscan: bool | None) -> tuple[bool, ...]:
    return (True, False) if noscan is None else (noscan,)


def natural_slice_cap(length: int, elem_size: int, noscan: bool | None, version: GoVersion | None = None) -> int:
    """The largest capacity one-at-a-time appends leave a slice of ``length`` elements with
    (the growth that made room for the last element)."""
    if length <= 0 or elem_size <= 0:
        return 0
    return max(slicemodel.growslice(length, length - 1, elem_size, ns, version).cap for ns in _noscans(noscan))


# ---------------------------------------------------------------------------------------------
# Series.

@dataclass(frozen=True, slots=True)
class Trend:
    """A series classified by ``goinspect.profile.trend`` (growing, plateau, churn, fluctuating, shrinking, flat)."""

    what: str
    cls: str
    stats: SeriesStats

    @property
    def figures(self) -> dict[str, Any]:
        return {"values": self.stats.values, "trend": self.cls, "growth": self.stats.growth,
                "r2": round(self.stats.r2, 3), "monotonic": self.stats.monotonic}


def _seconds(t: Sequence[float]) -> np.ndarray | None:
    a = np.asarray(t, dtype=np.float64)
    return a if len(a) >= 2 and float(np.ptp(a)) > 0 else None


def trend_of(what: str, values: Sequence[int], t: Sequence[float],
             companion: Sequence[int] | None = None) -> Trend | None:
    """The series' class (None with fewer than two values). A rise must exceed the tolerance
    (a share of the series' largest value) and still be rising at the end to be growth."""
    if len(values) < 2:
        return None
    st = series_stats(np.asarray(values, dtype=np.int64), _seconds(t), DEFAULT_TOLERANCE)
    comp = (series_stats(np.asarray(companion, dtype=np.int64), _seconds(t), DEFAULT_TOLERANCE)
            if companion is not None and len(companion) == len(values) else None)
    return Trend(what, classify(st, comp), st)


def sustained(values: Sequence[int]) -> bool:
    """Growth spread over the series, not one jump: it rose in at least two thirds of the intervals
    (every interval of a 2- or 3-sample series). One step up between flat stretches is a bounded
    thing refilling, a GC moving a pool, a batch arriving -- not a leak yet."""
    steps = np.diff(np.asarray(values, dtype=np.int64))
    return bool(len(steps)) and int(np.count_nonzero(steps > 0)) >= math.ceil(2 * len(steps) / 3)


def _up_every_interval(tr: Trend) -> bool:
    return bool(np.all(np.diff(np.asarray(tr.stats.values, dtype=np.int64)) > 0))


@dataclass
class SiteView:
    site: SiteSeries
    trend: Trend

    @property
    def label(self) -> str:
        return f"{self.site.function} {self.site.file.rsplit('/', 1)[-1]}:{self.site.line}"


def _site_views(sites: Sequence[SiteSeries]) -> list[SiteView]:
    out = []
    for s in sites:
        if len(s.inuse_bytes) >= 2 and len(s.t) == len(s.inuse_bytes):
            tr = trend_of("in-use bytes", s.inuse_bytes, s.t,
                          s.alloc_bytes if len(s.alloc_bytes) == len(s.inuse_bytes) else None)
            if tr is not None:
                out.append(SiteView(s, tr))
    return out


def _site_evidence(views: list[SiteView], total: Trend | None = None) -> list[Evidence]:
    out = []
    if total is not None and len(views) > 1:
        out.append(Evidence("profile", f"its {len(views)} matched profile sites together: in-use {total.cls} "
                            f"({_series_text(total.stats.values)})", total.figures))
    return out + [Evidence("profile", f"site {v.label} ({v.site.kind}): in-use {v.trend.cls} across "
                     f"{len(v.site.inuse_bytes)} profiles",
                     {"site": v.label, "kind": v.site.kind, "inuse_bytes": list(v.site.inuse_bytes),
                      "alloc_bytes": list(v.site.alloc_bytes), "trend": v.trend.cls}) for v in views]


@dataclass
class TimeFacts:
    """What the samples (and matched profile sites) say about time, shared by maps and slices."""

    n: int
    size: list[Trend]  # count/len, and reachable bytes when the graph measured any
    sites: list[SiteView]
    turnover: list[float | None]
    rooted: bool
    structure_kinds: tuple[str, ...] = ()
    retained: Trend | None = None  # the item's retained bytes (dominator subtree), when the graph measured them
    #: Per interval: whether the item's own allocation (map header, slice array) is a different one than
    #: in the previous sample; None where either address is unknown.
    remade: list[bool | None] = field(default_factory=list)

    @property
    def remade_every_interval(self) -> bool:
        return self.n >= 2 and len(self.remade) == self.n - 1 and all(self.remade)

    @property
    def growing(self) -> list[Trend]:
        """Rose beyond the tolerance, sustained -- or up in every interval (then a level last stretch is
        not a plateau: exact counts that never stopped rising did not level off)."""
        return [tr for tr in self.size if (tr.cls == "growing" and sustained(tr.stats.values))
                or (tr.stats.rose and _up_every_interval(tr))]

    @property
    def stepped(self) -> list[Trend]:
        """Rose beyond the tolerance to the end, but in too few intervals to call it sustained."""
        return [tr for tr in self.size if tr.cls == "growing" and not sustained(tr.stats.values)]

    @property
    def creeping(self) -> list[Trend]:
        """Rose in every interval, but by less than the tolerance: a slow leak in a big map looks like this,
        and so does a level that happens to drift up over a short window."""
        return [tr for tr in self.size if tr.cls in ("flat", "plateau") and not tr.stats.rose
                and _up_every_interval(tr)]

    @property
    def falling(self) -> list[Trend]:
        return [tr for tr in self.size if tr.cls == "shrinking"]

    @property
    def n_profiles(self) -> int:
        return len(self.sites[0].site.inuse_bytes) if self.sites else 0

    def _total(self, views: list[SiteView]) -> Trend | None:
        """The matched sites summed: one line's in-use may grow while another's falls as new entries
        replace old ones (a FIFO fills at one line, its first fill drains at another)."""
        views = [v for v in views if len(v.site.inuse_bytes) == self.n_profiles]
        if not views:
            return None
        inuse = np.sum([v.site.inuse_bytes for v in views], axis=0)
        alloc = (np.sum([v.site.alloc_bytes for v in views], axis=0)
                 if all(len(v.site.alloc_bytes) == self.n_profiles for v in views) else None)
        return trend_of("in-use bytes of its matched profile sites", inuse.tolist(), views[0].site.t,
                        None if alloc is None else alloc.tolist())

    @property
    def site_total(self) -> Trend | None:
        return self._total(self.sites)

    @property
    def sites_growing(self) -> bool:
        tr = self.site_total
        return tr is not None and tr.cls == "growing" and sustained(tr.stats.values)

    @property
    def value_sites_growing(self) -> bool:
        """The sites that allocate what the item holds (not its own structure: a classic map's overflow
        buckets grow while its entries hold still, until a same-size grow drops them) grow together."""
        tr = self._total([v for v in self.sites if v.site.kind not in self.structure_kinds])
        return tr is not None and tr.cls == "growing" and sustained(tr.stats.values)

    @property
    def sites_churn(self) -> bool:
        tr = self.site_total
        return tr is not None and tr.cls == "churn"

    @property
    def turnover_known(self) -> bool:
        return self.n >= 2 and all(x is not None for x in self.turnover)

    @property
    def turnover_sustained(self) -> bool:
        """Objects the item points to were replaced in every interval."""
        return self.turnover_known and all(x > 0 for x in self.turnover)  # type: ignore[operator]

    @property
    def replaced(self) -> float:
        """Share of the pointed-to objects replaced over the whole series (intervals compounded)."""
        keep = 1.0
        for x in self.turnover:
            keep *= 1.0 - float(x or 0.0)
        return 1.0 - keep


def _time_facts(size_series: list[tuple[str, list[int]]], t: list[float], sites: Sequence[SiteSeries],
                turnover: list[float | None], rooted: bool, structure_kinds: tuple[str, ...] = (),
                retained: list[int] | None = None, addrs: Sequence[int | None] = ()) -> TimeFacts:
    trends = [tr for what, values in size_series if (tr := trend_of(what, values, t)) is not None]
    kept = trend_of("retained bytes", retained, t) if retained and any(retained) else None
    remade = [None if not a or not b else a != b for a, b in zip(addrs, addrs[1:])]
    return TimeFacts(len(t), trends, _site_views(sites), turnover, rooted, structure_kinds, kept, remade)


def _size_evidence(f: TimeFacts) -> list[Evidence]:
    return [Evidence("graph" if "reachable" in tr.what else "snapshots",
                     f"{tr.what} across {f.n} samples: {tr.cls} ({_series_text(tr.stats.values)})", tr.figures)
            for tr in f.size]


def _series_text(values: list[int]) -> str:
    return " -> ".join(f"{v:,}" for v in values)


def _time_confidence(n: int, monotonic: bool = True) -> str:
    if n >= CONFIDENT_SAMPLES and monotonic:
        return "high"
    return "medium" if n >= CONFIDENT_SAMPLES else "low"


def _leak_or_conflict(f: TimeFacts, kind: str, own_slack: int = 0) -> tuple[str, str, str | None] | None:
    """(verdict, confidence, needs) when the series say leak -- or undetermined when they conflict; None otherwise.

    ``own_slack``: bytes of the item's own structure beyond what a fresh one of its entries would hold.
    Churn grows a map's structure (overflow buckets, tombstones, table growth) without adding entries, so
    matched sites whose in-use grew by no more than that cannot, from one snapshot, be told from churn.
    """
    grow, fall = f.growing, f.falling
    if grow and all("reachable" in tr.what for tr in grow) and f.retained is not None and not f.retained.stats.rose:
        return ("undetermined", "low", "what its values reach grows, but its retained bytes hold still: other roots "
                "keep that memory alive too -- judge the item that retains it (goinspect why)")
    if grow and fall:
        return ("undetermined", "low", f"the {', '.join(t.what for t in grow)} grow while the "
                f"{', '.join(t.what for t in fall)} fall: more samples to see which holds")
    if grow:
        if not f.rooted:
            return ("undetermined", "low", "it grows but no root reaches it: a snapshot after the next GC")
        mono = all(tr.stats.monotonic for tr in grow)
        conf = _time_confidence(f.n, mono)
        if f.sites and not f.sites_growing and conf == "high":
            conf = "medium"  # the matched sites do not show it: they may feed something else
        needs = None if conf == "high" else f"{CONFIDENT_SAMPLES}+ samples showing the growth sustained"
        return ("leak", conf, needs)
    if f.stepped:
        rose = ", ".join(f"{t.what} rose in {int(np.count_nonzero(np.diff(t.stats.values) > 0))} of "
                         f"{len(t.stats.values) - 1} intervals" for t in f.stepped)
        return ("undetermined", "low", f"{rose}: more samples to tell a step (a refill, a batch) from sustained growth")
    if f.creeping and not f.sites_churn and f.n - 1 >= SIGN_TEST_INTERVALS and f.rooted:
        return ("leak", "low", "a longer window: the rise is small against the size, but it never paused")
    if f.creeping and not f.sites_churn:
        what = ", ".join(f"{t.what} rose {t.stats.growth:,}, up in every interval" for t in f.creeping)
        return ("undetermined", "low", f"{what}, less than the tolerance a level is allowed: a longer window "
                "(more samples, or a longer --interval) to tell slow growth from drift")
    if f.sites_growing:
        steady = [tr for tr in f.size if tr.cls in ("flat", "plateau")]
        if f.n >= 2 and steady and f.value_sites_growing:
            return ("undetermined", "low", f"the {kind}'s own figures hold still while its matched profile site grows "
                    "(the site may feed something else): more snapshots")
        if f.n >= 2 or not f.rooted:
            return None if f.rooted else ("undetermined", "low", "a snapshot showing a root reaches it")
        total = f.site_total
        if total is not None and total.stats.growth <= own_slack:
            return ("undetermined", "low", f"2+ snapshots: its matched sites grew {total.stats.growth:,} bytes, no "
                    f"more than its own structure holds beyond a fresh {kind} ({own_slack:,}) -- churn grows that too")
        return ("leak", "medium" if f.n_profiles >= CONFIDENT_SAMPLES else "low",
                f"2+ snapshots to confirm the {kind} itself grows (the verdict rests on its profile sites)")
    return None


def _steady(f: TimeFacts, kind: str, evidence: list[Evidence], own_bytes: int = 0,
            version: GoVersion | None = None) -> tuple[str, str, str | None]:
    """churn, healthy or undetermined for an item that neither leaks nor wastes memory.

    ``own_bytes``: the item's own allocation (a map's structure, a slice's array). Rebuilt in every
    interval, it is churn when it is a large object (its own span, > maxSmallSize): heavy allocation
    while in-use holds. A small one made anew each time (a 128-byte copy) is no load worth a verdict.
    """
    if f.remade_every_interval and own_bytes > for_version(version).max_small_size:
        what = "map (header and structure)" if kind == "map" else "array"
        evidence.append(Evidence("snapshots", f"its {what} of {own_bytes:,} bytes was a new allocation in every "
                                 "interval (the previous one dropped) while its size held: rebuilt, not updated",
                                 {"remade": f.remade, "own_bytes": own_bytes}))
        conf = "high" if f.n >= CONFIDENT_SAMPLES else "low"
        return "churn", conf, None if conf == "high" else f"{CONFIDENT_SAMPLES}+ samples"
    if f.n >= 2 and f.turnover_known:
        if f.turnover_sustained:
            conf = "high" if f.replaced >= 0.5 and f.n >= CONFIDENT_SAMPLES else ("medium" if f.n >= 3 else "low")
            evidence.append(Evidence("snapshots", f"{f.replaced:.0%} of the objects it points to were replaced over "
                                     f"the samples, some in every interval, while its size held",
                                     {"turnover": f.turnover, "replaced": round(f.replaced, 4)}))
            return "churn", conf, None if conf == "high" else f"{CONFIDENT_SAMPLES}+ samples"
        if any(f.turnover):
            evidence.append(Evidence("snapshots", "some objects it points to were replaced, not in every interval",
                                     {"turnover": f.turnover}))
    if f.n < 2 or not f.turnover_known:
        if f.sites_churn and not f.sites_growing:
            # No turnover figures from snapshots: the matched sites say allocation runs while in-use holds.
            return ("churn", "medium" if f.n_profiles >= CONFIDENT_SAMPLES and f.n >= 2 else "low",
                    None if f.n >= 2 else f"2+ snapshots to see the {kind} itself hold still")
    if f.n >= 2:
        conf = _time_confidence(f.n)
        return "healthy", conf, None if conf == "high" else f"{CONFIDENT_SAMPLES}+ samples"
    # Matched sites that hold still do not make one snapshot healthy: what the item points to may be
    # allocated elsewhere (a request built in one function, stored in the map in another).
    return "undetermined", "low", NEEDS_SAMPLES


# ---------------------------------------------------------------------------------------------
# Maps.

#: Profile-site kinds (goinspect.profile.attribute.KINDS) that allocate a map's own structure.
MAP_STRUCTURE_KINDS = ("map-buckets", "map-header")

MAP_FIX = {
    "leak-count": "Entries are added and never removed: bound the map -- delete an entry when the work it tracks "
                  "ends, or evict (LRU / TTL / size limit) if it is a cache.",
    "leak-values": "The values keep growing (the map's len holds): bound what each value accumulates -- trim or "
                   "reset it after use, keep only the last N, or move old data out.",
    "retained-capacity": "Maps never shrink, and clear() keeps the buckets too: copy the live entries into a fresh "
                         "map and drop the old one (m2 := make(map[K]V, len(m)); for k, v := range m { m2[k] = v }; "
                         "m = m2), or assign a new map when it is emptied.",
    "retained-capacity-empty": "The map is empty but keeps the buckets/tables of its peak (delete and clear() never "
                               "shrink a map): assign a fresh one (m = make(map[K]V)) where it is emptied.",
    "growing": "A classic map's grow only advances on writes (each evacuates one or two old buckets) and this one "
               "is not written: {writes} more writes (e.g. storing an existing key again) finish it and free the "
               "old bucket array -- or copy the entries into a fresh map.",
    "churn": "Nothing accumulates: entries/values are allocated and dropped at the same rate. To cut GC work, "
             "reuse values (sync.Pool, preallocated buffers) instead of allocating one per entry.",
}


def judge_map(name: str, samples: list[MapSample], sites: list[SiteSeries], go_version: str) -> Verdict:
    """The verdict for map ``name`` from its samples (oldest first) and matched profile sites."""
    if not samples:
        return Verdict("undetermined", "low", [NO_SNAPSHOT] + _site_evidence(_site_views(sites)), "", 0,
                       "a snapshot of the map (is it reachable, how big is it?)")
    last = samples[-1]
    v = model_version(go_version, last.impl)
    t = [s.t for s in samples]
    size_series = [("entries (count)", [s.count for s in samples])]
    if any(s.reachable_bytes for s in samples):
        size_series.append(("bytes reachable through its values", [s.reachable_bytes for s in samples]))
    f = _time_facts(size_series, t, sites, [s.turnover for s in samples[1:]], all(s.rooted for s in samples),
                    MAP_STRUCTURE_KINDS, [s.retained_bytes for s in samples], [s.addr for s in samples])
    evidence = _size_evidence(f) + _map_model_evidence(samples, v) + _site_evidence(f.sites, f.site_total)

    own_slack = max(0, last.structure_bytes - fresh_map_bytes(last.count, last, v))
    leak = _leak_or_conflict(f, "map", own_slack)
    if leak is not None:
        verdict, conf, needs = leak
        if verdict != "leak":
            return Verdict(verdict, conf, evidence, "", 0, needs)
        count_grows = any(tr.what.startswith("entries") for tr in f.growing)
        fix = MAP_FIX["leak-count" if count_grows or not f.growing else "leak-values"]
        return Verdict("leak", conf, evidence, fix, _leak_freed(samples), needs)

    stuck = _classic_grow(samples, v, evidence)
    if stuck is not None:
        return stuck

    spare = _map_spare(samples, v)
    if spare is not None:
        cap, natural, fresh = spare
        freed = max(0, last.structure_bytes - fresh)
        evidence.append(Evidence("model", f"{cap:,} slots for at most {max(s.count for s in samples):,} entries: "
                                 f"inserts alone would have built {natural:,}; a fresh map of {last.count:,} entries "
                                 f"holds {fresh:,} bytes of the {last.structure_bytes:,}",
                                 {"capacity": cap, "natural_capacity": natural, "fresh_bytes": fresh,
                                  "structure_bytes": last.structure_bytes, "freed_bytes": freed}))
        single = len(samples) == 1
        fix = MAP_FIX["retained-capacity-empty" if last.count == 0 else "retained-capacity"]
        needs = "a second snapshot, to see whether the map refills (then the capacity is in use)" if single else None
        return Verdict("retained-capacity", "medium" if single else "high", evidence, fix, freed, needs)

    verdict, conf, needs = _steady(f, "map", evidence, last.structure_bytes, v)
    fix = MAP_FIX["churn"] if verdict == "churn" else ""
    return Verdict(verdict, conf, evidence, fix, 0, needs)


def _leak_freed(samples: list[MapSample] | list[SliceSample]) -> int:
    """What bounding the item would free: what accumulated over the samples (its retained bytes, as the
    graph measured them, else reachable plus structure bytes); from one sample, all it retains."""
    first, last = samples[0], samples[-1]
    if last.retained_bytes:
        return int(max(0, last.retained_bytes - (first.retained_bytes if len(samples) > 1 else 0)))
    grew = (last.reachable_bytes - first.reachable_bytes)
    if isinstance(last, MapSample) and isinstance(first, MapSample):
        grew += last.structure_bytes - first.structure_bytes
    return int(max(0, grew))


def _map_model_evidence(samples: list[MapSample], v: GoVersion | None) -> list[Evidence]:
    last = samples[-1]
    fresh = fresh_map_bytes(last.count, last, v)
    figures = {"count": last.count, "structure_bytes": last.structure_bytes, "fresh_bytes": fresh,
               "live_bytes": last.live_bytes, "impl": last.impl}
    text = (f"{last.count:,} entries in {last.structure_bytes:,} structure bytes; a fresh map of them would hold "
            f"{fresh:,}")
    if last.impl == "hmap" and last.B is not None:
        figures.update(B=last.B, noverflow=last.noverflow, overflow_buckets=last.overflow_buckets)
        trigger = classicmap.overflow_trigger(last.B)
        text += (f"; B={last.B}, {last.overflow_buckets:,} overflow buckets "
                 f"(a same-size grow at noverflow >= {trigger:,})")
    elif last.impl == "swiss":
        figures.update(capacity=last.capacity, tombstones=last.tombstones)
        text += f"; {last.capacity:,} slots, {last.tombstones:,} tombstones"
    if len(samples) >= 2:
        figures["structure_series"] = [s.structure_bytes for s in samples]
    return [Evidence("model", text, figures)]


def _map_spare(samples: list[MapSample], v: GoVersion | None) -> tuple[int, int, int] | None:
    """(capacity, natural capacity, fresh bytes) when the map holds more than SPARE_FACTOR times the slots
    inserts alone would have built for the most entries it held in any sample."""
    last = samples[-1]
    if last.structure_bytes == 0:
        return None  # nil map
    if last.impl == "hmap":
        if last.B is None:
            return None
        cap = classicmap.BUCKET_COUNT << last.B
    else:
        cap = last.capacity
    natural = natural_map_capacity(max(s.count for s in samples), last.impl, v)
    if cap > SPARE_FACTOR * natural:
        return cap, natural, fresh_map_bytes(last.count, last, v)
    return None


def _classic_grow(samples: list[MapSample], v: GoVersion | None, evidence: list[Evidence]) -> Verdict | None:
    """``growing`` for a classic map whose grow is under way and (with 2+ samples) does not advance."""
    last = samples[-1]
    if last.impl != "hmap" or not last.growing or last.B is None or not last.oldbuckets:
        return None
    same_size = last.oldbuckets == 1 << last.B
    ev = classicmap.evacuation(last.B, last.nevacuate, same_size)
    lo, hi = ev.writes_to_finish
    bt = classicmap.bucket_type(last.key_size, last.elem_size, last.noscan is not True, last.noscan is not True)
    old_b = last.oldbuckets.bit_length() - 1
    freed = classicmap.bucket_array(old_b, bt, v).block
    trailing = []
    for s in reversed(samples):
        if not s.growing:
            break
        trailing.append(s)
    trailing.reverse()
    still = all((s.nevacuate, s.oldbuckets, s.count, s.B) == (last.nevacuate, last.oldbuckets, last.count, last.B)
                for s in trailing)
    figures = {"B": last.B, "oldbuckets": last.oldbuckets, "nevacuate": last.nevacuate,
               "nevacuate_series": [s.nevacuate for s in trailing], "same_size": same_size,
               "fraction_evacuated": round(ev.fraction_done, 4), "writes_to_finish": [lo, hi],
               "old_array_bytes": freed}
    fix = MAP_FIX["growing"].format(writes=f"{lo:,}..{hi:,}" if lo != hi else f"{lo:,}")
    if len(trailing) >= 2 and still:
        evidence.append(Evidence("snapshots", f"a {'same-size' if same_size else 'doubling'} grow stands still: "
                                 f"nevacuate {last.nevacuate:,} of {last.oldbuckets:,} old buckets in all "
                                 f"{len(trailing)} samples", figures))
        conf = "high" if len(trailing) >= CONFIDENT_SAMPLES else "medium"
        return Verdict("growing", conf, evidence, fix, freed,
                       None if conf == "high" else f"{CONFIDENT_SAMPLES}+ samples with nevacuate unchanged")
    if len(samples) == 1:
        evidence.append(Evidence("snapshots", f"a {'same-size' if same_size else 'doubling'} grow is under way: "
                                 f"{last.nevacuate:,} of {last.oldbuckets:,} old buckets evacuated; old and new "
                                 f"bucket arrays are both held", figures))
        return Verdict("growing", "low", evidence, fix, freed,
                       "a second snapshot: if nevacuate has not moved, writes have stopped and the grow is stuck")
    evidence.append(Evidence("snapshots", "a grow is under way and advancing (writes are evacuating it)", figures))
    return None


# ---------------------------------------------------------------------------------------------
# Slices.

SLICE_FIX = {
    "leak": "Elements are appended and never dropped: remove what is done (s = s[:0], slices.Delete) or bound it "
            "(a ring buffer, a size limit).",
    "leak-values": "The slice's len holds but what its elements point to keeps growing: bound what each element "
                   "accumulates.",
    "slice-pinning": "The slice is a small window into a much larger array and keeps all of it alive: "
                     "s = slices.Clone(s) (or copy into make([]T, len(s))) so the large array can be freed.",
    "retained-capacity": "The slice keeps far more capacity than its elements ever needed: if the spare capacity "
                         "is not reused, s = slices.Clone(s) (or s = nil when empty) lets it be freed.",
    "churn": "Nothing accumulates: the objects its elements point to are allocated and dropped at the same rate. "
             "To cut GC work, reuse them (sync.Pool, preallocated values).",
}


def judge_slice(name: str, samples: list[SliceSample], sites: list[SiteSeries], go_version: str) -> Verdict:
    """The verdict for slice ``name`` from its samples (oldest first) and matched profile sites."""
    if not samples:
        return Verdict("undetermined", "low", [NO_SNAPSHOT] + _site_evidence(_site_views(sites)), "", 0,
                       "a snapshot of the slice (is it reachable, what does it point into?)")
    last = samples[-1]
    v = model_version(go_version)
    t = [s.t for s in samples]
    size_series = [("elements (len)", [s.len for s in samples])]
    if any(s.reachable_bytes for s in samples):
        size_series.append(("bytes reachable through its elements", [s.reachable_bytes for s in samples]))
    f = _time_facts(size_series, t, sites, [s.turnover for s in samples[1:]], all(s.rooted for s in samples),
                    retained=[s.retained_bytes for s in samples], addrs=[s.array for s in samples])
    evidence = _size_evidence(f) + _site_evidence(f.sites, f.site_total)
    clone = clone_bytes(last.len, last.elem_size, last.noscan, v)
    if last.alloc_bytes is not None:
        evidence.append(Evidence("model", f"len {last.len:,}, cap {last.cap:,} of {last.elem_size} bytes in a "
                                 f"{last.alloc_bytes:,}-byte allocation (offset {last.offset_in_alloc:,}); "
                                 f"slices.Clone would allocate {clone:,}",
                                 {"len": last.len, "cap": last.cap, "elem_size": last.elem_size,
                                  "alloc_bytes": last.alloc_bytes, "offset_in_alloc": last.offset_in_alloc,
                                  "clone_bytes": clone}))
    else:
        evidence.append(Evidence("model", f"len {last.len:,}, cap {last.cap:,}: its array is not a heap object "
                                 "(static data or a stack)", {"len": last.len, "cap": last.cap}))

    leak = _leak_or_conflict(f, "slice")
    if leak is not None:
        verdict, conf, needs = leak
        if verdict != "leak":
            return Verdict(verdict, conf, evidence, "", 0, needs)
        len_grows = any(tr.what.startswith("elements") for tr in f.growing)
        fix = SLICE_FIX["leak" if len_grows or not f.growing else "leak-values"]
        return Verdict("leak", conf, evidence, fix, _leak_freed(samples), needs)

    if last.alloc_bytes is not None:
        own = own_block(last.cap * last.elem_size, last.noscan, v)
        if last.alloc_bytes >= PIN_FACTOR * max(own, 1) and last.alloc_bytes > own:
            freed = last.alloc_bytes - clone
            out_of_reach = last.alloc_bytes - last.cap * last.elem_size
            evidence.append(Evidence("model", f"its cap reaches {last.cap * last.elem_size:,} bytes of a "
                                     f"{last.alloc_bytes:,}-byte allocation: {out_of_reach:,} bytes are out of "
                                     "its reach but kept alive",
                                     {"reachable_by_slice": last.cap * last.elem_size, "alloc_bytes": last.alloc_bytes,
                                      "own_block": own, "freed_bytes": freed}))
            return Verdict("slice-pinning", "high", evidence, SLICE_FIX["slice-pinning"], max(0, freed), None)
        max_len = max(s.len for s in samples)
        natural = natural_slice_cap(max_len, last.elem_size, last.noscan, v)
        needed = own_block(natural * last.elem_size, last.noscan, v)
        if last.alloc_bytes > for_version(v).max_small_size and last.alloc_bytes >= PIN_FACTOR * max(needed, 1):
            # A short slice of a large object (big[:64], big[a:b]): its cap still reaches the rest, but its
            # elements never used it in these samples -- the classic subslice that keeps a big read alive.
            freed = last.alloc_bytes - clone
            evidence.append(Evidence("model", f"at most {max_len:,} elements ({max_len * last.elem_size:,} bytes) "
                                     f"in a {last.alloc_bytes:,}-byte allocation: appends alone would have "
                                     f"allocated {needed:,}; the capacity past len is within its reach, but "
                                     "unused in every sample (a scratch buffer kept on purpose looks the same)",
                                     {"max_len": max_len, "needed_block": needed, "alloc_bytes": last.alloc_bytes,
                                      "freed_bytes": freed}))
            single = len(samples) == 1
            return Verdict("slice-pinning", "medium", evidence, SLICE_FIX["slice-pinning"], max(0, freed),
                           "a second snapshot, to see whether its len ever reaches into the capacity" if single
                           else "whether the program re-extends it (s = s[:cap(s)]) or appends into the capacity")
        if last.cap > SPARE_FACTOR * max(natural, 0) and last.cap > 0:
            freed = max(0, last.alloc_bytes - clone)
            evidence.append(Evidence("model", f"cap {last.cap:,} for at most {max_len:,} elements: appends alone "
                                     f"would leave cap {natural:,}", {"cap": last.cap, "natural_cap": natural,
                                                                       "freed_bytes": freed}))
            single = len(samples) == 1
            return Verdict("retained-capacity", "medium" if single else "high", evidence,
                           SLICE_FIX["retained-capacity"], freed,
                           "a second snapshot, to see whether the spare capacity is reused" if single else None)

    verdict, conf, needs = _steady(f, "slice", evidence, last.alloc_bytes or 0, v)
    return Verdict(verdict, conf, evidence, SLICE_FIX["churn"] if verdict == "churn" else "", 0, needs)
