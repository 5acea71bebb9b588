"""The analyze report as one self-contained HTML page: ``render_html(report) -> str``.

Written for the person on call: the answer first (is anything leaking, and which map or
slice), then every map and slice worst first with its verdict, the fix, the evidence, the
path that keeps it alive, its growth over the samples and its bucket/table occupancy, and
one icicle of retained bytes by root path.

The page never touches the network: styles, the few lines of script (sorting the summary
table) and every figure (inline SVG built in :mod:`goinspect.render.svg`) are inside the
file, and a Content-Security-Policy forbids any fetch and any style or script but ours (by hash).
Every string that came from the target (names, type names, paths, evidence) is escaped,
so a hostile Go type name stays text.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from goinspect import __version__
from goinspect.render.svg import (Node, Series, esc, fmt_num, icicle, line_chart, occupancy_grid,
                                  occupancy_legend, sparkline)
from goinspect.render.units import fmt_value

#: Worst first: the order of the summary and of the item sections.
VERDICTS = ("leak", "slice-pinning", "growing", "retained-capacity", "churn", "undetermined", "healthy")

#: What each verdict means, in one line, for the reader who has never seen the tool.
MEANING = {
    "leak": "keeps growing and is reachable from a root",
    "slice-pinning": "a small slice keeps a much larger allocation alive",
    "growing": "a map grow began and stopped half-way: old buckets stay until the next write",
    "retained-capacity": "entries were deleted but the buckets/tables stay (maps never shrink): held, not leaking",
    "churn": "heavy allocation, flat in-use memory",
    "undetermined": "the evidence cannot decide; see what would",
    "healthy": "nothing to fix",
}


@dataclass(frozen=True)
class Item:
    """A map or slice of the report, with its place on the page."""

    kind: str  # 'map' | 'slice'
    data: dict[str, Any]
    anchor: str

    @property
    def name(self) -> str:
        return str(self.data.get("name", "?"))

    @property
    def verdict(self) -> str:
        return str(self.data.get("verdict") or "undetermined")

    @property
    def retained(self) -> int:
        return _int(self.data.get("retained_bytes"))


def render_html(report: dict[str, Any]) -> str:
    """The whole page for an ``analyze --json`` report (missing optional fields render as '—')."""
    target = report.get("target") or {}
    items = ordered_items(report)
    sites = {s.get("id"): s for s in report.get("profile_sites") or [] if isinstance(s, dict)}
    flagged = [it for it in items if it.verdict != "healthy"]
    healthy = [it for it in items if it.verdict == "healthy"]
    body = [
        _summary(items, target),
        _retained_figure(items),
        '<section id="items"><h2>Maps and slices</h2>',
        *(_item_section(it, sites) for it in flagged),
        _folded(healthy, "".join(_item_section(it, sites) for it in healthy)),
        "</section>",
        _unmatched_sites(sites, items),
    ]
    title = f"goinspect: {_headline_text(items)} — {_subject(target)}"
    return _page(title, _header(target), "\n".join(b for b in body if b))


def _folded(healthy: list[Item], inner: str) -> str:
    """Healthy items in one closed group: at 3 a.m. the page is about the others."""
    if not healthy:
        return ""
    n, maps = len(healthy), sum(it.kind == "map" for it in healthy)
    what = " and ".join(f"{k} {word}{'s' if k != 1 else ''}" for k, word in ((maps, "map"), (n - maps, "slice")) if k)
    total = sum(it.retained for it in healthy)
    return (f'<details class="group"><summary><span class="badge v-healthy">{n} healthy</span> '
            f'{what} judged healthy, retaining {_bytes(total)} in all (click to show)</summary>{inner}</details>')


def ordered_items(report: dict[str, Any]) -> list[Item]:
    """Maps and slices worst verdict first, then most retained bytes first, then by name."""
    raw = [("map", m) for m in report.get("maps") or [] if isinstance(m, dict)]
    raw += [("slice", s) for s in report.get("slices") or [] if isinstance(s, dict)]
    raw.sort(key=lambda kd: (_rank(str(kd[1].get("verdict") or "undetermined")),
                             -_int(kd[1].get("retained_bytes")), str(kd[1].get("name", ""))))
    return [Item(kind, d, f"item-{i}") for i, (kind, d) in enumerate(raw)]


def _rank(verdict: str) -> int:
    """Unknown verdicts sort beside 'undetermined': they decide nothing either."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else VERDICTS.index("undetermined")


def _vclass(verdict: str) -> str:
    return f"v-{verdict}" if verdict in VERDICTS else "v-undetermined"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _bytes(value: Any) -> str:
    return "—" if value is None else fmt_value(_int(value), "bytes")


def _count(value: Any) -> str:
    return "—" if value is None else f"{_int(value):,}"


def _rich(text: Any) -> str:
    """Escaped text in which `backticked` spans become <code> (escaping first keeps it inert)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text if text is not None else ""))


# --- header and summary -------------------------------------------------------------------------

def _subject(target: dict[str, Any]) -> str:
    exe = str(target.get("exe") or "")
    name = exe.rsplit("/", 1)[-1] or "target"
    if target.get("kind") == "profiles":
        return f"{name} (heap profiles)" if exe else "heap profiles"
    if target.get("kind") == "core" or target.get("cores"):
        return f"{name} (core)"
    return f"{name} (pid {target.get('pid')})" if target.get("pid") is not None else name


def _header(target: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    if target.get("kind") == "profiles":
        rows.append(("Target", "heap profiles only (no process or core was read)"))
    elif target.get("kind") == "core" or target.get("cores"):
        cores = [str(c) for c in target.get("cores") or []]
        rows.append(("Target", f"{len(cores)} core file{'s' if len(cores) != 1 else ''}: "
                     + ", ".join(f"<code>{esc(c)}</code>" for c in cores)))
    else:
        rows.append(("Target", f"live process, pid {esc(target.get('pid', '—'))}"))
    rows.append(("Executable", f"<code>{esc(target.get('exe') or '—')}</code>"))
    if target.get("started_at"):
        when = datetime.fromtimestamp(float(target["started_at"]), timezone.utc)
        rows.append(("First sample", esc(when.isoformat(sep=" ", timespec="seconds").replace("+00:00", " UTC"))))
    impl = target.get("map_impl")
    rows.append(("Go", esc(target.get("go_version") or "—") + (f" · {esc(impl)} maps" if impl else "")))
    times = [float(t) for t in target.get("times") or []]
    samples = _int(target.get("samples")) or len(times)
    span = f" over {times[-1] - times[0]:.3g} s" if len(times) > 1 else ""
    rows.append(("Samples", f"{samples} snapshot{'s' if samples != 1 else ''}{span}"
                 + (" · verdicts that need growth over time say so" if samples == 1 else "")))
    pauses = [float(p) for p in target.get("pause_seconds") or [] if p is not None]
    if pauses:
        ms = sorted(p * 1000 for p in pauses)
        if len(ms) <= 6:
            text = ", ".join(f"{p * 1000:.0f} ms" for p in pauses)
        else:
            text = f"median {ms[len(ms) // 2]:.0f} ms, max {ms[-1]:.0f} ms over {len(ms)} pauses"
        rows.append(("Target paused", text))
    graph = target.get("graph") or {}
    if graph:
        rows.append(("Heap graph", f"{_count(graph.get('nodes'))} nodes, {_count(graph.get('edges'))} edges"
                     + (f", built in {float(graph['seconds']):.2f} s" if graph.get("seconds") is not None else "")))
    profiles = [str(p) for p in target.get("profiles") or []]
    if profiles:
        uses = {p: profiles.count(p) for p in profiles}  # a URL is polled once per sample
        shown = [f"<code>{esc(p)}</code>" + (f" ×{k}" if k > 1 else "") for p, k in list(uses.items())[:4]]
        rows.append(("Heap profiles", f"{len(profiles)}: " + ", ".join(shown) + (" …" if len(uses) > 4 else "")))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<header class="top"><div class="wrap"><h1>goinspect heap report '
            f'<span class="subject">{esc(_subject(target))}</span></h1><dl class="meta">{dl}</dl></div></header>')


def _headline_text(items: list[Item]) -> str:
    counts = _verdict_counts(items)
    if counts.get("leak"):
        n = counts["leak"]
        return f"{n} leak{'s' if n != 1 else ''}"
    bad = [v for v in VERDICTS[1:5] if counts.get(v)]
    if bad:
        return "no leak; " + ", ".join(f"{counts[v]} {v}" for v in bad)
    if counts.get("undetermined"):
        return f"no leak proven; {counts['undetermined']} undetermined"
    return "no leak; all healthy" if items else "no maps or slices found"


def _verdict_counts(items: Iterable[Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for it in items:
        v = it.verdict if it.verdict in VERDICTS else "undetermined"
        counts[v] = counts.get(v, 0) + 1
    return counts


def _summary(items: list[Item], target: dict[str, Any]) -> str:
    counts = _verdict_counts(items)
    worst = items[0].verdict if items else "healthy"
    leaks = [it for it in items if it.verdict == "leak"]
    if leaks:
        names = ", ".join(f'<a href="#{it.anchor}"><code>{esc(it.name)}</code></a> ({_bytes(it.retained)})'
                          for it in leaks[:3])
        headline = f"Leaking: {names}{' …' if len(leaks) > 3 else ''}"
    else:
        headline = esc(_headline_text(items)).capitalize()
    chips = []
    for v in VERDICTS:
        if counts.get(v):
            first = next(it for it in items if it.verdict == v or (v == "undetermined" and it.verdict not in VERDICTS))
            chips.append(f'<a class="chip {_vclass(v)}" href="#{first.anchor}" title="{esc(MEANING[v])}">'
                         f'<b>{counts[v]}</b> {esc(v)}</a>')
    total = sum(it.retained for it in items)
    freed = sum(_int(it.data.get("freed_bytes")) for it in items)
    nmaps = sum(it.kind == "map" for it in items)
    flagged = _summary_table([it for it in items if it.verdict != "healthy"])
    healthy = [it for it in items if it.verdict == "healthy"]
    table = flagged + _folded(healthy, _summary_table(healthy))
    if not items:
        table = ('<p class="empty">No process or core was read: see the heap profiles\' allocation sites below.</p>'
                 if target.get("kind") == "profiles" else '<p class="empty">No maps or slices were found.</p>')
    return (f'<section id="summary"><p class="headline {_vclass(worst)}">{headline}</p>'
            f'<div class="chips">{"".join(chips)}</div>'
            f'<p class="totals">{nmaps} map{"s" if nmaps != 1 else ""} and {len(items) - nmaps} '
            f'slice{"s" if len(items) - nmaps != 1 else ""} retain <b>{_bytes(total)}</b>; '
            f'fixing them would free <b>{_bytes(freed)}</b>. Click a column to sort.</p>{table}</section>')


def _summary_table(items: list[Item]) -> str:
    if not items:
        return ""
    rows = []
    for it in items:
        d = it.data
        size = _count(d.get("count")) if it.kind == "map" else f"{_count(d.get('len'))} / {_count(d.get('cap'))}"
        size_key = _int(d.get("count")) if it.kind == "map" else _int(d.get("len"))
        rows.append(
            f'<tr class="{_vclass(it.verdict)}"><td data-sort="{_rank(it.verdict)}"><span class="badge {_vclass(it.verdict)}">'
            f'{esc(it.verdict)}</span></td>'
            f'<td><a href="#{it.anchor}"><code>{esc(it.name)}</code></a></td><td>{it.kind}</td>'
            f'<td class="num" data-sort="{size_key}">{size}</td>'
            f'<td class="num" data-sort="{it.retained}">{_bytes(d.get("retained_bytes"))}</td>'
            f'<td class="num" data-sort="{_int(d.get("freed_bytes"))}">{_bytes(d.get("freed_bytes"))}</td>'
            f'<td>{esc(d.get("confidence") or "—")}</td></tr>')
    return ('<div class="scroll"><table class="sortable"><thead><tr><th>Verdict</th><th>Name</th><th>Kind</th>'
            '<th class="num" title="maps: entries; slices: len / cap">Count</th><th class="num">Retained</th>'
            '<th class="num" title="what the fix would give back">Freed if fixed</th><th>Confidence</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


# --- retained bytes by root path ----------------------------------------------------------------

def _root_var(it: Item) -> str:
    """The root an item hangs from, by name: a global's variable, a stack local's goroutine and function.

    ``pkg/path.var.field`` -> ``pkg/path.var`` (package paths may hold dots before the last '/');
    a stack local ``pkg.Func.var`` (``#goid`` suffix or not) -> ``pkg.Func (goroutine N)``, the
    goroutine taken from the item's ``goroutine`` field or its root hop ``... (goroutine N)``.
    """
    name = it.name.split("#", 1)[0]
    slash = name.rfind("/")
    head, parts = name[: slash + 1], name[slash + 1:].split(".")
    if it.data.get("root") != "stack":
        return head + ".".join(parts[:2]) if len(parts) > 2 else it.name
    frame = str(it.data.get("frame") or (head + ".".join(parts[:-1]) if len(parts) > 2 else name))
    goid = it.data.get("goroutine")
    if goid is None:
        hop = str((it.data.get("path") or [""])[0])
        m = re.search(r"\(goroutine (\d+)\)", hop)
        goid = m.group(1) if m else None
    return f"{frame} (goroutine {goid})" if goid is not None else frame


def _last(series: dict[str, Any], key: str) -> int | None:
    vals = [v for v in series.get(key) or [] if v is not None]
    return _int(vals[-1]) if vals else None


def retained_tree(items: list[Item]) -> Node:
    """root kind -> root variable -> map/slice -> structure vs. what its values/elements keep alive."""
    kinds: dict[str, Node] = {}
    for it in items:
        if it.retained <= 0:
            continue
        rk = str(it.data.get("root") or "other")
        label = {"global": "globals", "stack": "goroutine stacks"}.get(rk, rk)
        kind = kinds.setdefault(rk, Node(label, 0))
        kind.value += it.retained
        var_name = _root_var(it)
        var = next((c for c in kind.children if c.label == var_name and c.css == "v-none"), None)
        series = it.data.get("series") or {}
        if it.kind == "map":
            own = _last(series, "structure_bytes")
            own_label, rest_label = "buckets/tables", "values"
        else:
            own = _last(series, "alloc_bytes")
            if own is None:
                own = it.data.get("alloc_bytes")
            own_label, rest_label = "backing array", "what elements point to"
        node = Node(it.name, it.retained, _vclass(it.verdict),
                    f"{it.name} ({it.verdict}): retains {fmt_value(it.retained, 'bytes')}")
        if own is not None:
            own = min(_int(own), it.retained)
            node.children = [Node(own_label, own, _vclass(it.verdict) + " sub"),
                             Node(rest_label, it.retained - own, _vclass(it.verdict) + " sub")]
        if var_name == it.name:
            kind.children.append(node)
            continue
        if var is None:
            var = Node(var_name, 0)
            kind.children.append(var)
        var.value += it.retained
        var.children.append(node)
    root = Node("all roots", sum(k.value for k in kinds.values()), children=list(kinds.values()))
    return root


def _retained_figure(items: list[Item]) -> str:
    root = retained_tree(items)
    if root.value <= 0:
        return ('<section id="retained"><h2>Retained bytes by root path</h2>'
                '<p class="empty">No retained bytes were measured (no heap graph in this report).</p></section>')
    return ('<section id="retained"><h2>Retained bytes by root path</h2>'
            '<p class="hint">Each box is as wide as the bytes it keeps alive: root kind, root variable, map or slice, '
            'then its own structure against what its values or elements keep alive. Hover a box for its figure.</p>'
            f'<figure>{icicle(root)}</figure></section>')


# --- one map or slice ---------------------------------------------------------------------------

def _item_section(it: Item, sites: dict[Any, dict[str, Any]]) -> str:
    d = it.data
    vc = _vclass(it.verdict)
    conf = d.get("confidence")
    head = (f'<summary class="ihead"><span class="badge {vc}" title="{esc(MEANING.get(it.verdict, ""))}">{esc(it.verdict)}</span>'
            f'<h3><code>{esc(it.name)}</code></h3>'
            + (f'<span class="conf conf-{esc(conf)}">{esc(conf)} confidence</span>' if conf else "")
            + f'<span class="retains">retains {_bytes(d.get("retained_bytes"))}</span></summary>')
    addr = d.get("addr")
    addr_text = f"0x{addr:x}" if isinstance(addr, int) else (str(addr) if addr else "")
    sub = " · ".join(x for x in (f"<code>{esc(d.get('type') or '?')}</code>", it.kind,
                                 esc(d.get("root") or ""), esc(addr_text)) if x)
    meaning = f'<p class="meaning">{esc(MEANING.get(it.verdict, ""))}</p>' if it.verdict in MEANING else ""
    parts = [f'<section class="item {vc}" id="{it.anchor}" data-verdict="{esc(it.verdict)}" data-name="{esc(it.name)}">',
             "<details open>", head, f'<div class="sub">{sub}</div>', meaning, _figures(it)]
    if d.get("fix"):
        parts.append(f'<div class="fix"><span class="label">Fix</span> {_rich(d["fix"])}</div>')
    if d.get("needs"):
        parts.append(f'<div class="needs"><span class="label">To decide or firm up</span> {_rich(d["needs"])}</div>')
    path = [str(p) for p in d.get("path") or []]
    if path:
        hops = "".join(f"<li><code>{esc(p)}</code></li>" for p in path)
        parts.append(f'<div class="path"><span class="label">Kept alive by</span><ol>{hops}</ol></div>')
    parts.append(_evidence(d.get("evidence") or []))
    parts.append(_charts(it))
    if it.kind == "map" and isinstance(d.get("occupancy"), dict):
        parts.append(_occupancy(d["occupancy"]))
    if it.kind == "slice":
        parts.append(_slice_bar(d))
    parts.append(_item_sites(d.get("sites") or [], sites))
    parts.append("</details></section>")
    return "".join(p for p in parts if p)


def _figures(it: Item) -> str:
    d = it.data
    series = d.get("series") or {}
    cells: list[tuple[str, str]] = []
    if it.kind == "map":
        cells.append(("Entries", _count(d.get("count"))))
    else:
        cells += [("Len", _count(d.get("len"))), ("Cap", _count(d.get("cap")))]
    cells.append(("Retained", _bytes(d.get("retained_bytes"))))
    cells.append(("Freed if fixed", _bytes(d.get("freed_bytes"))))
    if it.kind == "map":
        cells.append(("Structure", _bytes(_last(series, "structure_bytes"))))
    else:
        alloc = d.get("alloc_bytes")
        cells.append(("Backing allocation", _bytes(alloc if alloc is not None else _last(series, "alloc_bytes"))))
    cells.append(("Reachable via " + ("values" if it.kind == "map" else "elements"),
                  _bytes(_last(series, "reachable_bytes"))))
    return '<dl class="figs">' + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in cells) + "</dl>"


def _figure_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, int) and ("bytes" in key.lower() or key.lower().endswith("_b")):
        return f'<span title="{value:,} bytes">{esc(fmt_value(value, "bytes"))}</span>'
    if isinstance(value, (int, float)):
        return esc(fmt_num(value, ""))
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_figure_value(key, v) for v in list(value)[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{esc(k)}: {_figure_value(str(k), v)}" for k, v in list(value.items())[:12]) + "}"
    return esc(value)


def _evidence(evidence: Sequence[Any]) -> str:
    if not evidence:
        return '<h4>Evidence</h4><p class="empty">No evidence recorded.</p>'
    lis = []
    for e in evidence:
        if not isinstance(e, dict):
            e = {"text": e}
        src = str(e.get("source") or "")
        figs = e.get("figures") or {}
        fig_html = ""
        if isinstance(figs, dict) and figs:
            fig_html = '<span class="efigs">' + "".join(
                f'<span class="efig"><span class="k">{esc(k)}</span> {_figure_value(str(k), v)}</span>'
                for k, v in figs.items()) + "</span>"
        lis.append(f'<li><span class="src src-{esc(src)}">{esc(src or "note")}</span> '
                   f'<span class="etext">{_rich(e.get("text"))}</span>{fig_html}</li>')
    return f'<h4>Evidence</h4><ul class="evidence">{"".join(lis)}</ul>'


def _charts(it: Item) -> str:
    """Two panels over the samples: how many entries (elements) and how many bytes."""
    d = it.data
    series = d.get("series") or {}
    t = [float(x) for x in series.get("t") or []] or [0.0]

    def col(key: str, now: Any = None) -> list[float | None]:
        vals = series.get(key)
        if not vals:
            vals = [now] if len(t) == 1 and now is not None else [None] * len(t)
        vals = list(vals)[: len(t)] + [None] * (len(t) - len(vals))
        return [None if v is None else float(v) for v in vals]

    if it.kind == "map":
        first = [Series("entries", col("count", d.get("count")))]
        second = [Series("structure", col("structure_bytes")), Series("reachable", col("reachable_bytes")),
                  Series("retained", col("retained_bytes", d.get("retained_bytes")))]
        what = "Entries"
    else:
        first = [Series("len", col("len", d.get("len"))), Series("cap", col("cap", d.get("cap")))]
        second = [Series("backing", col("alloc_bytes", d.get("alloc_bytes"))), Series("reachable", col("reachable_bytes")),
                  Series("retained", col("retained_bytes", d.get("retained_bytes")))]
        what = "Elements"
    return ('<h4>Over the samples</h4><div class="charts">'
            + line_chart(t, first, "count", f"{what} (count)")
            + line_chart(t, second, "bytes", "Bytes") + "</div>")


def occupancy_cells(occ: dict[str, Any]) -> tuple[list[float], list[str] | None, str, int | None]:
    """(live fraction per cell, per-cell tooltips or None, what a cell is, slots per cell or None if they differ).

    Takes ``cells`` as ``[[live, capacity(, tombstones)], ...]`` (one per bucket, group or table,
    summed when downsampled) or ``buckets`` as live counts with ``slots_per_bucket``.
    """
    impl = str(occ.get("impl") or "")
    unit = str(occ.get("cell") or ("group" if impl == "swiss" else "bucket"))
    if isinstance(occ.get("cells"), list):
        cells = [[_int(v) for v in c[:3]] for c in occ["cells"] if isinstance(c, (list, tuple)) and len(c) >= 2]
        # A bucket or group has 8 slots in both layouts; a different capacity means cells were summed.
        slots = 8 if {c[1] for c in cells} == {8} and unit in ("bucket", "group") else None
        fractions = [c[0] / c[1] if c[1] else 0.0 for c in cells]
        tips = [f"{unit} {i}: {c[0]:,} of {c[1]:,} slots live" + (f", {c[2]:,} tombstones" if len(c) > 2 and c[2] else "")
                for i, c in enumerate(cells)]
    elif isinstance(occ.get("buckets"), list):
        slots = _int(occ.get("slots_per_bucket")) or 8
        counts = [float(v or 0) for v in occ["buckets"]]
        fractions = [v / slots for v in counts]
        tips = [f"{unit} {i}: {v:g} of {slots} slots live" for i, v in enumerate(counts)]
    else:
        return [], None, unit, None
    return fractions, (tips if len(tips) <= 512 else None), unit, slots


def _occupancy(occ: dict[str, Any]) -> str:
    fractions, tips, unit, slots = occupancy_cells(occ)
    impl = str(occ.get("impl") or "")
    cap, used, tomb = _int(occ.get("capacity")), _int(occ.get("used")), _int(occ.get("tombstones"))
    parts = [f"capacity {cap:,} slots", f"{used:,} live" + (f" ({100 * used / cap:.1f}% full)" if cap else "")]
    if tomb:
        parts.append(f"{tomb:,} tombstones (deleted slots not yet reused)")
    if impl == "hmap" and occ.get("buckets") is not None and not isinstance(occ.get("buckets"), list):
        parts.insert(0, f"{_int(occ['buckets']):,} buckets + {_int(occ.get('overflow_buckets')):,} overflow")
    if fractions:
        parts.append(f"{len(fractions):,} cells, one per {unit}" if tips is not None or slots
                     else f"{len(fractions):,} cells, {unit}s summed where there were more")
        shown = sum(_int(c[0]) for c in occ.get("cells") or [] if isinstance(c, (list, tuple)) and c)
        if isinstance(occ.get("cells"), list) and shown < used:
            parts.append(f"the cells hold {shown:,} of the {used:,} live entries: the rest sit in overflow buckets "
                         "or in old buckets a grow has not evacuated yet")
        picture = occupancy_grid(fractions, tips, label=f"{unit}s")
        legend = occupancy_legend(slots)
    else:
        picture, legend = _fill_bar(used, tomb, cap), ""
    title = "Swiss map" if impl == "swiss" else "Classic map" if impl == "hmap" else "Map"
    return (f'<h4>Occupancy</h4><figure class="occfig">{picture}<figcaption>{esc(title)}: '
            f'{esc(", ".join(parts))}. {legend}</figcaption></figure>')


def _fill_bar(used: int, tomb: int, cap: int) -> str:
    """Live and tombstoned slots against capacity, when the report has no per-cell counts."""
    if cap <= 0:
        return ""
    w = 700
    lw, tw = w * min(used, cap) / cap, w * min(tomb, max(cap - used, 0)) / cap
    return (f'<svg class="fill" viewBox="0 0 {w} 22" width="{w}" height="22" role="img" aria-label="slots in use">'
            f'<rect class="o0" width="{w}" height="22"/><rect class="o6" width="{lw:.1f}" height="22">'
            f'<title>{esc(f"{used:,} live of {cap:,} slots")}</title></rect>'
            f'<rect class="tomb" x="{lw:.1f}" width="{tw:.1f}" height="22"><title>{esc(f"{tomb:,} tombstones")}</title></rect>'
            "</svg>")


def _slice_bar(d: dict[str, Any]) -> str:
    """The backing allocation as a bar, the part the slice can see highlighted (needs elem_size and offset)."""
    alloc, elem, off = d.get("alloc_bytes"), d.get("elem_size"), d.get("offset_in_alloc")
    if not alloc or elem is None or off is None:
        return ""
    alloc, elem, off = _int(alloc), _int(elem), _int(off)
    n, c = _int(d.get("len")) * elem, _int(d.get("cap")) * elem
    w = 700

    def x(b: int) -> float:
        return w * min(max(b, 0), alloc) / alloc

    tip_len = f"len: {fmt_value(n, 'bytes')} at offset {fmt_value(off, 'bytes')}"
    tip_cap = f"cap: {fmt_value(c, 'bytes')}"
    return ('<h4>Backing allocation</h4><figure class="slicebar">'
            f'<svg viewBox="0 0 {w} 26" width="{w}" height="26" role="img" aria-label="slice within its allocation">'
            f'<rect class="alloc" x="0" y="2" width="{w}" height="22"><title>{esc("allocation " + fmt_value(alloc, "bytes"))}</title></rect>'
            f'<rect class="capr" x="{x(off):.1f}" y="2" width="{max(x(off + c) - x(off), 1):.1f}" height="22"><title>{esc(tip_cap)}</title></rect>'
            f'<rect class="lenr" x="{x(off):.1f}" y="2" width="{max(x(off + n) - x(off), 1):.1f}" height="22"><title>{esc(tip_len)}</title></rect>'
            f'</svg><figcaption>The slice sees {esc(fmt_value(n, "bytes"))} (cap {esc(fmt_value(c, "bytes"))}) '
            f'of a {esc(fmt_value(alloc, "bytes"))} allocation it keeps alive.</figcaption></figure>')


def _site_rows(sites: Iterable[dict[str, Any]]) -> str:
    rows = []
    for s in sites:
        inuse = [_int(v) for v in s.get("inuse_bytes") or []]
        where = f"{s.get('file') or '?'}:{s.get('line') or '?'}"
        src = str(s.get("text") or "").strip()
        src_html = f'<div class="srcline"><code>{esc(src)}</code></div>' if src else ""
        rows.append(f"<tr><td><code>{esc(s.get('function') or '?')}</code><div class=\"where\">{esc(where)}</div>{src_html}</td>"
                    f"<td>{esc(s.get('kind') or '')}</td><td>{esc(s.get('trend') or '')}</td>"
                    f'<td class="num">{_bytes(inuse[-1]) if inuse else "—"}</td>'
                    f"<td>{sparkline(inuse, title='in-use bytes over the profiles') if len(inuse) > 1 else ''}</td></tr>")
    return ('<div class="scroll"><table class="sites"><thead><tr><th>Allocation site</th><th>Kind</th><th>Trend</th>'
            f'<th class="num">In use</th><th>Over the profiles</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _item_sites(ids: Sequence[Any], sites: dict[Any, dict[str, Any]]) -> str:
    found = [sites[i] for i in ids if i in sites]
    if not found:
        return ""
    return "<h4>Allocation sites feeding it (heap profiles)</h4>" + _site_rows(found)


#: Unmatched profile sites shown before the rest are folded away.
TOP_SITES = 15


def _unmatched_sites(sites: dict[Any, dict[str, Any]], items: list[Item]) -> str:
    """Profile sites no map or slice claimed, most in-use bytes (last profile) first; the tail folded."""
    used = {i for it in items for i in it.data.get("sites") or []}
    rest = [s for sid, s in sites.items() if sid not in used and not s.get("feeds")]
    if not rest:
        return ""
    rest.sort(key=lambda s: -_int((s.get("inuse_bytes") or [0])[-1]))
    top, tail = rest[:TOP_SITES], rest[TOP_SITES:]
    more = (f'<details class="group"><summary>{len(tail)} more sites, '
            f'{_bytes(sum(_int((s.get("inuse_bytes") or [0])[-1]) for s in tail))} in use in all</summary>'
            f'{_site_rows(tail)}</details>') if tail else ""
    return ('<section id="sites"><h2>Other allocation sites in the heap profiles</h2>'
            '<p class="hint">Sites not matched to any map or slice, most bytes in use first.</p>'
            + _site_rows(top) + more + "</section>")


# --- the page -----------------------------------------------------------------------------------

_SCRIPT = """(function () {
  document.documentElement.dataset.js = "ready";
  for (const table of document.querySelectorAll("table.sortable")) {
    const heads = table.tHead.rows[0].cells;
    for (let i = 0; i < heads.length; i++) {
      heads[i].addEventListener("click", function () {
        const dir = heads[i].dataset.dir === "asc" ? "desc" : "asc";
        for (const h of heads) delete h.dataset.dir;
        heads[i].dataset.dir = dir;
        const key = function (row) {
          const cell = row.cells[i];
          return cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : cell.textContent.trim().toLowerCase();
        };
        const rows = Array.from(table.tBodies[0].rows);
        rows.sort(function (a, b) {
          const x = key(a), y = key(b), c = x < y ? -1 : x > y ? 1 : 0;
          return dir === "asc" ? c : -c;
        });
        for (const r of rows) table.tBodies[0].appendChild(r);
      });
    }
  }
  // A link to a folded (healthy) item opens the groups around it.
  function reveal() {
    const el = location.hash && document.getElementById(location.hash.slice(1));
    if (!el) return;
    for (let d = el.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
    el.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();"""


def _mix(a: str, b: str, f: float) -> str:
    ca, cb = [int(a[i:i + 2], 16) for i in (1, 3, 5)], [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(ca, cb))


def _shades(lo: str, hi: str) -> str:
    return "".join(f"--o{i}:{_mix(lo, hi, (i - 1) / 7)};" for i in range(1, 9))


_CSS = """
:root{--bg:#f7f8fa;--card:#fff;--fg:#1d232b;--muted:#5f6b7a;--line:#dfe3e8;--code:#eef1f5;
--leak:#c62828;--slice-pinning:#d84315;--growing:#e65100;--retained-capacity:#b7791f;--churn:#6a3fb5;
--undetermined:#546e7a;--healthy:#2e7d32;--c0:#2563eb;--c1:#0d9488;--c2:#c026d3;--c3:#ea580c;--o0:#e9edf1;%(light)s}
@media (prefers-color-scheme:dark){:root{--bg:#14181d;--card:#1c2128;--fg:#e6e9ee;--muted:#9aa5b1;--line:#313842;
--code:#262c35;--leak:#ef5350;--slice-pinning:#ff7043;--growing:#ffa726;--retained-capacity:#e0b341;--churn:#a78bfa;
--undetermined:#90a4ae;--healthy:#66bb6a;--c0:#60a5fa;--c1:#2dd4bf;--c2:#e879f9;--c3:#fb923c;--o0:#262c35;%(dark)s}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:0 20px 40px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.92em;
background:var(--code);padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
h1{font-size:22px;margin:0 0 8px}h1 .subject{font-weight:400;color:var(--muted)}
h2{font-size:19px;margin:28px 0 10px}h3{font-size:18px;margin:0}h3 code{background:none;padding:0}
h4{font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:18px 0 6px}
a{color:inherit}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .wrap{max-width:1100px;margin:0 auto;padding:18px 20px 12px}
details.group{margin:12px 0}details.group>summary{cursor:pointer;padding:8px 4px;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0;font-size:14px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.headline{font-size:21px;font-weight:600;margin:22px 0 10px;padding:12px 16px;border-radius:8px;background:var(--card);
border-left:6px solid var(--vc,var(--healthy))}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.chip{text-decoration:none;padding:4px 12px;border-radius:999px;color:#fff;background:var(--vc);font-size:14px}
.totals{color:var(--muted);font-size:14px}
table{border-collapse:collapse;width:100%%;background:var(--card);border:1px solid var(--line);border-radius:8px;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;color:var(--muted);white-space:nowrap}
html[data-js=ready] table.sortable th{cursor:pointer;user-select:none}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr>td:first-child{border-left:4px solid var(--vc,transparent)}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;color:#fff;background:var(--vc);font-weight:600;
font-size:13px;white-space:nowrap}
.v-leak{--vc:var(--leak)}.v-slice-pinning{--vc:var(--slice-pinning)}.v-growing{--vc:var(--growing)}
.v-retained-capacity{--vc:var(--retained-capacity)}.v-churn{--vc:var(--churn)}.v-undetermined{--vc:var(--undetermined)}
.v-healthy{--vc:var(--healthy)}
section.item{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--vc);border-radius:8px;
padding:14px 18px;margin:14px 0}
.ihead{display:flex;align-items:center;gap:12px;flex-wrap:wrap;cursor:pointer;list-style:none}
.ihead::-webkit-details-marker{display:none}
.ihead::before{content:"\\25B8";color:var(--muted);font-size:14px;width:10px}details[open]>.ihead::before{content:"\\25BE"}
.retains{margin-left:auto;color:var(--muted);font-size:14px;font-variant-numeric:tabular-nums}
.conf{color:var(--muted);font-size:13px}.conf-high{font-weight:600;color:var(--fg)}
.sub{color:var(--muted);font-size:13px;margin:4px 0}.meaning{margin:2px 0 8px;color:var(--muted);font-style:italic}
dl.figs{display:flex;flex-wrap:wrap;gap:8px 22px;margin:8px 0}dl.figs dt{font-size:12px;color:var(--muted)}
dl.figs dd{margin:0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.fix,.needs{padding:8px 12px;border-radius:6px;margin:8px 0}
.fix{background:color-mix(in srgb,var(--healthy) 12%%,transparent)}
.needs{background:color-mix(in srgb,var(--undetermined) 14%%,transparent)}
.label{font-weight:700;margin-right:6px}
.path ol{display:inline;list-style:none;padding:0;margin:0}.path li{display:inline}
.path li+li::before{content:" \\2192 ";color:var(--muted)}
ul.evidence{margin:0;padding-left:0;list-style:none}ul.evidence li{padding:5px 0;border-bottom:1px dashed var(--line)}
.src{display:inline-block;min-width:74px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.efigs{display:block;margin:3px 0 0 78px}
.efig{display:inline-block;font-size:12px;background:var(--code);border-radius:4px;padding:0 6px;margin:2px 6px 2px 0}
.efig .k{color:var(--muted)}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{overflow:visible}svg.chart,svg.occ,svg.fill,.slicebar svg{max-width:100%%;height:auto}
.scroll{overflow-x:auto}
@media (max-width:640px){main{padding:0 10px 30px}section.item{padding:10px}.efigs{margin-left:0}
dl.meta{grid-template-columns:1fr}dl.meta dt{margin-top:4px}}svg text{fill:var(--fg);font-size:11px;font-family:inherit}
svg .ctitle{font-size:13px;font-weight:600}svg .tick,svg .axislabel{fill:var(--muted)}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1}
svg .line{fill:none;stroke-width:2.2}svg .pt{stroke:var(--card);stroke-width:1}
svg .line.c1{stroke-dasharray:7 4}svg .line.c2{stroke-width:4;opacity:.6}
svg .line.c0{stroke:var(--c0)}svg .line.c1{stroke:var(--c1)}svg .line.c2{stroke:var(--c2)}svg .line.c3{stroke:var(--c3)}
svg .c0:not(.line){fill:var(--c0)}svg .c1:not(.line){fill:var(--c1)}svg .c2:not(.line){fill:var(--c2)}svg .c3:not(.line){fill:var(--c3)}
svg .ptlabel{font-weight:600}
.o0{fill:var(--o0)}.o1{fill:var(--o1)}.o2{fill:var(--o2)}.o3{fill:var(--o3)}.o4{fill:var(--o4)}.o5{fill:var(--o5)}
.o6{fill:var(--o6)}.o7{fill:var(--o7)}.o8{fill:var(--o8)}
path.run{fill:none}.s0{stroke:var(--o0)}.s1{stroke:var(--o1)}.s2{stroke:var(--o2)}.s3{stroke:var(--o3)}.s4{stroke:var(--o4)}
.s5{stroke:var(--o5)}.s6{stroke:var(--o6)}.s7{stroke:var(--o7)}.s8{stroke:var(--o8)}
figure{margin:8px 0}figcaption{font-size:13px;color:var(--muted);margin-top:4px}
svg .tomb{fill:var(--undetermined);opacity:.6}
.occlegend{display:inline-flex;align-items:center;gap:3px;margin-left:8px}.occlegend .swatch{vertical-align:middle}
svg.icicle .box rect{fill:var(--vc,var(--muted));stroke:none}svg.icicle .box.v-none rect{fill:var(--muted);opacity:.55}
svg.icicle .box.sub rect{opacity:.6}svg.icicle text{fill:#fff;font-size:12px;font-weight:600;pointer-events:none}
svg.icicle{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:4px}
.slicebar .alloc{fill:var(--o0)}.slicebar .capr{fill:var(--c0);opacity:.35}.slicebar .lenr{fill:var(--c0)}
.where{font-size:12px;color:var(--muted)}.srcline code{font-size:12px;white-space:pre-wrap}.hint{color:var(--muted);font-size:14px;margin-top:0}.empty{color:var(--muted)}
footer{max-width:1100px;margin:20px auto;padding:0 20px 30px;color:var(--muted);font-size:12px}
""" % {"light": _shades("#c6dbef", "#08306b"), "dark": _shades("#1e3a5f", "#9ecbff")}


def csp_hash(text: str) -> str:
    """The CSP source that admits exactly this inline <script> or <style> body."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Nothing may be fetched; only our own stylesheet and script run (by hash, so injected ones could not).
CSP = (f"default-src 'none'; style-src {csp_hash(_CSS)}; script-src {csp_hash(_SCRIPT)}; "
       "base-uri 'none'; form-action 'none'")


def _page(title: str, header: str, body: str) -> str:
    csp = CSP
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n"
            f"<body>{header}<main>\n{body}\n</main>"
            f'<footer>goinspect {esc(__version__)} · one self-contained file: it loads nothing from the network.</footer>'
            f"<script>{_SCRIPT}</script></body></html>\n")
