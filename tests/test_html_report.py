"""The HTML report (goinspect/render/html.py): one self-contained page, safe against hostile names.

Pure tests render report dicts built here to the analyze JSON schema (issue 6) and parse
the page with html.parser: structure, escaping, no external reference, charts for one and
many samples. The real tests render the report of a real ``goinspect analyze`` run on a
real fleet program and open it in headless Chromium with every proxied request refused,
then read the rendered DOM (and keep a screenshot) to check each item's verdict is shown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from goinspect.render.html import CSP, VERDICTS, csp_hash, occupancy_cells, ordered_items, render_html, retained_tree
from goinspect.render.svg import nice_ticks
from goinspect.render.units import fmt_value

CHROMIUM = "/usr/bin/chromium"
HOSTILE = '"><script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'


# --- building reports to the schema ---------------------------------------------------------------

def _map(name: str, verdict: str, counts: list[int], *, retained: int, occupancy: list[int] | None = None,
         impl: str = "hmap", **extra: Any) -> dict[str, Any]:
    n = len(counts)
    structure = [c * 48 + 4096 for c in counts]
    reach = [c * 112 for c in counts]
    return {
        "name": name, "root": "global", "addr": 0xC000010000, "type": "map[string]*main.session",
        "count": counts[-1], "verdict": verdict, "confidence": "high",
        "evidence": [{"source": "snapshots", "text": f"count went {counts[0]} -> {counts[-1]}",
                      "figures": {"count": counts, "structure_bytes": structure[-1]}},
                     {"source": "model", "text": "a fresh map of this count needs `B=5`", "figures": {"B": 5}}],
        "retained_bytes": retained, "freed_bytes": retained // 2, "path": ["main.state", name],
        "fix": "bound the map: evict old sessions", "needs": None,
        "series": {"t": [float(i) for i in range(n)], "count": counts, "structure_bytes": structure,
                   "reachable_bytes": reach, "retained_bytes": [retained * (i + 1) // n for i in range(n)]},
        "occupancy": {"impl": impl, "capacity": len(occupancy or []) * 8, "used": sum(occupancy or []),
                      "tombstones": 3, "buckets": occupancy or [], "slots_per_bucket": 8},
        "sites": extra.pop("sites", []), **extra,
    }


def _slice(name: str, verdict: str, lens: list[int], *, alloc: int, retained: int) -> dict[str, Any]:
    n = len(lens)
    return {
        "name": name, "root": "stack", "addr": 0xC000200000, "type": "[]byte", "len": lens[-1], "cap": lens[-1] + 2,
        "alloc_bytes": alloc, "verdict": verdict, "confidence": "medium",
        "evidence": [{"source": "graph", "text": "holds a big array", "figures": {"alloc_bytes": alloc}}],
        "retained_bytes": retained, "freed_bytes": alloc - lens[-1], "path": [name],
        "fix": "`slices.Clone` the subslice", "needs": "2+ samples",
        "series": {"t": [float(i) for i in range(n)], "len": lens, "cap": [x + 2 for x in lens],
                   "alloc_bytes": [alloc] * n, "reachable_bytes": [0] * n, "retained_bytes": [retained] * n},
    }


def _report(maps: list[dict[str, Any]], slices: list[dict[str, Any]], samples: int,
            sites: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"target": {"kind": "live", "pid": 4242, "exe": "/srv/bin/payments", "cores": [], "go_version": "1.26.6",
                       "map_impl": "swiss", "samples": samples, "times": [float(i) for i in range(samples)],
                       "pause_seconds": [0.012] * samples, "profiles": [],
                       "graph": {"nodes": 1234, "edges": 2345, "seconds": 0.4}},
            "maps": maps, "slices": slices, "profile_sites": sites or []}


VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Page(HTMLParser):
    """Everything the tests look at in a page: tags with attributes, text, script bodies."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.sections: dict[str, list[str]] = {}  # data-name of an item section -> its text
        self._in_script = False
        self._open: list[str | None] = []  # the item each open <section> belongs to
        self.stack: list[str] = []  # open elements: a well-formed page ends with none and never mismatches
        self.mismatched: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "section":
            name = dict(attrs).get("data-name")
            self._open.append(name)
            if name is not None:
                self.sections[name] = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script
        top = self.stack.pop() if self.stack else None
        if top != tag:
            self.mismatched.append((tag, top))
        if tag == "section" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)
        item = next((n for n in reversed(self._open) if n is not None), None)
        if item is not None and not self._in_script:
            self.sections[item].append(data)

    def section_text(self, name: str) -> str:
        return " ".join(" ".join(self.sections[name]).split())

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    @property
    def body_text(self) -> str:
        return " ".join(self.text)


def assert_self_contained(page: Page) -> None:
    """No attribute anywhere may make the browser fetch: no src/href/xlink to a scheme or '//' and no url()."""
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            if key in ("src", "href", "xlink:href", "action", "data", "poster", "srcset"):
                assert value is not None and value.startswith("#"), (tag, key, value)
            assert not key.startswith("on"), (tag, key)
        assert tag not in ("link", "iframe", "object", "embed", "img", "image", "use", "base", "form"), tag


# --- pure rendering -----------------------------------------------------------------------------

def test_page_structure_worst_first_with_every_part():
    sites = [{"id": 7, "function": "main.addSession", "file": "/src/main.go", "line": 42, "kind": "map-bucket",
              "trend": "growing", "feeds": "main.sessions", "inuse_bytes": [100, 2000, 40000], "alloc_bytes": [1, 2, 3]},
             {"id": 9, "function": "main.other", "file": "/src/other.go", "line": 7, "kind": "other",
              "trend": "flat", "feeds": None, "inuse_bytes": [5, 5, 5], "alloc_bytes": [9, 18, 27]}]
    maps = [_map("main.cache", "healthy", [10, 10, 10], retained=1 << 12, occupancy=[1, 2, 3]),
            _map("main.sessions", "leak", [100, 200, 400], retained=5 << 20, occupancy=[8, 7, 0, 5] * 40, sites=[7]),
            _map("main.deleted", "retained-capacity", [1000, 10, 10], retained=3 << 20, occupancy=[0, 1, 0, 0])]
    slices = [_slice("main.handler.buf", "slice-pinning", [10, 10, 10], alloc=1 << 20, retained=1 << 20)]
    html = render_html(_report(maps, slices, 3, sites))
    page = Page(html)
    assert_self_contained(page)
    assert page.stack == [] and page.mismatched == []  # every element closed, in order
    sections = page.all("section")
    items = [a for a in sections if a.get("class", "").startswith("item ")]
    order = [a["data-name"] for a in items]
    assert order == ["main.sessions", "main.handler.buf", "main.deleted", "main.cache"]
    assert [a["data-verdict"] for a in items] == ["leak", "slice-pinning", "retained-capacity", "healthy"]
    assert sorted(VERDICTS.index(a["data-verdict"]) for a in items) == [VERDICTS.index(a["data-verdict"]) for a in items]
    text = page.body_text
    assert "Leaking:" in text and "main.sessions" in text
    assert fmt_value(5 << 20, "bytes") in text  # retained, in human units
    assert "bound the map: evict old sessions" in text and "count went 100 -> 400" in text
    assert "main.addSession" in text and "/src/main.go:42" in text  # the site feeding the leak
    assert "main.other" in text  # an unmatched site gets its own table
    assert "1 map judged healthy, retaining 4kB in all" in " ".join(text.split())
    assert "pid 4242" in text and "1.26.6" in text and "12 ms" in text
    # Two charts per item, an occupancy grid per map with counts, one icicle, one sortable summary table.
    assert len(page.all("svg", **{"class": "chart"})) == 2 * len(items)
    assert len(page.all("svg", **{"class": "occ"})) == 3
    assert len(page.all("svg", **{"class": "icicle"})) == 1
    assert len(page.all("table", **{"class": "sortable"})) == 2  # flagged items, then the folded healthy ones
    assert len(page.all("details", **{"class": "group"})) == 2  # healthy rows and healthy sections start closed
    # Backticked code in fix/evidence text becomes <code>, nothing else does.
    assert "<code>slices.Clone</code>" in html and "<code>B=5</code>" in html
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", html)  # e.g. a CSS escape Python ate
    # Exactly one script: ours, allowed by hash in the CSP, which also forbids any fetch.
    assert len(page.scripts) == 1
    csp = page.all("meta", **{"http-equiv": "Content-Security-Policy"})[0]["content"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp


def test_unmatched_sites_biggest_first_and_the_tail_folded():
    sites = [{"id": i, "function": f"main.f{i}", "file": "/m.go", "line": i, "kind": "other", "trend": "flat",
              "feeds": None, "text": f"x := make([]byte, {i})", "inuse_bytes": [i, i * 1000], "alloc_bytes": [i, i]}
             for i in range(1, 21)]
    report = _report([_map("main.m", "leak", [1, 2], retained=1)], [], 2, sites)
    report["target"]["profiles"] = ["http://127.0.0.1:1/debug/pprof/heap"] * 2
    page = Page(render_html(report))
    text = page.body_text
    order = [int(m) for m in re.findall(r"main\.f(\d+)", text)]
    assert order == list(range(20, 0, -1))  # most bytes in use (last profile) first
    assert f"5 more sites, {fmt_value(15_000, 'bytes')} in use in all" in text  # 5+4+3+2+1 kB folded
    assert "x := make([]byte, 20)" in text  # the source line of each site
    assert "http://127.0.0.1:1/debug/pprof/heap ×2" in " ".join(text.split())
    assert_self_contained(page)  # a profile URL is shown as text, never as a link


def test_first_sample_time_is_a_date_not_a_timestamp():
    report = _report([_map("main.m", "healthy", [1, 1], retained=64)], [], 2)
    report["target"]["started_at"] = 1796352807.7
    assert "First sample 2026-12-04 02:53:27 UTC" in Page(render_html(report)).body_text


def test_cores_and_profiles_only_headers():
    cores = _report([_map("main.m", "leak", [1, 2], retained=1)], [], 2)
    cores["target"].update(kind="core", pid=None, cores=["/tmp/core.1", "/tmp/core.2"])
    text = " ".join(Page(render_html(cores)).body_text.split())
    assert "2 core files: /tmp/core.1 , /tmp/core.2" in text and "payments (core)" in text
    profiles = {"target": {"kind": "profiles", "pid": None, "exe": None, "cores": [], "samples": 0, "times": [],
                           "pause_seconds": [], "profiles": ["a.pb.gz", "b.pb.gz"]},
                "maps": [], "slices": [],
                "profile_sites": [{"id": 0, "function": "main.grow", "file": "m.go", "line": 3, "kind": "map-buckets",
                                   "trend": "growing", "feeds": None, "inuse_bytes": [1, 2], "alloc_bytes": [1, 2]}]}
    text = " ".join(Page(render_html(profiles)).body_text.split())
    assert "heap profiles only (no process or core was read)" in text and "main.grow" in text
    assert "No process or core was read" in text and "0 snapshots" in text


def test_summary_table_sort_keys_and_totals():
    maps = [_map("main.a", "churn", [1, 2], retained=300), _map("main.b", "leak", [1, 9], retained=100)]
    page = Page(render_html(_report(maps, [], 2)))
    rows = [a for a in page.all("td") if "data-sort" in a]
    assert [int(a["data-sort"]) for a in rows[:1]] == [VERDICTS.index("leak")]
    assert f"retain {fmt_value(400, 'bytes')}" in page.body_text.replace("  ", " ")


def test_hostile_target_strings_stay_text():
    """A Go type or variable name can hold anything the linker accepts: it must never become markup."""
    m = _map(HOSTILE, "leak", [1, 2], retained=10 << 10, occupancy=[1])
    m["type"] = "map[string]<svg onload=alert(1)>"
    m["path"] = [HOSTILE + "</li></ol>", "</style><b>x</b>"]
    m["evidence"] = [{"source": "<i>graph</i>", "text": "`</code><script>x()</script>`",
                      "figures": {"<k>": "<v onclick=x()>", "bytes": [1, "</span>"]}}]
    m["fix"] = "</div></section><iframe src=//evil.example>"
    m["needs"] = "&lt;already escaped&gt;"
    s = _slice("main.s\"'<>&", "<b>bogus-verdict</b>", [1], alloc=64, retained=64)
    report = _report([m], [s], 2)
    report["target"]["exe"] = "/tmp/<img src=//evil.example/x.png>"
    report["target"]["go_version"] = "go1.26<script>"
    html = render_html(report)
    page = Page(html)
    assert_self_contained(page)
    assert page.stack == [] and page.mismatched == []  # hostile text closed nothing early
    assert len(page.scripts) == 1 and "pwned" not in page.scripts[0]
    allowed = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3", "h4", "span", "dl",
               "dt", "dd", "div", "p", "a", "b", "code", "section", "table", "thead", "tbody", "tr", "th", "td", "ul",
               "ol", "li", "figure", "figcaption", "svg", "rect", "text", "line", "polyline", "circle", "title", "g",
               "path", "footer", "script", "details", "summary"}
    assert {t for t, _ in page.tags} <= allowed
    # The hostile strings come back verbatim as text (and as the data-name attribute), never as tags.
    text = page.body_text
    for s_ in (HOSTILE, "map[string]<svg onload=alert(1)>", "</style><b>x</b>", "</code><script>x()</script>",
               "</div></section><iframe src=//evil.example>", "&lt;already escaped&gt;", "/tmp/<img src=//evil.example/x.png>",
               "<b>bogus-verdict</b>", "<v onclick=x()>"):
        assert s_ in text, s_
    assert [a["data-name"] for a in page.all("section") if "data-name" in a] == [HOSTILE, "main.s\"'<>&"]
    # An unknown verdict is shown as given but coloured and ranked as undetermined.
    assert [a["class"] for a in page.all("section") if a.get("data-verdict") == "<b>bogus-verdict</b>"] == \
        ["item v-undetermined"]


def test_one_sample_renders_points_not_lines():
    page = Page(render_html(_report([_map("main.m", "retained-capacity", [7], retained=4096, occupancy=[7])],
                                    [_slice("main.s", "slice-pinning", [3], alloc=1 << 16, retained=1 << 16)], 1)))
    charts = page.all("svg", **{"class": "chart"})
    assert len(charts) == 4
    assert not page.all("polyline")  # nothing to connect
    assert len(page.all("circle")) == 1 + 3 + 2 + 3  # one point per series: entries; 3 byte series; len, cap; 3 bytes
    text = page.body_text
    assert "one sample (growth needs two or more)" in text
    assert "0 s" in text and "1 snapshot" in text
    assert "7" in text and fmt_value(1 << 16, "bytes") in text


def test_many_samples_draw_lines_over_time_axis():
    counts = [100 * (i + 1) for i in range(40)]
    html = render_html(_report([_map("main.m", "leak", counts, retained=1 << 24, occupancy=[8] * 4096)], [], 40))
    page = Page(html)
    lines = page.all("polyline")
    assert len(lines) == 4  # entries + structure/reachable/retained
    xs = [float(p.split(",")[0]) for p in lines[0]["points"].split()]
    ys = [float(p.split(",")[1]) for p in lines[0]["points"].split()]
    assert len(xs) == 40 and xs == sorted(xs) and ys == sorted(ys, reverse=True)  # growing count: up on screen
    text = page.body_text
    assert "seconds since the first sample" in text
    xticks = re.findall(r'class="tick" x="[0-9.]+" y="[0-9.]+" text-anchor="middle">([^<]*)<', html)
    assert xticks[:5] == ["0 s", "10 s", "20 s", "30 s", "40 s"]  # nice ticks covering 0..39 s
    assert f"{4000:,}" in text  # the count axis reaches the last value
    # 4096 cells of one level share one path; the grid stays small.
    occ = re.search(r'<svg class="occ".*?</svg>', html, re.S).group(0)
    assert occ.count("<path") == 1 and occ.count("M") == 64 and len(occ) < 2_000  # one run per row


def test_occupancy_cells_both_layouts():
    """Swiss tables of different sizes, classic buckets summed when downsampled, and no cells at all."""
    swiss = _map("main.t", "healthy", [5], retained=1, impl="swiss")
    swiss["occupancy"] = {"impl": "swiss", "cell": "table", "capacity": 1024 + 128, "used": 900, "tombstones": 40,
                          "cells": [[890, 1024], [10, 128, 40], [0, 128]]}
    fr, tips, unit, slots = occupancy_cells(swiss["occupancy"])
    assert fr == [890 / 1024, 10 / 128, 0.0] and unit == "table" and slots is None
    assert tips == ["table 0: 890 of 1,024 slots live", "table 1: 10 of 128 slots live, 40 tombstones",
                    "table 2: 0 of 128 slots live"]
    classic = _map("main.c", "retained-capacity", [5], retained=1)
    cells = [[8, 8]] * 3000 + [[0, 8]] * 3000 + [[3, 8]] * 2192
    summed = [[sum(c[0] for c in cells[i:i + 2]), 16] for i in range(0, len(cells), 2)]
    classic["occupancy"] = {"impl": "hmap", "cell": "bucket", "capacity": 8 * len(cells), "used": 3000 * 8 + 2192 * 3,
                            "tombstones": 7, "buckets": len(cells), "overflow_buckets": 0, "cells": summed}
    fr, tips, unit, slots = occupancy_cells(classic["occupancy"])
    assert len(fr) == 4096 and tips is None and slots is None and fr[0] == 1.0 and fr[2000] == 0.0
    bare = _map("main.b", "healthy", [5], retained=1)
    bare["occupancy"] = {"impl": "hmap", "cell": "bucket", "capacity": 64, "used": 5, "tombstones": 0, "buckets": 8,
                         "overflow_buckets": 0, "cells": []}
    html = render_html(_report([swiss, classic, bare], [], 1))
    page = Page(html)
    text = page.body_text
    assert "table 0: 890 of 1,024 slots live" in text  # per-table tooltips
    assert "8,192 buckets + 0 overflow" in text and "4,096 cells, buckets summed where there were more" in text
    assert "the cells hold" not in text  # every live entry is in a cell
    classic["occupancy"]["used"] += 500
    assert "the cells hold 30,576 of the 31,076 live entries" in " ".join(Page(render_html(_report([classic], [], 1))).body_text.split())
    assert "live share:" in text and "100%" in text
    assert len(page.all("svg", **{"class": "occ"})) == 2 and len(page.all("svg", **{"class": "fill"})) == 1
    occ = next(o for o in re.findall(r'<svg class="occ".*?</svg>', html, re.S) if "4096 buckets" in o)
    assert occ.count("<path") == 3  # full, empty and 3-of-8 buckets: one path per shade


def test_time_axis_unit_follows_the_span():
    from goinspect.render.svg import Series, line_chart
    hour = line_chart([0.0, 3600.0, 10800.0], [Series("n", [1, 2, 3])], "count", "x")
    assert re.findall(r'text-anchor="middle">([^<]*)<', hour)[:4] == ["0 h", "1 h", "2 h", "3 h"]
    ninety = line_chart([0.0, 5400.0], [Series("n", [1, 2])], "count", "x")
    assert re.findall(r'text-anchor="middle">([^<]*)<', ninety)[:2] == ["0 min", "20 min"]
    assert "hours since the first sample" in hour
    mins = line_chart([0.0, 150.0, 300.0], [Series("n", [1, 2, 3])], "count", "x")
    assert "minutes since the first sample" in mins and ">5 min<" in mins
    same = line_chart([0.0, 0.0], [Series("n", [1, 2])], "count", "x")
    assert "every sample at the same time" in same


def test_missing_values_break_the_line():
    m = _map("main.m", "undetermined", [1, 2, 3, 4], retained=10)
    m["series"]["reachable_bytes"] = [10, None, 30, 40]
    m["needs"] = "a heap graph"
    page = Page(render_html(_report([m], [], 4)))
    lines = page.all("polyline")
    assert len(lines) == 4  # entries, structure, reachable's second run, retained; reachable's first run is one point
    assert "a heap graph" in page.body_text


def test_minimal_report_renders():
    """Only the fields the issue's JSON contract requires; nothing optional is assumed."""
    report = {"target": {}, "maps": [{"name": "main.m", "root": "global", "addr": 1, "count": 3, "verdict": "healthy",
                                      "confidence": "low", "evidence": [], "retained_bytes": None, "path": [],
                                      "fix": ""}],
              "slices": [], "profile_sites": []}
    page = Page(render_html(report))
    assert_self_contained(page)
    assert "main.m" in page.body_text and "No evidence recorded." in page.body_text
    assert "No retained bytes were measured" in page.body_text
    assert "No maps or slices were found." in Page(render_html({"target": {}, "maps": [], "slices": []})).body_text


def test_retained_tree_hierarchy_adds_up():
    maps = [_map("main.state.a", "leak", [1, 2], retained=600), _map("main.state.b", "healthy", [1], retained=400),
            _map("example.com/x/y.v", "healthy", [1], retained=50, path=["global example.com/x/y.v", "map header"])]
    maps[2]["series"]["structure_bytes"] = [20]
    slices = [_slice("main.worker.buf", "slice-pinning", [1], alloc=30, retained=100)]
    items = ordered_items(_report(maps, slices, 2))
    root = retained_tree(items)
    assert root.value == 1150
    kinds = {k.label: k for k in root.children}
    assert set(kinds) == {"globals", "goroutine stacks"}
    g = kinds["globals"]
    state = next(c for c in g.children if c.label == "main.state")
    assert state.value == 1000 and {c.label for c in state.children} == {"main.state.a", "main.state.b"}
    y = next(c for c in g.children if c.label == "example.com/x/y.v")  # the root itself: no extra level
    assert [(c.label, c.value) for c in y.children] == [("buckets/tables", 20), ("values", 30)]
    worker = kinds["goroutine stacks"].children[0]  # a stack local groups under its goroutine's function
    assert worker.label == "main.worker" and [c.label for c in worker.children] == ["main.worker.buf"]
    two = [_slice("main.serve.buf", "healthy", [1], alloc=8, retained=8), _map("main.serve.m#7", "leak", [1], retained=9)]
    two[0]["path"] = ["stack main.serve.buf (goroutine 7)", "slice array 0x1 (8 B)"]
    two[1].update(root="stack", goroutine=7)
    (g7,) = retained_tree(ordered_items(_report(two[1:], two[:1], 1))).children[0].children
    assert g7.label == "main.serve (goroutine 7)" and {c.label for c in g7.children} == {"main.serve.buf", "main.serve.m#7"}
    buf = worker.children[0]
    assert [(c.label, c.value) for c in buf.children] == [("backing array", 30), ("what elements point to", 70)]
    for node in (root, g, state, y, worker, buf):
        assert sum(c.value for c in node.children) == node.value


def test_icicle_merges_boxes_too_thin_to_see():
    from goinspect.render.svg import Node, icicle
    root = Node("all", 10_000, children=[Node("big", 9_000, "v-leak")] + [Node(f"tiny{i}", 10, "v-healthy") for i in range(100)])
    svg = icicle(root, width=1000)
    page = Page(svg)
    titles = " ".join(page.text)
    assert "big" in titles and "tiny0" not in titles
    assert f"100 smaller items: {fmt_value(1000, 'bytes')} in all" in titles
    assert len(page.all("rect")) == 3  # all, big, the merged box


def test_vocabulary_is_the_verdicts_modules():
    """The page orders and colours exactly the verdicts goinspect.analysis.verdicts can give."""
    from goinspect.analysis import verdicts
    assert sorted(VERDICTS) == sorted(verdicts.VERDICTS)
    html = render_html(_report([_map(f"main.{v}", v, [1], retained=1) for v in verdicts.VERDICTS], [], 1))
    for v in verdicts.VERDICTS:
        assert f".v-{v}{{--vc:var(--{v})}}" in html  # every verdict has its own colour


def test_nice_ticks_cover_and_round():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(7, integer=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(1, integer=True) == [0, 1]
    t = nice_ticks(3 << 20, unit="bytes")
    assert t[-1] >= 3 << 20 and all(fmt_value(int(x), "bytes").endswith("MB") for x in t[1:])
    assert all(b > a for a, b in zip(t, t[1:]))


# --- a real report in a real browser ------------------------------------------------------------

def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Headless Chromium that cannot reach anything: every request goes to a closed loopback proxy port."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--disable-sync", "--disable-component-update",
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--user-data-dir=" + args[0], *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")


def browse(html_file: Path, tmp: Path, fragment: str = "") -> tuple[Page, list[str]]:
    """The DOM Chromium rendered (after our script ran) and every URL request in its network log."""
    netlog = tmp / "netlog.json"
    netlog.unlink(missing_ok=True)
    url = html_file.as_uri() + (f"#{fragment}" if fragment else "")
    res = chromium(str(tmp / "profile"), f"--log-net-log={netlog}", "--virtual-time-budget=3000", "--dump-dom", url)
    assert res.returncode == 0 and "<section" in res.stdout, res.stderr[-2000:]
    return Page(res.stdout), _url_requests(netlog)


def _url_requests(netlog: Path) -> list[str]:
    """URLs the PAGE asked for, from Chromium's own network log.

    Chromium itself phones home (time, accounts: initiator "not an origin"); those go to the
    dead proxy too but are not the page's doing. A request the page makes carries the page's
    (opaque file://) origin as initiator. file:// loads are not network requests.
    """
    assert netlog.exists(), "chromium wrote no network log"
    text = netlog.read_text().rstrip()
    if not text.endswith("}"):  # the log is cut short when the browser exits
        text = text.rstrip(",") + "]}"
    log = json.loads(text)
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    params = [e.get("params") or {} for e in log["events"] if e.get("type") == start]
    return [p["url"] for p in params if "url" in p and p.get("initiator") != "not an origin"
            and not p["url"].startswith(("file:", "data:"))]


def check_rendered(page: Page, report: dict[str, Any], requests: list[str]) -> None:
    """Every map and slice of the report has its own section showing its verdict, fix and evidence."""
    items = ordered_items(report)
    shown = [(a["data-name"], a["data-verdict"]) for a in page.all("section") if "data-verdict" in a]
    assert shown == [(it.name, it.verdict) for it in items]
    for it in items:
        text = page.section_text(it.name)
        assert text.startswith(f"{it.verdict} {it.name}"), text[:200]  # badge, then the name
        assert " ".join(str(it.data.get("fix") or "").replace("`", "").split()) in text
        for e in it.data.get("evidence") or []:
            assert " ".join(str(e["text"]).replace("`", "").split()) in text
    assert len(page.all("svg", **{"class": "chart"})) == 2 * len(items)
    assert page.all("html", **{"data-js": "ready"})  # our script ran: the CSP hash admits it
    assert requests == []


@needs_chromium
def test_network_log_sees_a_page_request(tmp_path):
    """The no-network check can fail: a page with an external image shows up in the log (and renders anyway)."""
    page_file = tmp_path / "ext.html"
    page_file.write_text('<html><body><img src="http://example.invalid/x.png"><section data-verdict="x">x</section>'
                         '</body></html>')
    page, requests = browse(page_file, tmp_path)
    assert requests == ["http://example.invalid/x.png"]


@needs_chromium
def test_hostile_page_in_chromium_runs_no_injected_script(tmp_path):
    report = _report([_map(HOSTILE, "leak", [1, 2, 3], retained=1 << 20, occupancy=[8, 4, 0])],
                     [_slice("main.b", "healthy", [1], alloc=8, retained=8)], 3)
    out = tmp_path / "hostile.html"
    out.write_text(render_html(report))
    page, requests = browse(out, tmp_path)
    assert "pwned" not in "".join(page.scripts) + str(page.all("title"))
    title = re.search(r"<title>(.*?)</title>", out.read_text(), re.S)
    assert title and "pwned" not in Page(title.group(0)).body_text.replace(HOSTILE, "")
    check_rendered(page, report, requests)
    # Our script did run (the CSP hash matches): clicking is not possible headless, but the DOM shows
    # the table intact with its rows.
    assert len(page.all("tr")) >= 3


@needs_chromium
def test_link_to_a_folded_healthy_item_opens_it(tmp_path):
    maps = [_map("main.bad", "leak", [1, 2], retained=100), _map("main.fine", "healthy", [3, 3], retained=10)]
    report = _report(maps, [], 2)
    out = tmp_path / "r.html"
    out.write_text(render_html(report))
    anchor = next(it.anchor for it in ordered_items(report) if it.name == "main.fine")
    closed, _ = browse(out, tmp_path)
    opened, requests = browse(Path(f"{out}"), tmp_path, fragment=anchor)
    groups = lambda page: [("open" in a) for a in page.all("details", **{"class": "group"})]  # noqa: E731
    assert groups(closed) == [False, False]
    assert groups(opened) == [False, True]  # the section's group opened; the summary's healthy table stays folded
    assert requests == []


VIOLATIONS = ("document.addEventListener('securitypolicyviolation', function (e) {"
              " const h = document.documentElement;"
              " h.dataset.violations = (h.dataset.violations || '') + e.effectiveDirective + ' ' + e.blockedURI + ';'; });")


def with_violation_recorder(html: str) -> str:
    """The page with a first script (admitted by its own hash) that records every CSP violation on <html>."""
    csp_old = escape(CSP, quote=True)
    csp_new = escape(CSP.replace("script-src ", f"script-src {csp_hash(VIOLATIONS)} "), quote=True)
    assert csp_old in html
    return html.replace(csp_old, csp_new).replace("<head>", f"<head><script>{VIOLATIONS}</script>", 1)


@needs_chromium
def test_csp_admits_our_style_and_script_and_nothing_else(tmp_path):
    """In Chromium the page raises no CSP violation; a stylesheet changed by one byte would raise one."""
    html = render_html(_report([_map("main.m", "leak", [1, 2], retained=10, occupancy=[3])], [], 2))
    good = tmp_path / "good.html"
    good.write_text(with_violation_recorder(html))
    page, requests = browse(good, tmp_path)
    root = page.all("html")[0]
    assert root.get("data-js") == "ready" and "data-violations" not in root, root
    tampered = tmp_path / "tampered.html"
    tampered.write_text(with_violation_recorder(html).replace("</style>", " </style>", 1))
    page, _ = browse(tampered, tmp_path)
    assert "style-src-elem inline" in page.all("html")[0].get("data-violations", "")
    assert requests == []


@needs_chromium
def test_clicking_a_column_sorts_the_summary(tmp_path):
    """Our sorting script in a real browser: a harness (CSP removed for it only) clicks 'Retained' twice."""
    maps = [_map("main.a", "leak", [1, 2], retained=300), _map("main.b", "leak", [1, 2], retained=100),
            _map("main.c", "leak", [1, 2], retained=200)]
    html = render_html(_report(maps, [], 2))
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    harness = """<script>
      const th = Array.from(document.querySelectorAll("table.sortable th")).find(h => h.textContent === "Retained");
      const names = () => Array.from(document.querySelectorAll("table.sortable tbody tr td:nth-child(2)"))
                               .map(td => td.textContent).join(",");
      th.click(); const asc = names(); th.click(); const desc = names();
      document.body.dataset.sorted = asc + "|" + desc;
    </script>"""
    out = tmp_path / "sort.html"
    out.write_text(html.replace("</body>", harness + "</body>"))
    page, _ = browse(out, tmp_path)
    assert page.all("body")[0]["data-sorted"] == "main.b,main.c,main.a|main.a,main.c,main.b"


def _analyze(svc: Any, html_file: Path, samples: int) -> dict[str, Any] | None:
    """``goinspect analyze --pid P --samples N --json --html FILE`` (the real CLI, in a subprocess) while the
    program keeps stepping, so the charts have growth to show; None while this checkout has no analyze --html."""
    cli = [sys.executable, "-m", "goinspect"]
    help_ = subprocess.run([*cli, "analyze", "--help"], capture_output=True, text=True, timeout=60)
    if help_.returncode != 0 or "--html" not in help_.stdout:
        return None
    done = threading.Event()

    def drive() -> None:
        while not done.wait(0.3):
            try:
                svc.advance(1)
            except OSError:
                return

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        res = subprocess.run([*cli, "analyze", "--pid", str(svc.pid), "--samples", str(samples), "--interval", "1",
                              "--json", "--html", str(html_file)], capture_output=True, text=True, timeout=600)
    finally:
        done.set()
        driver.join()
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


@needs_chromium
@pytest.mark.parametrize("program", ["leakmap", "slicepin", "deletedmap"])
def test_real_analyze_report_in_chromium(program, fleet_service, tmp_path, go_version):
    """A real analyze run on a real fleet program, its --html file opened in Chromium with no network."""
    if os.geteuid() != 0:
        pytest.skip("reading a live process needs root (ptrace)")
    html_file = tmp_path / f"{program}.html"
    with fleet_service(program) as svc:
        svc.advance(2)
        report = _analyze(svc, html_file, samples=3)
        expect = svc.truth().get("expect") or {}
    if report is None:
        pytest.skip("`goinspect analyze --html` is not available yet in this checkout")
    items = ordered_items(report)
    assert set(expect) <= {it.name for it in items}  # every map/slice the program declares is in the report
    html = html_file.read_text()
    assert html == render_html(report)  # the file analyze wrote is what render_html makes of the JSON it printed
    parsed = Page(html)
    assert_self_contained(parsed)
    assert parsed.stack == [] and parsed.mismatched == []
    page, requests = browse(html_file, tmp_path)
    check_rendered(page, report, requests)
    shot = tmp_path / "shot.png"
    res = chromium(str(tmp_path / "profile2"), "--window-size=1280,2400", f"--screenshot={shot}", html_file.as_uri())
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
    keep = os.environ.get("GOINSPECT_KEEP_REPORTS")  # a directory to keep the page and screenshot in, to look at
    if keep:
        shutil.copy(shot, Path(keep) / f"{program}-{go_version}.png")
        shutil.copy(html_file, Path(keep) / f"{program}-{go_version}.html")
