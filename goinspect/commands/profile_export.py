"""Write a derived heap profile that ``go tool pprof`` (or any pprof reader) opens.

Starting from PROFILE: subtract --diff-base (the base samples are labelled
``pprof::base`` as pprof itself does, so pprof shows the same diff and
totals), keep only samples passing --focus/--ignore, and keep only one
--sample-index if asked. The result is gzip'd profile.proto.
"""

from __future__ import annotations

import argparse
import sys

from goinspect.commands.common import add_input_options, read_profile
from goinspect.commands.report_options import add_filter_options, add_sample_index_option, name_filter
from goinspect.errors import InputError
from goinspect.profile.diff import diff_profile
from goinspect.profile.encode import encode
from goinspect.profile.export import keep_matching, keep_sample_type


class ExportCommand:
    """Write a derived heap profile that ``go tool pprof`` (or any pprof reader) opens."""

    name = "export"
    help = "write a diff or filtered profile as .pb.gz for go tool pprof"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("profile", metavar="PROFILE", help="the profile to start from (file, '-' or URL)")
        parser.add_argument("-o", "--output", required=True, metavar="OUT",
                            help="where to write the gzip'd profile.proto ('-' for stdout)")
        parser.add_argument("--diff-base", metavar="BASE", help="subtract this earlier profile, like pprof -diff_base")
        add_sample_index_option(parser)
        parser.set_defaults(sample_index=None)
        add_filter_options(parser)
        add_input_options(parser)

    def run(self, args: argparse.Namespace) -> int:
        filters = name_filter(args)
        profile = read_profile(args.profile, args)
        if args.diff_base:
            profile = diff_profile(read_profile(args.diff_base, args), profile)
        profile = keep_matching(profile, filters)
        if args.sample_index is not None:
            profile = keep_sample_type(profile, profile.sample_index(args.sample_index))
        data = encode(profile)
        if args.output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return 0
        try:
            with open(args.output, "wb") as f:
                f.write(data)
        except OSError as e:
            raise InputError(f"cannot write {args.output}: {e.strerror or e}") from None
        print(f"wrote {args.output} ({len(profile.samples)} samples, {len(data)} bytes)", file=sys.stderr)
        return 0


COMMAND = ExportCommand()
