"""Span ownership checks: every structure the runtime allocated is a live heap object of the model's size.

Judges the records ``goinspect.runtime.ownership`` attached to a map or slice: the
span is in use (``mSpanInUse``), the object is allocated (``mspan.isFree`` is false),
the span's elemsize is the block ``mallocgc`` gives that request, a large object is
the only object of its span, and the structure starts where the model says (after
the malloc header, if any) or, for a slice, fits inside the object. A structure on a goroutine stack or outside the heap is reported,
not failed, where the compiler may put it there (map headers, a small map's first
bucket or group, slice arrays).
"""

from __future__ import annotations

from typing import Any

from goinspect.checks.base import Check
from goinspect.model.heaparena import PAGE_SIZE
from goinspect.runtime.spans import HEAP, OUTSIDE, STACK

#: runtime/sizeclasses.go: _MaxSmallSize; bigger objects get a span of their own (mallocgc's large path).
MAX_SMALL_SIZE = 32768

#: Structures the compiler may place on a goroutine stack or in static data.
MAY_LIVE_OUTSIDE_HEAP = {"header", "buckets", "small_group", "slice_array"}


def _where(rec: dict[str, Any]) -> str:
    s = rec.get("span")
    return (f"{rec['addr']} in span {s['start']} npages={s['npages']} elemsize={s['elemsize']} "
            f"sizeclass={s['sizeclass']} noscan={s['noscan']} object {rec.get('object_index')}") if s else rec["addr"]


def check_owner(role: str, rec: dict[str, Any]) -> Check:
    """One structure's owner (a ``goinspect.runtime.ownership.record``)."""
    name = f"span.{role}"
    where = rec["where"]
    if where in (STACK, OUTSIDE):
        return Check(name, role in MAY_LIVE_OUTSIDE_HEAP, f"{rec['addr']} is {'on a goroutine stack' if where == STACK else 'not in the Go heap'}")
    if where != HEAP:
        return Check(name, False, f"{rec['addr']}: {where}")
    problems = []
    if not rec.get("allocated"):
        problems.append("object is free (mspan.isFree)")
    span, base, addr = rec["span"], int(rec["object_base"], 16), int(rec["addr"], 16)
    if rec.get("expected_elemsize") is not None:
        if span["elemsize"] != rec["expected_elemsize"]:
            problems.append(f"elemsize {span['elemsize']} != model {rec['expected_elemsize']} for {rec['bytes']} bytes")
        if addr - base != rec["expected_offset"]:
            problems.append(f"starts {addr - base} bytes into its object, model says {rec['expected_offset']}")
        if rec["expected_elemsize"] > MAX_SMALL_SIZE and not (
                span["nelems"] == 1 and rec["object_index"] == 0 and span["npages"] * PAGE_SIZE == span["elemsize"]):
            problems.append(f"a large object must own its span (nelems={span['nelems']}, object {rec['object_index']}, "
                            f"{span['npages']} pages)")
    if addr + rec["bytes"] > base + span["elemsize"]:
        problems.append(f"{rec['bytes']} bytes from {rec['addr']} run past the object's end")
    return Check(name, not problems, _where(rec) + ("; " + "; ".join(problems) if problems else "; allocated"))


def check_overflow(summary: dict[str, Any]) -> Check:
    """Overflow buckets: each in a bucket array's preallocated tail or an allocated object of its own."""
    ev = (f"{summary['count']} overflow buckets: {summary['in_bucket_array']} preallocated in a bucket array, "
          f"{summary['own_objects']} own {summary['expected_elemsize']}-byte objects, {summary['bad']} neither")
    if summary["bad"]:
        ev += f" (first: {summary['first_bad']})"
    return Check("span.overflow", summary["bad"] == 0, ev)


def map_ownership(m: dict[str, Any]) -> list[Check]:
    own = m.get("ownership") or {}
    out = [check_owner(role, rec) for role, rec in own.items() if role != "overflow"]
    if "overflow" in own:
        out.append(check_overflow(own["overflow"]))
    tables = (m.get("swiss") or {}).get("tables") or []
    with_span = [t for t in tables if "span" in t]
    if with_span:
        out.append(_worst("span.tables", [check_owner("tables", t["span"]) for t in with_span]))
        out.append(_worst("span.groups", [check_owner("groups", t["groups_span"]) for t in with_span]))
    return out


def _worst(name: str, checks: list[Check]) -> Check:
    """One check for many structures of one kind: the first failure, or how many passed."""
    bad = [c for c in checks if not c.passed]
    if bad:
        return Check(name, False, f"{len(bad)} of {len(checks)} fail; first: {bad[0].evidence}")
    return Check(name, True, f"all {len(checks)} are allocated objects of the model's size")
