"""goinspect slices: every slice a Go process (or core) holds, with the allocation behind it.

``cap`` says how far a slice may grow; what it keeps alive is the whole heap
object its array points into. A 16-element tail of a 64 MiB array shows
``alloc_size_bytes`` 64 MiB and nearly all of it as ``pinned_bytes``.
"""

from __future__ import annotations

import argparse

from goinspect.commands.common import add_json_option, print_json
from goinspect.commands.maps import add_target_options, compile_filter, meta, print_footer, read_target
from goinspect.render.table import render_table
from goinspect.render.units import fmt_value


class SlicesCommand:
    """List every slice of a Go process or core with the heap allocation holding its array."""

    name = "slices"
    help = "every slice of a live process (--pid) or a core (--core --exe): len, cap and the allocation it pins"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        add_target_options(parser)
        add_json_option(parser)
        parser.add_argument("--filter", metavar="REGEX", help="only slices whose name matches")

    def run(self, args: argparse.Namespace) -> int:
        keep = compile_filter(args.filter)
        r = read_target(args, want_maps=False, want_slices=True, select=lambda root: keep(root.name))
        if args.json:
            print_json({**meta(r), "slices": r.slices})
            return 0
        rows = []
        for s in sorted(r.slices, key=lambda s: -(s["alloc_size_bytes"] or 0)):
            alloc = fmt_value(s["alloc_size_bytes"], "bytes") if s["alloc_size_bytes"] is not None else "-"
            pinned = fmt_value(s["pinned_bytes"], "bytes") if s["pinned_bytes"] is not None else "-"
            rows.append([alloc, pinned, str(s["len"]), str(s["cap"]), f"{s['name']}  {s['type']}"])
        print("\n".join(render_table(["ALLOC", "PINNED", "LEN", "CAP", "SLICE"], rows)))
        print_footer(r)
        return 0


COMMAND = SlicesCommand()
