"""Cross-checks of a slice header against the heap object holding its array."""

from __future__ import annotations

from typing import Any

from goinspect.checks.base import Check
from goinspect.checks.ownership import check_owner


def checks(s: dict[str, Any]) -> list[Check]:
    out = [Check("slice.len_cap", s["len"] <= s["cap"], f"len={s['len']}, cap={s['cap']}")]
    if s.get("span") is not None and s["cap"] > 0:
        c = check_owner("slice_array", s["span"])  # array + cap*elem inside the object, which is allocated
        out.append(Check("slice.array_in_allocation", c.passed,
                         f"array {s['array_addr']} + cap {s['cap']} x {s['elem_size']} bytes: {c.evidence}"))
    return out
