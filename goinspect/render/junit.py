"""JUnit XML from an analyze report: one test case per map and per slice, for CI test reports.

The shape is the common JUnit schema that Jenkins, GitHub test-report
actions and GitLab read (``testsuites > testsuite > testcase``; a
``<failure>`` for a failed case; ``<system-out>`` for free text; suite-level
``<properties>``). Test cases carry no ``<properties>`` because that schema
has none there: each case's figures go into its ``<system-out>``.

Two suites: ``goinspect.maps`` and ``goinspect.slices``. A case's
``classname`` is the Go package of the item (``main`` for ``main.sessions``,
``example.com/app/cache`` for ``example.com/app/cache.entries``), its name the
item's name, so reports group the items by package. A case fails when its
verdict is one of ``fail_on``; the failure's ``message`` is the verdict and its
first piece of evidence, its text all the evidence, the path and the fix.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

#: Series shown in a case's system-out, per kind, in this order (those present).
_SERIES = {"maps": ("count", "structure_bytes", "reachable_bytes", "retained_bytes"),
           "slices": ("len", "cap", "alloc_bytes", "reachable_bytes", "retained_bytes")}
_FIGURES = {"maps": ("root", "addr", "type", "count", "retained_bytes", "freed_bytes"),
            "slices": ("root", "addr", "type", "len", "cap", "alloc_bytes", "retained_bytes", "freed_bytes")}


def go_package(name: str) -> str:
    """The Go package of a qualified name: the part before the first dot after the last slash."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    return name[:dot] if dot > 0 else name


def _seconds(value: float) -> str:
    # The schema's SUREFIRE_TIME: digits, optionally a dot and up to three decimals.
    return f"{max(0.0, value):.3f}"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    """``value`` as text XML 1.0 can carry (lists space-separated; characters XML forbids dropped)."""
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return "" if value is None else _NOT_XML.sub("", str(value))


def _evidence_lines(item: dict[str, Any]) -> list[str]:
    return [f"[{e.get('source', '?')}] {e.get('text', '')}" for e in item.get("evidence") or []]


def _failure_text(item: dict[str, Any]) -> str:
    lines = ["Evidence:", *(f"  {line}" for line in _evidence_lines(item))]
    if item.get("path"):
        lines.append("Kept alive by: " + " -> ".join(item["path"]))
    if item.get("freed_bytes"):
        lines.append(f"Would free: {item['freed_bytes']} bytes")
    if item.get("fix"):
        lines.append(f"Fix: {item['fix']}")
    return "\n".join(lines)


def _system_out(item: dict[str, Any], kind: str) -> str:
    lines = [f"verdict: {item.get('verdict')} (confidence {item.get('confidence')})"]
    lines += [f"{key}: {_text(item.get(key))}" for key in _FIGURES[kind] if item.get(key) is not None]
    series = item.get("series") or {}
    lines += [f"series.{key}: {_text(series[key])}" for key in ("t", *_SERIES[kind]) if key in series]
    if item.get("path"):
        lines.append("path: " + " -> ".join(item["path"]))
    lines += [f"evidence: {line}" for line in _evidence_lines(item)]
    if item.get("needs"):
        lines.append(f"needs: {item['needs']}")
    if item.get("fix"):
        lines.append(f"fix: {item['fix']}")
    return "\n".join(lines)


def _case(suite: ET.Element, item: dict[str, Any], kind: str, fail_on: frozenset[str]) -> bool:
    name = str(item.get("name", "?"))
    case = ET.SubElement(suite, "testcase", name=_text(name), classname=go_package(name), time=_seconds(0))
    verdict = str(item.get("verdict"))
    failed = verdict in fail_on
    if failed:
        evidence = item.get("evidence") or []
        first = f": {evidence[0].get('text', '')}" if evidence else ""
        failure = ET.SubElement(case, "failure", type=verdict,
                                message=_text(f"{name}: {verdict} ({item.get('confidence')}){first}"))
        failure.text = _text(_failure_text(item))
    ET.SubElement(case, "system-out").text = _text(_system_out(item, kind))
    return failed


def render_junit(report: dict[str, Any], fail_on: Iterable[str], *, seconds: float,
                 properties: dict[str, Any] | None = None, timestamp: float | None = None) -> str:
    """The JUnit XML document for ``report`` (the analyze JSON); cases whose verdict is in ``fail_on`` fail."""
    fail_on = frozenset(fail_on)
    target = report.get("target") or {}
    props = {"go_version": target.get("go_version"), "map_impl": target.get("map_impl"),
             "exe": target.get("exe"), "pid": target.get("pid"), "samples": target.get("samples"),
             "fail_on": ",".join(sorted(fail_on)), **(properties or {})}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp if timestamp is not None else time.time()))
    root = ET.Element("testsuites", name="goinspect ci")
    total_tests = total_failures = 0
    for kind in ("maps", "slices"):
        items = report.get(kind) or []
        suite = ET.SubElement(root, "testsuite", name=f"goinspect.{kind}")
        props_el = ET.SubElement(suite, "properties")
        for key, value in props.items():
            if value is not None:
                ET.SubElement(props_el, "property", name=key, value=_text(value))
        failures = sum(_case(suite, item, kind, fail_on) for item in items)
        suite.attrib.update(tests=str(len(items)), failures=str(failures), errors="0", skipped="0",
                            time=_seconds(seconds), timestamp=stamp, hostname=socket.gethostname())
        total_tests += len(items)
        total_failures += failures
    root.attrib.update(tests=str(total_tests), failures=str(total_failures), errors="0", time=_seconds(seconds))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
