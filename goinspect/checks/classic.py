"""Cross-checks of a classic map (``runtime.hmap``) against its own walk and ``runtime/map.go``'s rules."""

from __future__ import annotations

from typing import Any

from goinspect.checks.base import Check
from goinspect.model import classicmap


def count(h: dict[str, Any], w: dict[str, Any]) -> Check:
    """``count`` = live slots in the buckets and their chains + live slots of old buckets not yet evacuated."""
    old = w.get("old_live_unevacuated", 0)
    ev = f"count={h['count']}, walked live={w['live']} (old unevacuated {old}), unreadable buckets {w['unreadable_buckets']}"
    return Check("classic.count", h["count"] == w["live"] and w["unreadable_buckets"] == 0, ev)


def noverflow(h: dict[str, Any], w: dict[str, Any]) -> Check:
    """``incrnoverflow`` counts every overflow bucket of ``h.buckets`` below B = 16, one in 2^(B-15) above."""
    band = classicmap.noverflow_band(h["B"], w["overflow_buckets"])
    if band.exact:
        return Check("classic.noverflow", h["noverflow"] == w["overflow_buckets"],
                     f"noverflow={h['noverflow']}, overflow buckets walked={w['overflow_buckets']} (exact below B=16)")
    return Check("classic.noverflow", band.contains(h["noverflow"]),
                 f"noverflow={h['noverflow']}, {w['overflow_buckets']} overflow buckets at B={h['B']} give "
                 f"{band.low}..{band.high} (expected {band.expected:.1f}, {band.sigmas:g} sigma)")


def overflow_chains(w: dict[str, Any]) -> Check:
    """Each overflow bucket hangs off exactly one chain; no chain loops, leaves the heap or ends unread."""
    rev = w.get("overflow_revisits", 0) + w.get("old_overflow_revisits", 0)
    ok = rev == 0 and not w.get("chains_truncated") and w["unreadable_buckets"] == 0
    return Check("classic.overflow_chains", ok,
                 f"{rev} links to an already-reached bucket, {w['unreadable_buckets']} unreadable buckets, "
                 f"longest chain {w.get('max_chain', 0)}{', walk truncated' if w.get('chains_truncated') else ''}")


def extra_overflow(w: dict[str, Any], x: dict[str, Any] | None) -> Check:
    """Pointer-free buckets: ``newoverflow`` appends each overflow bucket to ``*extra.overflow``
    (``hashGrow`` moves that list to ``oldoverflow``), so its length is the walked overflow count."""
    n = (x or {}).get("overflow_len") or 0
    old_n = (x or {}).get("oldoverflow_len") or 0
    old_walked = w.get("old_overflow_buckets", 0)
    ok = n == w["overflow_buckets"] and (old_n >= old_walked if w["growing"] else old_n == 0)
    return Check("classic.extra_overflow", ok,
                 f"len(extra.overflow)={n} vs {w['overflow_buckets']} walked; len(extra.oldoverflow)={old_n} vs "
                 f"{old_walked} walked in unevacuated old buckets{'' if w['growing'] else ' (not growing: must be 0)'}")


def evacuation(h: dict[str, Any], w: dict[str, Any]) -> Check:
    """Every old bucket below ``nevacuate`` is evacuated; an evacuated bucket has every slot marked
    evacuatedX/Y/Empty; no bucket that still holds entries carries an evacuation mark."""
    stray = w.get("evacuation_marks_in_live_buckets", 0) + w.get("evacuation_marks_in_unevacuated", 0)
    if not w["growing"]:
        return Check("classic.evacuation", stray == 0,
                     f"not growing; {stray} evacuation marks in live buckets")
    nold, nev = w["oldbuckets_count"], h["nevacuate"]
    below = w["evacuated_below_nevacuate"]
    mixed = w["evacuated_with_stray_marks"]
    ok = nev <= nold and below == nev and mixed == 0 and stray == 0 and w["evacuated_old_buckets"] >= nev
    return Check("classic.evacuation", ok,
                 f"nevacuate={nev} of {nold} old buckets; evacuated below it {below}, evacuated in all "
                 f"{w['evacuated_old_buckets']}; {mixed} evacuated buckets with unmarked slots; "
                 f"{stray} evacuation marks in live buckets")


def checks(hm: dict[str, Any]) -> list[Check]:
    h, w, x = hm["header"], hm["walk"], hm.get("mapextra")
    if w.get("error"):
        return [Check("classic.header", False, w["error"])]
    out = [count(h, w), noverflow(h, w), overflow_chains(w), evacuation(h, w)]
    if w.get("pointer_free_buckets"):
        out.append(extra_overflow(w, x))
    return out
