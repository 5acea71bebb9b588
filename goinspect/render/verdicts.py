"""The analyze report for a terminal: one block per map and slice, worst verdict first.

Each block leads with what an on-call engineer acts on — the verdict, the
bytes at stake and the fix — then the evidence and the path that keeps the
memory alive.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from goinspect.render.units import fmt_value

_COLOURS = {"leak": "31;1", "slice-pinning": "35;1", "growing": "33;1", "retained-capacity": "33",
            "churn": "36", "undetermined": "37", "healthy": "32"}


#: Healthy items are listed by name only, at most this many (most of a program's globals are healthy).
HEALTHY_SHOWN = 12


def _use_colour(out: TextIO) -> bool:
    return out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _bytes(n: int | None) -> str:
    return "?" if n is None else fmt_value(int(n), "bytes")


def item_lines(item: dict[str, Any], kind: str, colour: bool = False) -> list[str]:
    verdict = item["verdict"]
    tag = verdict.upper()
    if colour:
        tag = f"\x1b[{_COLOURS.get(verdict, '0')}m{tag}\x1b[0m"
    size = (f"{item['count']} entries" if kind == "map"
            else f"len {item['len']} cap {item['cap']}" + (f", array allocation {_bytes(item.get('alloc_bytes'))}"
                                                           if item.get("alloc_bytes") else ""))
    lines = [f"{tag} ({item['confidence']})  {kind} {item['name']}  {item.get('type') or ''}",
             f"    {size}; retained {_bytes(item.get('retained_bytes'))}"
             + (f"; a fix frees {_bytes(item['freed_bytes'])}" if item.get("freed_bytes") else "")
             + f"; root {item['root']}"]
    for e in item.get("evidence", []):
        lines.append(f"    - [{e['source']}] {e['text']}")
    if item.get("path"):
        lines.append("    path: " + " -> ".join(item["path"]))
    if item.get("fix"):
        lines.append(f"    fix: {item['fix']}")
    if item.get("needs"):
        lines.append(f"    to decide: {item['needs']}")
    return lines


def report_lines(report: dict[str, Any], colour: bool = False) -> list[str]:
    from goinspect.analysis.report import SEVERITY

    t = report["target"]
    what = (f"process {t['pid']}" if t.get("kind") == "live" else
            f"{len(t.get('cores', []))} core(s) of {t.get('exe')}" if t.get("kind") == "core" else "heap profiles")
    pauses = [p for p in t.get("pause_seconds", []) if p is not None]
    head = f"goinspect analyze: {what}, Go {t.get('go_version') or '?'}, {t.get('samples', 0)} snapshot(s)"
    if pauses:
        head += f", paused {min(pauses) * 1000:.0f}-{max(pauses) * 1000:.0f} ms each"
    if t.get("profiles"):
        head += f", {len(t['profiles'])} profile(s)"
    lines = [head]
    items = [(i, "map") for i in report["maps"]] + [(i, "slice") for i in report["slices"]]
    order = {v: n for n, v in enumerate(SEVERITY)}
    items.sort(key=lambda p: (order.get(p[0]["verdict"], len(order)), -(p[0].get("retained_bytes") or 0)))
    counts: dict[str, int] = {}
    for item, _ in items:
        counts[item["verdict"]] = counts.get(item["verdict"], 0) + 1
    lines.append("verdicts: " + (", ".join(f"{counts[v]} {v}" for v in SEVERITY if v in counts) or "no maps or slices"))
    healthy = [item["name"] for item, _ in items if item["verdict"] == "healthy"]
    for item, kind in items:
        if item["verdict"] != "healthy":
            lines.append("")
            lines += item_lines(item, kind, colour)
    if healthy:
        shown = ", ".join(healthy[:HEALTHY_SHOWN])
        more = f" and {len(healthy) - HEALTHY_SHOWN} more (--json lists every item)" if len(healthy) > HEALTHY_SHOWN else ""
        lines += ["", f"healthy: {shown}{more}"]
    sites = [s for s in report.get("profile_sites", []) if s.get("trend") in ("growing", "churn")]
    if sites:
        lines += ["", "profile sites:"]
        for s in sites[:10]:
            fed = f" -> feeds {s['feeds']}" if s.get("feeds") else ""
            lines.append(f"    {s['trend']:<8} {s['function']} {os.path.basename(s['file'])}:{s['line']} "
                         f"({s['kind']}), in use {_bytes(s['inuse_bytes'][-1] if s['inuse_bytes'] else 0)}{fed}")
    return lines


def print_report(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    out.write("\n".join(report_lines(report, _use_colour(out))) + "\n")
