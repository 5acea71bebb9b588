"""goinspect check: every named cross-check on every map and slice of a process or core.

Reads the target as ``goinspect maps`` and ``goinspect slices`` do (one pause for
both), then runs ``goinspect.checks`` over what was read: header counts against the
walk, overflow chains, evacuation marks, Swiss directory/table/ctrl-byte agreement,
slice bounds, and the heap span owning every structure. Exit status 1 when any check
fails; each failure is named with the structure it concerns.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from goinspect.checks import Check, check_map, check_slice
from goinspect.commands.common import add_json_option, print_json
from goinspect.commands.maps import add_target_options, compile_filter, meta, print_footer, read_target


def run_checks(maps: list[dict[str, Any]], slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per check: the structure (map or slice name) it concerns, then the check itself."""
    rows: list[dict[str, Any]] = []
    for kind, items, fn in (("map", maps, check_map), ("slice", slices, check_slice)):
        for item in items:
            c: Check
            for c in fn(item):
                rows.append({"structure": item["name"], "kind": kind, **c.to_json()})
    return rows


class CheckCommand:
    """Cross-check every map and slice read from a Go process or core; exit 1 if any check fails."""

    name = "check"
    help = "cross-check every map and slice of a live process (--pid) or a core (--core --exe); exit 1 on a failure"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        add_target_options(parser)
        add_json_option(parser)
        parser.add_argument("--filter", metavar="REGEX", help="only maps and slices whose name matches")

    def run(self, args: argparse.Namespace) -> int:
        keep = compile_filter(args.filter)
        r = read_target(args, want_maps=True, want_slices=True, select=lambda root: keep(root.name))
        rows = run_checks(r.maps, r.slices)
        failed = [row for row in rows if not row["passed"]]
        if args.json:
            print_json({**meta(r), "passed": not failed, "maps": len(r.maps), "slices": len(r.slices),
                        "checks_run": len(rows), "checks_failed": len(failed), "checks": rows})
        else:
            for row in failed:
                print(f"FAIL {row['name']}  {row['kind']} {row['structure']}: {row['evidence']}")
            verdict = f"{len(failed)} FAILED" if failed else "all passed"
            print(f"{len(rows)} checks on {len(r.maps)} maps and {len(r.slices)} slices: {verdict}")
            print_footer(r)
        if failed:
            names = sorted({f"{row['name']} ({row['structure']})" for row in failed})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            print(f"goinspect: check failed: {shown}", file=sys.stderr)
            return 1
        return 0


COMMAND = CheckCommand()
