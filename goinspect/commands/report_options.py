"""Options shared by the report subcommands (top, diff, list, export, trend)."""

from __future__ import annotations

import argparse

from goinspect.errors import UsageError
from goinspect.profile.aggregate import GRANULARITIES
from goinspect.model.version import GoVersion
from goinspect.profile.filters import NameFilter
from goinspect.profile.kinds import SampleKinds, sample_kinds
from goinspect.profile.model import Profile
from goinspect.profile.sourcefiles import source_line
from goinspect.profile.top import DEFAULT_NODE_FRACTION
from goinspect.symbolize.elf import go_release_of

SAMPLE_INDEXES = ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")


def add_sample_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample-index", metavar="TYPE",
                        help=f"which value to report: {'|'.join(SAMPLE_INDEXES)} (or any sample type of the "
                             "profile, or its number); default: the profile's default type, else the last")


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--focus", metavar="REGEX",
                        help="keep only samples with a frame whose function or file name matches")
    parser.add_argument("--ignore", metavar="REGEX",
                        help="drop samples with a frame whose function or file name matches")


def add_granularity_option(parser: argparse.ArgumentParser, default: str = "functions") -> None:
    parser.add_argument("--granularity", choices=GRANULARITIES, default=default,
                        help=f"what a row stands for (default {default})")


def add_top_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodecount", type=int, default=0, metavar="N",
                        help="show at most N rows (default: all rows above the node fraction, like pprof -top)")
    parser.add_argument("--node-fraction", type=float, default=DEFAULT_NODE_FRACTION, metavar="F",
                        help=f"hide rows whose |cum| is below F of the total (default {DEFAULT_NODE_FRACTION}, "
                             "pprof's -nodefraction; 0 shows every row)")


def add_kind_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--go", metavar="VERSION", dest="go_version",
                        help="Go version that built the program (e.g. 1.23 or 1.26.6), for the kind column's "
                             "map layouts and size ladders; default: read from --exe, else the newest modelled "
                             "release")
    parser.add_argument("--no-kind", action="store_true",
                        help="skip the kind column (map buckets, slice growth, ...) and its attribution pass")


def kinds_for(profile: Profile, args: argparse.Namespace) -> SampleKinds | None:
    """Per-sample kinds for the kind column, unless --no-kind."""
    if getattr(args, "no_kind", False):
        return None
    text = getattr(args, "go_version", None)
    if not text and getattr(args, "exe", None):
        text = go_release_of(args.exe)
    version = GoVersion.parse(text) if text else None
    return sample_kinds(profile, version, source_line)


def name_filter(args: argparse.Namespace) -> NameFilter:
    return NameFilter.compile(getattr(args, "focus", None), getattr(args, "ignore", None))


def check_top_args(args: argparse.Namespace) -> None:
    if args.nodecount < 0:
        raise UsageError(f"--nodecount must be 0 or more, not {args.nodecount}")
    if not 0 <= args.node_fraction <= 1:
        raise UsageError(f"--node-fraction must be between 0 and 1, not {args.node_fraction}")
