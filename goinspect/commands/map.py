"""goinspect map NAME: one map in full detail (header, every table or the bucket walk, entries).

NAME is the map's qualified name as ``goinspect maps`` lists it (``main.sessions``,
``main.cfg.byID``). With ``--json`` the output is the same object ``maps --json``
gives for that map, tables included.
"""

from __future__ import annotations

import argparse
import json

from goinspect.commands.common import add_json_option, print_json
from goinspect.commands.maps import add_target_options, map_detail, meta, print_footer, read_target
from goinspect.errors import InputError, UsageError
from goinspect.render.units import fmt_value

#: Tables listed one per line in the text output (--json has them all).
MAX_TABLES_SHOWN = 32


class MapCommand:
    """Read one map completely and show everything known about it."""

    name = "map"
    help = "one map in full detail: header, buckets/overflow or tables/ctrl census, optional entries"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("map_name", metavar="NAME", help="qualified map name, e.g. main.sessions")
        add_target_options(parser)
        add_json_option(parser)
        parser.add_argument("--entries", type=int, default=0, metavar="N", help="decode up to N entries")

    def run(self, args: argparse.Namespace) -> int:
        if args.entries < 0:
            raise UsageError("--entries must be zero or more.")
        args.runtime = args.runtime or args.map_name.startswith(("runtime.", "internal/"))
        r = read_target(args, want_maps=True, want_slices=False, select=lambda root: root.name == args.map_name,
                        entries=args.entries)
        if not r.maps:
            raise InputError(f"no map named {args.map_name!r} in the target (goinspect maps lists them).")
        m = r.maps[0]
        if args.json:
            print_json({**meta(r), "maps": [m]})
            return 0
        mem = m["memory"]
        print(f"{m['name']}  {m['type']}  ({m['impl']}, header at {m['addr']})")
        print(f"  count {m['count']}; structure holds {fmt_value(mem['structure_bytes'], 'bytes')}, "
              f"live entries need {fmt_value(mem['live_bytes'], 'bytes')}")
        print(f"  {map_detail(m)}")
        detail = m.get("hmap") or m.get("swiss") or {}
        for section, value in detail.items():
            if section == "tables":
                print(f"  tables ({len(value)}):")
                for t in value[:MAX_TABLES_SHOWN]:
                    print("    " + json.dumps(t))
                if len(value) > MAX_TABLES_SHOWN:
                    print(f"    ... {len(value) - MAX_TABLES_SHOWN} more (all of them with --json)")
            else:
                print(f"  {section}: {json.dumps(value)}")
        for role, rec in (m.get("ownership") or {}).items():
            print(f"  span of {role}: {describe_owner(rec)}")
        for e in m.get("entries") or []:
            print(f"  {json.dumps(e['key'])}: {json.dumps(e['elem'])}")
        print_footer(r)
        return 0


def describe_owner(rec: dict) -> str:
    """One line for a structure's owning span (``goinspect.runtime.ownership``)."""
    if "count" in rec:  # overflow buckets, summarised
        return (f"{rec['count']} overflow buckets: {rec['in_bucket_array']} preallocated in a bucket array, "
                f"{rec['own_objects']} own {rec['expected_elemsize']}-byte objects, {rec['bad']} neither")
    s = rec.get("span")
    if rec["where"] != "heap" or s is None:
        return f"{rec['addr']} {rec['where']}"
    return (f"{rec['addr']} in span {s['start']} ({s['npages']} pages, elemsize {s['elemsize']}, size class "
            f"{s['sizeclass']}{', noscan' if s['noscan'] else ''}), object {rec['object_index']} "
            f"{'allocated' if rec['allocated'] else 'FREE'}")


COMMAND = MapCommand()
