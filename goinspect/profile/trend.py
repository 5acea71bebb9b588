"""How each allocation site moves across heap snapshots: growing, plateau, churn, shrinking or flat.

pprof compares two profiles; a leak shows over several. For every site (a
node at the chosen granularity, by default the leaf source line: where the
memory was allocated) this takes its flat value in each snapshot and fits a
least-squares line, then classifies the series:

- **growing**: the value rose by more than the tolerance and is still rising
  at the end (not level over the last ``plateau_k`` snapshots);
- **plateau**: it rose, then stayed level (within the tolerance) over the
  last ``plateau_k`` snapshots, like a cache that filled up;
- **churn**: in-use stayed level throughout while the matching ``alloc_*``
  value kept rising: memory allocated and freed at the same rate;
- **fluctuating**: it ended higher, but went up and down on the way and a
  line fits it badly (R² below 0.5): a pool or buffer breathing, not growth;
- **shrinking**: it fell by more than the tolerance;
- **flat**: none of these.

"Level" and "rose" are judged relative to the site's largest value
(``tolerance``, default 5%), which absorbs the sampling noise of profiles
taken at the default MemProfileRate. Everything here is pure: profiles in,
numbers out; the command renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from goinspect.errors import UsageError
from goinspect.profile.aggregate import NodeInfo, flat_all_types
from goinspect.profile.filters import NameFilter
from goinspect.profile.model import Profile

CLASSES = ("growing", "plateau", "churn", "fluctuating", "shrinking", "flat")
#: Below this R², a series that rose but not at every snapshot is noise around a level, not growth.
MIN_GROWTH_R2 = 0.5
DEFAULT_TOLERANCE = 0.05
DEFAULT_PLATEAU_K = 2
MIN_SNAPSHOTS = 3


@dataclass(frozen=True, slots=True)
class Fit:
    slope: float  # per x unit
    intercept: float
    r2: float  # 1.0 for a series the line fits exactly (a constant one included)


def fit_line(x: np.ndarray, y: np.ndarray) -> Fit:
    """Ordinary least squares of y on x, with the coefficient of determination."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx) if sxx else 0.0
    intercept = ym - slope * xm
    ss_tot = float(((y - ym) ** 2).sum())
    ss_res = float(((y - (intercept + slope * x)) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot else (1.0 if ss_res == 0 else 0.0)
    return Fit(slope, float(intercept), r2)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    values: list[int]
    growth: int  # last - first
    growth_pct: float | None  # relative to the first value (None when it is 0)
    slope_per_snapshot: float
    slope_per_second: float | None
    r2: float
    monotonic: bool  # never decreased, and rose overall
    rose: bool  # rose by more than the tolerance
    fell: bool
    level: bool  # stayed within the tolerance throughout
    level_tail: bool  # the last plateau_k values are within the tolerance


def series_stats(values: np.ndarray, seconds: np.ndarray | None, tolerance: float = DEFAULT_TOLERANCE,
                 plateau_k: int = DEFAULT_PLATEAU_K) -> SeriesStats:
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    fit = fit_line(np.arange(n), v)
    per_second = None
    if seconds is not None and float(np.ptp(seconds)) > 0:
        per_second = fit_line(seconds, v).slope
    scale = float(np.abs(v).max()) if n else 0.0
    tol = tolerance * scale
    growth = int(v[-1] - v[0])
    tail = v[-plateau_k:]
    steps = np.diff(v)
    return SeriesStats(
        values=[int(x) for x in v],
        growth=growth,
        growth_pct=(growth / float(v[0]) * 100) if v[0] else None,
        slope_per_snapshot=fit.slope,
        slope_per_second=per_second,
        r2=fit.r2,
        monotonic=bool((steps >= 0).all() and growth > 0),
        rose=growth > tol,
        fell=-growth > tol,
        level=float(np.ptp(v)) <= tol if n else True,
        level_tail=float(np.ptp(tail)) <= tol if len(tail) else True,
    )


def classify(stats: SeriesStats, companion: SeriesStats | None) -> str:
    """One of CLASSES; ``companion`` is the alloc_* series matching an inuse_* one (None otherwise)."""
    if stats.rose:
        if stats.level_tail:
            return "plateau"
        if not stats.monotonic and stats.r2 < MIN_GROWTH_R2:
            return "fluctuating"
        return "growing"
    if stats.fell:
        return "shrinking"
    if stats.level and companion is not None and companion.rose:
        return "churn"
    return "flat"


@dataclass(slots=True)
class SiteTrend:
    node: NodeInfo
    stats: SeriesStats
    companion: SeriesStats | None
    classification: str
    kind: str | None = None


@dataclass(slots=True)
class Snapshot:
    source: str
    time_nanos: int
    total: int  # the chosen sample type, summed over all samples


@dataclass(slots=True)
class TrendReport:
    sample_type: str
    unit: str
    companion_type: str | None
    granularity: str
    snapshots: list[Snapshot]
    tolerance: float
    plateau_k: int
    total: SiteTrend  # the whole heap as one series
    sites: list[SiteTrend] = field(default_factory=list)


def companion_type(sample_type: str, types: list[str]) -> str | None:
    """alloc_space for inuse_space (alloc_objects for inuse_objects): what churn is judged by."""
    if sample_type.startswith("inuse_"):
        other = "alloc_" + sample_type.removeprefix("inuse_")
        if other in types:
            return other
    return None


def snapshot_seconds(profiles: list[Profile]) -> np.ndarray | None:
    """Seconds since the first snapshot, when every snapshot has a time; snapshots must be in time order."""
    times = [p.time_nanos for p in profiles]
    if not all(times):
        return None
    if any(b < a for a, b in zip(times, times[1:])):
        raise UsageError("the snapshots are not in time order: give them oldest first")
    return (np.asarray(times, dtype=np.float64) - times[0]) / 1e9


def trend(profiles: list[Profile], sources: list[str], sample_index: str | None = None,
          granularity: str = "lines", filters: NameFilter | None = None,
          tolerance: float = DEFAULT_TOLERANCE, plateau_k: int = DEFAULT_PLATEAU_K,
          last_kinds: tuple[np.ndarray, list[str]] | None = None) -> TrendReport:
    """Per-site series over ``profiles`` (oldest first) with fit, plateau and classification.

    ``last_kinds`` (per-sample kind codes of the newest snapshot, and the kind
    names) names each site's dominant kind, weighted by the alloc_* value
    when there is one (it sees freed memory too), else the chosen value.
    """
    if len(profiles) < MIN_SNAPSHOTS:
        raise UsageError(f"a trend needs at least {MIN_SNAPSHOTS} snapshots, got {len(profiles)}")
    if not 2 <= plateau_k <= len(profiles):
        raise UsageError(f"--plateau-snapshots must be between 2 and the number of snapshots ({len(profiles)})")
    if not 0 <= tolerance < 1:
        raise UsageError(f"--tolerance must be at least 0 and below 1, not {tolerance}")
    types = [t.type for t in profiles[0].sample_types]
    for p, src in zip(profiles[1:], sources[1:]):
        if [t.type for t in p.sample_types] != types:
            raise UsageError(f"{src} has sample types {[t.type for t in p.sample_types]}, the first snapshot {types}")
    si = profiles[0].sample_index(sample_index)
    ci_name = companion_type(types[si], types)
    ci = types.index(ci_name) if ci_name else None
    seconds = snapshot_seconds(profiles)

    site_index: dict[NodeInfo, int] = {}
    per_snapshot: list[tuple[np.ndarray, np.ndarray]] = []
    kind_of: dict[NodeInfo, str] = {}
    for j, p in enumerate(profiles):
        codes = last_kinds[0] if (last_kinds is not None and j == len(profiles) - 1) else None
        n_kinds = len(last_kinds[1]) if codes is not None else 0
        nodes, values, by_kind = flat_all_types(p, granularity, filters, codes, n_kinds,
                                                ci if ci is not None else si)
        ids = np.fromiter((site_index.setdefault(n, len(site_index)) for n in nodes), dtype=np.int64,
                          count=len(nodes))
        per_snapshot.append((ids, values))
        if by_kind is not None:
            for i in np.flatnonzero(by_kind.any(axis=1)):
                kind_of[nodes[i]] = last_kinds[1][int(np.abs(by_kind[i]).argmax())]
    n_sites, n_snap = len(site_index), len(profiles)
    primary = np.zeros((n_sites, n_snap), dtype=np.int64)
    secondary = np.zeros((n_sites, n_snap), dtype=np.int64) if ci is not None else None
    for j, (ids, values) in enumerate(per_snapshot):
        primary[ids, j] = values[:, si]
        if secondary is not None:
            secondary[ids, j] = values[:, ci]
    names = list(site_index)

    def site(node: NodeInfo, row: np.ndarray, comp_row: np.ndarray | None) -> SiteTrend:
        st = series_stats(row, seconds, tolerance, plateau_k)
        comp = series_stats(comp_row, seconds, tolerance, plateau_k) if comp_row is not None else None
        return SiteTrend(node, st, comp, classify(st, comp), kind_of.get(node))

    active = np.flatnonzero(primary.any(axis=1) | (secondary.any(axis=1) if secondary is not None else False))
    sites = [site(names[i], primary[i], secondary[i] if secondary is not None else None) for i in active]
    sites.sort(key=lambda s: (-s.stats.growth, -s.stats.slope_per_snapshot, s.node.printable))
    snaps = [Snapshot(src, p.time_nanos, int(p.samples.values[:, si].sum())) for p, src in zip(profiles, sources)]
    total_row = np.asarray([s.total for s in snaps], dtype=np.int64)
    comp_total = (np.asarray([int(p.samples.values[:, ci].sum()) for p in profiles], dtype=np.int64)
                  if ci is not None else None)
    return TrendReport(sample_type=types[si], unit=profiles[0].sample_types[si].unit, companion_type=ci_name,
                       granularity=granularity, snapshots=snaps, tolerance=tolerance, plateau_k=plateau_k,
                       total=site(NodeInfo(name="(total)"), total_row, comp_total), sites=sites)
