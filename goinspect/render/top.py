"""A ``TopReport`` as pprof-like text, or as JSON-ready data (used by ``top`` and ``diff``)."""

from __future__ import annotations

import datetime as _dt
import posixpath
from typing import Any

from goinspect.profile.aggregate import Aggregate
from goinspect.profile.model import Profile
from goinspect.profile.top import TopReport, TopRow
from goinspect.render.table import render_table
from goinspect.render.units import fmt_pct, fmt_value, output_unit, pct


def row_kind(agg: Aggregate, row: TopRow, kind_names: list[str] | None) -> str | None:
    """The kind holding most of a row's flat value (its cum when it has no flat)."""
    if kind_names is None or agg.flat_by_kind is None or agg.cum_by_kind is None:
        return None
    split = agg.flat_by_kind[row.index] if row.flat else agg.cum_by_kind[row.index]
    if not split.any():
        return None
    return kind_names[int(abs(split).argmax())]


def top_json(profile: Profile, agg: Aggregate, report: TopReport, *, kind_names: list[str] | None = None,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    total = report.total
    running = 0
    rows = []
    for r in report.rows:
        running += r.flat
        row: dict[str, Any] = {
            "name": r.node.printable,
            "function": r.node.name,
            "file": r.node.file,
        }
        if agg.granularity == "lines":
            row["line"] = r.node.line
        if agg.granularity == "files":
            row["start_line"] = r.node.start_line
        row.update({
            "flat": r.flat, "flat_pct": pct(r.flat, total), "sum_pct": pct(running, total),
            "cum": r.cum, "cum_pct": pct(r.cum, total), "inline": r.inline,
        })
        if kind_names is not None:
            row["kind"] = row_kind(agg, r, kind_names)
        rows.append(row)
    out: dict[str, Any] = {
        "sample_index": agg.sample_type.type,
        "unit": agg.sample_type.unit,
        "granularity": agg.granularity,
        "total": total,
        "shown": report.shown,
        "filters": agg.filters.describe(),
        "dropped_nodes": report.dropped_nodes,
        "cutoff": report.cutoff,
        "nodes": report.kept_nodes,
    }
    if extra:
        out.update(extra)
    out["rows"] = rows
    return out


def profile_labels(profile: Profile, agg: Aggregate) -> list[str]:
    """pprof's header lines naming the program, the sample type and the time."""
    out = []
    if profile.mappings and profile.mappings[0].file:
        out.append("File: " + posixpath.basename(profile.mappings[0].file))
    if profile.mappings and profile.mappings[0].build_id:
        out.append("Build ID: " + profile.mappings[0].build_id)
    out.extend(c for c in profile.comments if not c.startswith("#"))
    out.append("Type: " + agg.sample_type.type)
    if profile.time_nanos:
        t = _dt.datetime.fromtimestamp(profile.time_nanos / 1e9).astimezone()
        out.append("Time: " + t.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return out


def top_lines(profile: Profile, agg: Aggregate, report: TopReport, *, signed: bool = False,
              kind_names: list[str] | None = None) -> list[str]:
    unit = agg.sample_type.unit
    total = report.total
    out_unit = output_unit([r.flat or r.cum for r in report.rows], total, unit)

    def v(x: int) -> str:
        return fmt_value(x, unit, out_unit or None, signed=signed)

    lines = profile_labels(profile, agg)
    if agg.filters:
        lines.append("Active filters:")
        lines.extend("   " + f for f in agg.filters.describe())
    lines.append(f"Showing nodes accounting for {v(report.shown)}, {fmt_pct(report.shown, total)} of "
                 f"{fmt_value(total, unit, out_unit or None)} total")
    if total and report.dropped_nodes:
        noun = "node" if report.dropped_nodes == 1 else "nodes"
        # pprof prints the fraction of the report total here, though it cut at that of the summed flat values.
        shown_cutoff = abs(int(float(total) * report.node_fraction))
        lines.append(f"Dropped {report.dropped_nodes} {noun} (cum <= {fmt_value(shown_cutoff, unit, out_unit or None)})")
    if total and report.truncated:
        lines.append(f"Showing top {len(report.rows)} nodes out of {report.kept_nodes}")
    header = ["flat", "flat%", "sum%", "cum", "cum%"]
    if kind_names is not None:
        header.append("kind")
    header.append("name")
    rows = []
    running = 0
    for r in report.rows:
        running += r.flat
        cells = [v(r.flat), fmt_pct(r.flat, total), fmt_pct(running, total), v(r.cum), fmt_pct(r.cum, total)]
        if kind_names is not None:
            cells.append(row_kind(agg, r, kind_names) or "-")
        cells.append(r.node.printable + (f" ({r.inline})" if r.inline else ""))
        rows.append(cells)
    left = {len(header) - 1}
    if kind_names is not None:
        left.add(len(header) - 2)
    return lines + render_table(header, rows, left=left)
