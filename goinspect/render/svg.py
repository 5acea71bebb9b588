"""Inline SVG figures for the HTML report: line charts, occupancy grids, an icicle of retained bytes.

Pure string building, no I/O and no script: each figure is a static ``<svg>`` the browser
draws without fetching anything. Colours are CSS classes (``c0``.., ``o0``..``o8``,
``v-<verdict>``) so the page's stylesheet, light or dark, decides them. Every text that
may come from the target goes through :func:`esc`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

from goinspect.render.units import auto_unit, fmt_value

_BYTE_FACTORS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}


def esc(value: object) -> str:
    """Text or attribute value made inert: ``<``, ``>``, ``&`` and both quotes escaped."""
    return escape(str(value), quote=True)


def fmt_num(value: float, unit: str) -> str:
    """A human figure: bytes through pprof's units, counts with thousands separators."""
    if unit == "bytes":
        return fmt_value(int(round(value)), "bytes")
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


#: Time axes tick in the largest of these units that the span reaches twice.
_TIME_UNITS = (("h", 3600.0), ("min", 60.0), ("s", 1.0))


def time_unit(span: float) -> tuple[str, float]:
    return next(((name, f) for name, f in _TIME_UNITS if span >= 2 * f), ("s", 1.0))


def fmt_seconds(value: float, span: float | None = None) -> str:
    """Seconds in the unit a time axis spanning ``span`` (default: ``value``) ticks in: '30 s', '2.5 min', '3 h'."""
    name, f = time_unit(value if span is None else span)
    return f"{round(value / f, 3):g} {name}"


def nice_ticks(hi: float, n: int = 4, *, integer: bool = False, unit: str = "") -> list[float]:
    """Ticks 0, step, 2*step, ... covering ``hi`` with a 1/2/2.5/5 x 10^k step (in the display unit for bytes)."""
    if hi <= 0:
        return [0.0, 1.0]
    factor = _BYTE_FACTORS[auto_unit(int(hi), "bytes") or "B"] if unit == "bytes" and hi > 0 else 1
    top = hi / factor
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if top / step <= n:
            break
    if integer and factor == 1:
        step = max(1.0, math.ceil(step))
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) * factor for i in range(count + 1)]


@dataclass(frozen=True)
class Series:
    """One line of a chart: ``values`` aligned with the chart's times (None where not measured)."""

    label: str
    values: Sequence[float | None]


def line_chart(t: Sequence[float], series: Sequence[Series], unit: str, title: str,
               *, width: int = 440, height: int = 230) -> str:
    """A line chart of ``series`` over ``t`` (seconds since the first sample), axes and units included.

    One sample draws as one labelled point per series at ``t = 0`` (nothing to connect);
    a missing value breaks its line instead of drawing a false zero.
    """
    left, right, top, bottom = 70, 14, 44, 40
    pw, ph = width - left - right, height - top - bottom
    n = len(t)
    present = [float(v) for s in series for v in s.values if v is not None]
    ymax = max(present, default=0.0)
    yticks = nice_ticks(ymax, integer=True, unit=unit)
    ytop = yticks[-1] or 1.0
    tmax = max((float(x) for x in t), default=0.0)
    single = n <= 1 or tmax <= 0
    tname, tf = time_unit(tmax)
    xticks = [0.0] if single else [x * tf for x in nice_ticks(tmax / tf, n=5)]
    xtop = xticks[-1] or 1.0

    def x_of(x: float) -> float:
        return left + (pw / 2 if single else pw * x / xtop)

    def y_of(y: float) -> float:
        return top + ph - ph * y / ytop

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{esc(title)}">',
           f'<text class="ctitle" x="{left}" y="14">{esc(title)}</text>']
    for v in yticks:
        y = y_of(v)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt_num(v, unit))}</text>')
    for v in xticks:
        x = x_of(v)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{esc(fmt_seconds(v, tmax))}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>'
               f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    xlabel = ("one sample (growth needs two or more)" if n <= 1 else "every sample at the same time" if single
              else {"s": "seconds", "min": "minutes", "h": "hours"}[tname] + " since the first sample")
    out.append(f'<text class="axislabel" x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">{esc(xlabel)}</text>')
    lx = 8.0
    for i, s in enumerate(series):
        last = next((v for v in reversed(s.values) if v is not None), None)
        text = f"{s.label} {fmt_num(last, unit)}" if last is not None else f"{s.label} —"
        out.append(f'<rect class="sw c{i}" x="{lx:.1f}" y="24" width="10" height="10"/>'
                   f'<text class="legend" x="{lx + 14:.1f}" y="33">{esc(text)}</text>')
        lx += 22 + 6.2 * len(text)
    for i, s in reversed(list(enumerate(series))):  # the first series on top
        runs: list[list[tuple[float, float]]] = [[]]
        for x, v in zip(t, s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x_of(float(x)), y_of(float(v))))
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(f'<polyline class="line c{i}" points="{pts}"/>')
        if n <= 60:
            for x, v in zip(t, s.values):
                if v is None:
                    continue
                cx, cy = x_of(float(x)), y_of(float(v))
                out.append(f'<circle class="pt c{i}" cx="{cx:.1f}" cy="{cy:.1f}" r="3.2">'
                           f'<title>{esc(f"{s.label} at {fmt_seconds(float(x), tmax)}: {fmt_num(float(v), unit)}")}</title></circle>')
        if single and s.values and s.values[0] is not None:
            cx, cy = x_of(0.0), y_of(float(s.values[0]))
            out.append(f'<text class="ptlabel" x="{cx + 8:.1f}" y="{cy + 4 - 12 * i:.1f}">'
                       f'{esc(fmt_num(float(s.values[0]), unit))}</text>')
    out.append("</svg>")
    return "".join(out)


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24, title: str = "") -> str:
    """A tiny axis-less trend line (profile sites), its first and last values in the tooltip."""
    vals = [float(v) for v in values]
    if not vals:
        return ""
    hi = max(vals) or 1.0
    if len(vals) == 1:
        pts = f"{width / 2:.1f},{height - 2 - (height - 4) * vals[0] / hi:.1f}"
        body = f'<circle class="pt c0" cx="{width / 2:.1f}" cy="{pts.split(",")[1]}" r="2.5"/>'
    else:
        pts = " ".join(f"{2 + (width - 4) * i / (len(vals) - 1):.1f},{height - 2 - (height - 4) * v / hi:.1f}"
                       for i, v in enumerate(vals))
        body = f'<polyline class="line c0" points="{pts}"/>'
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
            f"<title>{esc(title)}</title>{body}</svg>")


def occupancy_grid(fractions: Sequence[float], tips: Sequence[str] | None = None, *, label: str = "cells") -> str:
    """One cell per bucket, group or table, shaded by the fraction of its slots that hold live entries.

    With per-cell ``tips`` (a few hundred cells at most) each cell is its own element with a
    tooltip; otherwise cells of one shade share one ``<path>`` (a few kB for 4096 cells).
    """
    n = len(fractions)
    if n == 0:
        return ""
    # Few cells (a Swiss map's tables) get big ones; 4096 buckets still fit in ~640 px.
    cols, cell = (32, 20) if n <= 128 else (48, 13) if n <= 768 else (64, 9)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    gap = 1
    pitch = cell + gap
    width, height = cols * pitch + gap, rows * pitch + gap
    out = [f'<svg class="occ" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{esc(f"{n} {label} by live slots")}">']
    if tips is not None:
        for i, (f, tip) in enumerate(zip(fractions, tips)):
            x, y = gap + (i % cols) * pitch, gap + (i // cols) * pitch
            out.append(f'<rect class="o{shade(f)}" x="{x}" y="{y}" width="{cell}" height="{cell}">'
                       f'<title>{esc(tip)}</title></rect>')
    else:
        # Runs of equal shade along a row become one thick dashed stroke (dash = cell, gap = gap):
        # one short path command per run instead of a rectangle per cell.
        shades = [shade(f) for f in fractions]
        paths: dict[int, list[str]] = {}
        counts: dict[int, int] = {}
        i = 0
        while i < n:
            level, row, j = shades[i], i // cols, i + 1
            while j < n and shades[j] == level and j // cols == row:
                j += 1
            x, y = gap + (i % cols) * pitch, gap + row * pitch + cell / 2
            paths.setdefault(level, []).append(f"M{x} {y:g}h{(j - i) * pitch - gap}")
            counts[level] = counts.get(level, 0) + j - i
            i = j
        for level in sorted(paths):
            k = counts[level]
            tip = f"{k} {label} {'are' if k != 1 else 'is'} " + (
                "empty" if level == 0 else f"about {100 * level / 8:.0f}% full")
            out.append(f'<path class="run s{level}" stroke-width="{cell}" stroke-dasharray="{cell} {gap}" '
                       f'd="{"".join(paths[level])}"><title>{esc(tip)}</title></path>')
    out.append("</svg>")
    return "".join(out)


def occupancy_legend(slots: int | None) -> str:
    """The nine shades, labelled in live slots (``slots`` per cell) or, for mixed sizes, in percent."""
    parts = ['<span class="occlegend">' + ("live slots:" if slots else "live share:")]
    steps = range(slots + 1) if slots else range(0, 9)
    for k in steps:
        f = k / slots if slots else k / 8
        text = str(k) if slots else f"{100 * f:.0f}%"
        parts.append(f'<svg width="12" height="12" class="swatch"><rect class="o{shade(f)}" '
                     f'width="12" height="12"/></svg>{text}')
    parts.append("</span>")
    return " ".join(parts)


def shade(fraction: float) -> int:
    """The CSS shade ``o0`` (empty) .. ``o8`` (full) for a live fraction; any live slot shows."""
    if fraction <= 0:
        return 0
    return max(1, min(8, round(8 * fraction)))


@dataclass
class Node:
    """One box of the icicle: ``value`` bytes, drawn in the colour class ``css``."""

    label: str
    value: int
    css: str = "v-none"
    tip: str = ""
    children: list["Node"] = field(default_factory=list)


def icicle(root: Node, *, width: int = 1000, row: int = 28, min_width: float = 4.0) -> str:
    """An icicle chart (a flame graph hanging down): each box as wide as the bytes it retains.

    Children are laid left to right, largest first, inside their parent; a box too narrow for
    its label keeps it in the tooltip only.
    """
    if root.value <= 0:
        return ""
    boxes: list[tuple[int, float, float, Node]] = []

    def place(node: Node, depth: int, x: float, w: float) -> None:
        boxes.append((depth, x, w, node))
        cx = x
        kids = sorted((c for c in node.children if c.value > 0), key=lambda c: -c.value)
        # Boxes too thin to see or hover are drawn as one "N smaller" box instead.
        big = [c for c in kids if w * c.value / node.value >= min_width]
        small = kids[len(big):]
        if len(small) > 1:
            total = sum(c.value for c in small)
            big.append(Node(f"{len(small)} smaller", total, "v-none",
                            f"{len(small)} smaller items: {fmt_value(total, 'bytes')} in all"))
        else:
            big += small
        for child in big:
            cw = w * child.value / node.value if node.value else 0.0
            place(child, depth + 1, cx, min(cw, x + w - cx))
            cx += cw

    place(root, 0, 0.0, float(width))
    depth = max(d for d, *_ in boxes) + 1
    height = depth * row
    out = [f'<svg class="icicle" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="retained bytes by root path">']
    for d, x, w, node in boxes:
        if w < 0.5:
            continue
        y = d * row
        tip = node.tip or f"{node.label}: {fmt_value(node.value, 'bytes')}"
        out.append(f'<g class="box {esc(node.css)}"><title>{esc(tip)}</title>'
                   f'<rect x="{x:.2f}" y="{y}" width="{max(w - 1, 0.5):.2f}" height="{row - 2}" rx="2"/>')
        chars = int((w - 8) / 6.6)
        if chars >= 4:
            text = f"{node.label} {fmt_value(node.value, 'bytes')}"
            if len(text) > chars:
                text = node.label if len(node.label) <= chars else node.label[: chars - 1] + "…"
            out.append(f'<text x="{x + 4:.2f}" y="{y + row / 2 + 2:.1f}">{esc(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
