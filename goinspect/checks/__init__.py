"""Named cross-checks: what goinspect read must agree with itself, the runtime model and the heap.

Each check is a pure function over the JSON a reader returned (``goinspect maps/slices
--json``: header, walk, tables, ownership) and returns ``Check(name, passed, evidence)``;
no check reads memory. ``check_map`` and ``check_slice`` run every check that applies.
"""

from goinspect.checks.base import Check
from goinspect.checks.run import check_map, check_slice

__all__ = ["Check", "check_map", "check_slice"]
