"""Every check that applies to one map or slice, as read by ``goinspect maps/slices``."""

from __future__ import annotations

from typing import Any

from goinspect.checks import classic, ownership, slices, swiss
from goinspect.checks.base import Check


def check_map(m: dict[str, Any]) -> list[Check]:
    if m.get("error"):
        return [Check("map.readable", False, m["error"])]
    if m["addr"] is None:
        return []  # a nil map holds nothing to check
    out: list[Check] = []
    if m["impl"] == "hmap" and m.get("hmap"):
        out += classic.checks(m["hmap"])
    elif m["impl"] == "swiss" and m.get("swiss"):
        out += swiss.checks(m["swiss"])
    return out + ownership.map_ownership(m)


def check_slice(s: dict[str, Any]) -> list[Check]:
    return slices.checks(s)
