"""goinspect analyze: is each map and slice leaking, or is it a false alarm — with the evidence and the fix.

Snapshots of a live process (``--samples N --interval S``: one short pause
each), or one or more cores of the same executable in time order, plus
optionally a series of heap profiles (``--profile`` files, or ``--profile-url``
fetched once per live sample). One snapshot decides what one snapshot can
(capacity kept after deletes, a small slice pinning a big array, a growth in
progress); each verdict says what more evidence would firm it up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from goinspect.commands.common import add_json_option, print_json
from goinspect.errors import InputError, UsageError


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``goinspect ci``: how many snapshots, which profiles, what to write."""
    parser.add_argument("--samples", type=int, default=1, metavar="N",
                        help="snapshots of a live process, one short pause each (default 1)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECS",
                        help="seconds between live snapshots (default 1)")
    parser.add_argument("--profile-url", metavar="URL",
                        help="a net/http/pprof heap URL of the same process, fetched before each snapshot")
    parser.add_argument("--filter", metavar="REGEX", help="only maps and slices whose name matches")
    parser.add_argument("--runtime", action="store_true", help="also judge the runtime's own maps and slices")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--graph", metavar="FILE", help="export the last snapshot's heap graph (.graphml or .dot)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECS",
                        help="give up on a gdb command or a URL after this many seconds (default 30)")
    parser.add_argument("--verbose", action="store_true", help="show the gdb transcript and each pause on stderr")
    add_json_option(parser)


def write_outputs(report: dict, args: argparse.Namespace) -> None:
    """Print the report (JSON or text) and write the HTML file if asked."""
    if args.html:
        from goinspect.render.html import render_html

        try:
            Path(args.html).write_text(render_html(report), encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot write the HTML report to {args.html}: {e.strerror}.") from None
    if args.json:
        print_json(report)
    else:
        from goinspect.render.verdicts import print_report

        print_report(report)


class AnalyzeCommand:
    """Leak or false alarm, for every map and slice of a process, cores, and/or heap profiles."""

    name = "analyze"
    help = "leak or false alarm? a verdict, evidence, root path and fix for every map and slice"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("target (one of; profiles may come with either, or alone)")
        g.add_argument("--pid", type=int, metavar="P", help="a running Go process (paused only while it is read)")
        g.add_argument("--core", action="append", default=[], metavar="CORE",
                       help="a core dump (repeat, oldest first, for several snapshots; needs --exe)")
        parser.add_argument("--exe", metavar="EXE", help="the executable the cores (or text profiles) came from")
        parser.add_argument("--profile", action="append", default=[], metavar="FILE|URL",
                            help="a heap profile (repeat, oldest first); matched to maps and slices by source line")
        add_analysis_options(parser)

    def run(self, args: argparse.Namespace) -> int:
        from goinspect.analysis.run import AnalyzeRequest, analyze

        if args.pid is not None and args.pid <= 0:
            raise UsageError(f"--pid must be a positive process id, not {args.pid}.")
        say = (lambda msg: print(f"goinspect: {msg}", file=sys.stderr)) if args.verbose else None
        report = analyze(AnalyzeRequest(
            pid=args.pid, cores=tuple(args.core), exe=args.exe, samples=args.samples, interval=args.interval,
            profiles=tuple(args.profile), profile_url=args.profile_url, timeout=args.timeout, filter=args.filter,
            runtime=args.runtime, verbose=args.verbose, graph_out=args.graph, progress=say))
        write_outputs(report, args)
        return 0


COMMAND = AnalyzeCommand()
