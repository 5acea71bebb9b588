"""Show what changed between two heap profiles, like ``go tool pprof -diff_base BASE CURRENT -top``.

Values are CURRENT minus BASE per function (or line, or file): positive where
the heap grew. Percentages are of the base profile's total, as in pprof.
"""

from __future__ import annotations

import argparse

from goinspect.commands.common import add_input_options, add_json_option, print_json, read_profile
from goinspect.commands.report_options import (add_filter_options, add_granularity_option, add_sample_index_option,
                                               add_top_options, check_top_args, name_filter)
from goinspect.profile.aggregate import aggregate
from goinspect.profile.diff import diff_profile
from goinspect.profile.top import top
from goinspect.render.top import top_json, top_lines


class DiffCommand:
    """Show what changed between two heap profiles, like ``go tool pprof -diff_base BASE CURRENT -top``."""

    name = "diff"
    help = "current minus base per function, line or file (pprof -diff_base)"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("base", metavar="BASE", help="the earlier profile (file, '-' or URL)")
        parser.add_argument("current", metavar="CURRENT", help="the later profile (file, '-' or URL)")
        add_sample_index_option(parser)
        add_granularity_option(parser)
        add_top_options(parser)
        add_filter_options(parser)
        add_input_options(parser)
        add_json_option(parser)

    def run(self, args: argparse.Namespace) -> int:
        check_top_args(args)
        filters = name_filter(args)
        base = read_profile(args.base, args)
        current = read_profile(args.current, args)
        merged = diff_profile(base, current)
        agg = aggregate(merged, merged.sample_index(args.sample_index), args.granularity, filters)
        report = top(agg, args.nodecount, args.node_fraction)
        if args.json:
            print_json(top_json(merged, agg, report, extra={"base": args.base, "current": args.current}))
        else:
            print("\n".join(top_lines(merged, agg, report, signed=True)))
        return 0


COMMAND = DiffCommand()
