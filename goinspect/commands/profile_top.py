"""Show the functions (or lines, or files) holding the most heap, like ``go tool pprof -top``.

Flat is what a node allocated itself (it is the leaf of the sample); cum
includes what its callees allocated, counted once per sample. Values and
ordering match pprof on the same profile.
"""

from __future__ import annotations

import argparse

from goinspect.commands.common import add_input_options, add_json_option, print_json, read_profile
from goinspect.commands.report_options import (add_filter_options, add_granularity_option, add_sample_index_option,
                                               add_kind_options, add_top_options, check_top_args, kinds_for,
                                               name_filter)
from goinspect.profile.aggregate import aggregate
from goinspect.profile.top import top
from goinspect.render.top import top_json, top_lines


class TopCommand:
    """Show the functions (or lines, or files) holding the most heap, like ``go tool pprof -top``."""

    name = "top"
    help = "flat/cum per function, line or file, like go tool pprof -top"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("profile", metavar="PROFILE", help="a heap profile: file, '-' for stdin, or http(s) URL")
        add_sample_index_option(parser)
        add_granularity_option(parser)
        add_top_options(parser)
        add_filter_options(parser)
        add_kind_options(parser)
        add_input_options(parser)
        add_json_option(parser)

    def run(self, args: argparse.Namespace) -> int:
        check_top_args(args)
        filters = name_filter(args)
        profile = read_profile(args.profile, args)
        si = profile.sample_index(args.sample_index)
        labels = kinds_for(profile, args)
        agg = aggregate(profile, si, args.granularity, filters,
                        sample_kinds=labels.codes if labels else None, n_kinds=len(labels.names) if labels else 0)
        report = top(agg, args.nodecount, args.node_fraction)
        names = labels.names if labels else None
        if args.json:
            extra = {"kind_note": labels.version_note} if labels else None
            print_json(top_json(profile, agg, report, kind_names=names, extra=extra))
        else:
            print("\n".join(top_lines(profile, agg, report, kind_names=names)))
        return 0


COMMAND = TopCommand()
