"""Follow every allocation site across three or more heap snapshots (oldest first).

For each site (by default the source line that allocated) this shows its value
in every snapshot, the least-squares slope (per snapshot, and per second when
the profiles carry their time), how well a straight line fits (R²), whether it
grew monotonically, and a classification: growing, plateau (grew, then level),
churn (in-use level while allocations keep rising), fluctuating (up and down,
no steady growth), shrinking or flat. Sites
are sorted by growth. This is what ``pprof -diff_base`` cannot tell from two
profiles.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from goinspect.commands.common import add_input_options, add_json_option, print_json, read_profile
from goinspect.commands.report_options import (add_filter_options, add_granularity_option, add_kind_options,
                                               add_sample_index_option, kinds_for, name_filter)
from goinspect.errors import UsageError
from goinspect.profile.model import Profile
from goinspect.profile.trend import (DEFAULT_PLATEAU_K, DEFAULT_TOLERANCE, MIN_SNAPSHOTS, SeriesStats, SiteTrend,
                                     TrendReport, trend)
from goinspect.render.table import render_table
from goinspect.render.units import fmt_value, output_unit


def stats_json(st: SeriesStats | None) -> dict[str, Any] | None:
    if st is None:
        return None
    return {"values": st.values, "growth": st.growth, "growth_pct": st.growth_pct,
            "slope_per_snapshot": st.slope_per_snapshot, "slope_per_second": st.slope_per_second,
            "r2": st.r2, "monotonic": st.monotonic, "rose": st.rose, "fell": st.fell, "level": st.level,
            "level_tail": st.level_tail}


def site_json(s: SiteTrend) -> dict[str, Any]:
    return {"name": s.node.printable, "function": s.node.name, "file": s.node.file, "line": s.node.line,
            "class": s.classification, "kind": s.kind, **stats_json(s.stats),
            "companion": stats_json(s.companion)}


def report_json(r: TrendReport, limit: int) -> dict[str, Any]:
    return {
        "sample_index": r.sample_type, "unit": r.unit, "companion_index": r.companion_type,
        "granularity": r.granularity, "tolerance": r.tolerance, "plateau_snapshots": r.plateau_k,
        "snapshots": [{"source": s.source, "time_nanos": s.time_nanos, "total": s.total} for s in r.snapshots],
        "total": site_json(r.total),
        "site_count": len(r.sites),
        "sites": [site_json(s) for s in (r.sites[:limit] if limit else r.sites)],
    }


def report_lines(r: TrendReport, limit: int) -> list[str]:
    shown = r.sites[:limit] if limit else r.sites
    everything = [v for s in [r.total, *shown] for v in s.stats.values]
    unit = output_unit(everything, max(everything, default=0), r.unit) or None

    def v(x: float, signed: bool = False) -> str:
        return fmt_value(int(round(x)), r.unit, unit, signed=signed)

    per_second = all(s.time_nanos for s in r.snapshots)
    lines = [f"Type: {r.sample_type}" + (f" (churn judged by {r.companion_type})" if r.companion_type else ""),
             f"Snapshots: {len(r.snapshots)}, oldest first; level = within {r.tolerance:.0%} of the site's largest "
             f"value, plateau = level over the last {r.plateau_k}"]
    header = [*(f"#{i + 1}" for i in range(len(r.snapshots))), "growth", "slope/snap"]
    if per_second:
        header.append("slope/s")
    header += ["R²", "mono", "class", "site"]
    rows = []
    for s in [r.total, *shown]:
        st = s.stats
        cells = [v(x) for x in st.values] + [v(st.growth, True), v(st.slope_per_snapshot, True)]
        if per_second:
            cells.append(v(st.slope_per_second, True) if st.slope_per_second is not None else "-")
        cells += [f"{st.r2:.2f}", "yes" if st.monotonic else "no", s.classification,
                  s.node.printable + (f" [{s.kind}]" if s.kind else "")]
        rows.append(cells)
    lines += render_table(header, rows, left={len(header) - 1, len(header) - 2})
    if limit and len(r.sites) > limit:
        lines.append(f"({len(r.sites) - limit} more sites; --nodecount 0 shows all)")
    return lines


class TrendCommand:
    """Follow every allocation site across three or more heap snapshots (oldest first)."""

    name = "trend"
    help = "per-site growth over >= 3 snapshots: slope, fit, plateau, growing/plateau/churn/fluctuating/shrinking/flat"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("profiles", nargs="+", metavar="PROFILE",
                            help=f"at least {MIN_SNAPSHOTS} heap profiles of one program, oldest first; "
                                 "or one URL with --samples")
        parser.add_argument("--samples", type=int, metavar="N",
                            help="poll the one URL given N times (at least 3) instead of reading N files")
        parser.add_argument("--interval", type=float, default=10.0, metavar="SECS",
                            help="seconds between polls with --samples (default 10)")
        add_sample_index_option(parser)
        add_granularity_option(parser, default="lines")
        parser.add_argument("--nodecount", type=int, default=25, metavar="N",
                            help="show the N fastest-growing sites (default 25; 0 shows all)")
        parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="F",
                            help=f"changes within F of a site's largest value count as level "
                                 f"(default {DEFAULT_TOLERANCE})")
        parser.add_argument("--plateau-snapshots", type=int, default=DEFAULT_PLATEAU_K, metavar="K",
                            help=f"a plateau is level over the last K snapshots (default {DEFAULT_PLATEAU_K})")
        add_filter_options(parser)
        add_kind_options(parser)
        add_input_options(parser)
        add_json_option(parser)

    def run(self, args: argparse.Namespace) -> int:
        if args.samples is not None:
            return self._run(args, *self._poll(args))
        if len(args.profiles) < MIN_SNAPSHOTS:
            raise UsageError(f"a trend needs at least {MIN_SNAPSHOTS} snapshots, got {len(args.profiles)}")
        return self._run(args, [read_profile(spec, args) for spec in args.profiles], list(args.profiles))

    @staticmethod
    def _poll(args: argparse.Namespace) -> tuple[list[Profile], list[str]]:
        """Fetch one live heap profile endpoint ``--samples`` times, ``--interval`` apart."""
        if len(args.profiles) != 1 or not args.profiles[0].startswith(("http://", "https://")):
            raise UsageError("--samples polls one http(s) URL: give exactly one URL")
        if args.samples < MIN_SNAPSHOTS:
            raise UsageError(f"--samples must be at least {MIN_SNAPSHOTS}, not {args.samples}")
        if args.interval < 0:
            raise UsageError(f"--interval must be 0 or more, not {args.interval}")
        url = args.profiles[0]
        profiles, sources = [], []
        for i in range(args.samples):
            if i:
                time.sleep(args.interval)
            profiles.append(read_profile(url, args))
            sources.append(f"{url} (poll {i + 1})")
            if not args.json:
                print(f"polled {url} ({i + 1}/{args.samples})", file=sys.stderr, flush=True)
        return profiles, sources

    def _run(self, args: argparse.Namespace, profiles: list[Profile], sources: list[str]) -> int:
        if args.nodecount < 0:
            raise UsageError(f"--nodecount must be 0 or more, not {args.nodecount}")
        filters = name_filter(args)
        kinds = kinds_for(profiles[-1], args)
        report = trend(profiles, sources, args.sample_index, args.granularity, filters,
                       args.tolerance, args.plateau_snapshots,
                       (kinds.codes, kinds.names) if kinds is not None else None)
        if args.json:
            print_json(report_json(report, args.nodecount))
        else:
            print("\n".join(report_lines(report, args.nodecount)))
        return 0


COMMAND = TrendCommand()
