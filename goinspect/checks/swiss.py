"""Cross-checks of a Swiss map (``internal/runtime/maps``) against its ctrl census and ``map.go``/``table.go``."""

from __future__ import annotations

from typing import Any

from goinspect.checks.base import Check
from goinspect.model import swissmap


def _per_table(name: str, tables: list[dict[str, Any]], bad: list[str], what: str) -> Check:
    if bad:
        return Check(name, False, f"{len(bad)} of {len(tables)} tables: " + "; ".join(bad[:3]))
    return Check(name, True, f"all {len(tables)} tables: {what}")


def small(h: dict[str, Any], w: dict[str, Any]) -> list[Check]:
    """A small map (``dirLen == 0``): one group, ``used`` full ctrl bytes, no tombstones (``deleteSmall`` empties)."""
    if not h["dirPtr"] or int(h["dirPtr"], 16) == 0:
        return [Check("swiss.used_sum", h["used"] == 0, f"no group, used={h['used']}")]
    full, empty, deleted = w["live"], w["empty"], w["tombstones"]
    return [Check("swiss.ctrl_full", full == h["used"], f"used={h['used']}, full ctrl bytes in the small group={full}"),
            Check("swiss.ctrl_bytes", full + empty + deleted == swissmap.GROUP_SLOTS and deleted == 0,
                  f"small group ctrl: {full} full + {empty} empty + {deleted} deleted of {swissmap.GROUP_SLOTS}")]


def checks(sm: dict[str, Any]) -> list[Check]:
    h, w, tables = sm["header"], sm["walk"], sm["tables"]
    if w.get("error") or w.get("directory_unreadable"):
        return [Check("swiss.directory", False, w.get("error") or "directory unreadable")]
    if h["dirLen"] == 0:
        return small(h, w)
    gd = h["globalDepth"]
    readable = [t for t in tables if "used" in t and not t.get("groups_unreadable")]
    used_sum = sum(t["used"] for t in tables if "used" in t)
    out = [Check("swiss.used_sum", used_sum == h["used"] and w["unreadable_tables"] == 0,
                 f"used={h['used']}, sum of {len(tables)} tables' used={used_sum}, unreadable tables {w['unreadable_tables']}")]
    shift_ok = "globalShift" not in h or h["globalShift"] == 64 - gd
    out.append(Check("swiss.directory", h["dirLen"] == 1 << gd and shift_ok,
                     f"dirLen={h['dirLen']}, 2^globalDepth={1 << gd}" +
                     (f", globalShift={h['globalShift']} (64-globalDepth={64 - gd})" if "globalShift" in h else "")))
    refs = sum(t["dir_refs"] for t in tables)
    bad = [f"{t['addr']} localDepth={t.get('localDepth')} referenced {t['dir_refs']} times"
           for t in tables if "localDepth" not in t or t["localDepth"] > gd or t["dir_refs"] != 1 << (gd - t["localDepth"])]
    c = _per_table("swiss.table_refs", tables, bad, "each referenced 2^(globalDepth-localDepth) times")
    out.append(Check(c.name, c.passed and refs == h["dirLen"], c.evidence + f"; {refs} references in {h['dirLen']} entries"))
    out.append(_per_table("swiss.ctrl_full", readable,
                          [f"{t['addr']} used={t['used']} full={t['live']}" for t in readable if t["live"] != t["used"]],
                          "full ctrl bytes = used"))
    out.append(_per_table("swiss.ctrl_bytes", readable,
                          [f"{t['addr']} capacity={t['capacity']} groups={t['groups']['lengthMask'] + 1} "
                           f"full+empty+deleted={t['live'] + t['empty'] + t['tombstones']}" for t in readable
                           if t["capacity"] != (t["groups"]["lengthMask"] + 1) * swissmap.GROUP_SLOTS
                           or t["live"] + t["empty"] + t["tombstones"] != t["capacity"]],
                          "every ctrl byte is full, empty or deleted; capacity = 8 x groups"))
    out.append(_per_table("swiss.growth_left", readable,
                          [f"{t['addr']} capacity={t['capacity']} used={t['used']} growthLeft={t['growthLeft']} -> "
                           f"{swissmap.tombstones(t['capacity'], t['used'], t['growthLeft'])} tombstones, ctrl bytes say "
                           f"{t['tombstones']}" for t in readable
                           if swissmap.tombstones(t["capacity"], t["used"], t["growthLeft"]) != t["tombstones"]],
                          "capacity*7/8 - used - growthLeft = deleted ctrl bytes"))
    return out
