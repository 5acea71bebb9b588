"""Show the source of the functions matching REGEX with flat/cum values per line, like ``pprof -list``.

Source files are read from the paths recorded in the profile (``--source-dir``
adds a directory to look in when they moved); when a file cannot be read the
per-line values are still printed. On a terminal the source is
syntax-highlighted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from goinspect.commands.common import add_input_options, add_json_option, print_json, read_profile
from goinspect.commands.report_options import add_filter_options, add_sample_index_option, name_filter
from goinspect.profile.aggregate import aggregate
from goinspect.profile.listing import ListedFunction, listing
from goinspect.profile.sourcefiles import file_lines
from goinspect.render.units import fmt_pct, fmt_value


def source_reader(source_dir: str | None):
    """``read_lines(file)``: the file as recorded, else its trailing path parts under ``source_dir``."""
    return lambda file: list(file_lines(file, source_dir))


def highlight(lines: list[str | None]) -> list[str | None]:
    """Go syntax colouring for a terminal; lines stay lines."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import TerminalFormatter
    from pygments.lexers import GoLexer

    present = [ln for ln in lines if ln is not None]
    coloured = pyg_highlight("\n".join(present) + "\n", GoLexer(), TerminalFormatter()).split("\n")
    it = iter(coloured)
    return [next(it, ln) if ln is not None else None for ln in lines]


def listing_json(fns: list[ListedFunction], total: int, sample_type: str, unit: str) -> dict[str, Any]:
    return {"sample_index": sample_type, "unit": unit, "total": total, "functions": [
        {"function": f.function, "file": f.file, "flat": f.flat, "cum": f.cum, "source_error": f.source_error,
         "lines": [{"line": ln.line, "flat": ln.flat, "cum": ln.cum, "source": ln.source} for ln in f.lines]}
        for f in fns]}


def listing_lines(fns: list[ListedFunction], total: int, unit: str, colour: bool) -> list[str]:
    out = [f"Total: {fmt_value(total, unit)}"]
    for f in fns:
        out.append(f"ROUTINE ======================== {f.function} in {f.file}")
        out.append(f"{fmt_value(f.flat, unit):>10} {fmt_value(f.cum, unit):>10} (flat, cum) "
                   f"{fmt_pct(f.cum, total)} of Total")
        if f.source_error:
            out.append(f" (source not shown: {f.source_error}; values per line follow)")
        sources = [ln.source for ln in f.lines]
        if colour and not f.source_error:
            sources = highlight(sources)
        for ln, src in zip(f.lines, sources):
            flat = fmt_value(ln.flat, unit) if ln.flat else "."
            cum = fmt_value(ln.cum, unit) if ln.cum else "."
            out.append(f"{flat:>10} {cum:>10} {ln.line:6d}:{src if src is not None else ''}")
    return out


class ListCommand:
    """Show the source of the functions matching REGEX with flat/cum values per line, like ``pprof -list``."""

    name = "list"
    help = "source of functions matching REGEX with per-line flat/cum (pprof -list)"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("regex", metavar="REGEX", help="functions whose name matches (unanchored)")
        parser.add_argument("profile", metavar="PROFILE", help="a heap profile: file, '-' for stdin, or http(s) URL")
        parser.add_argument("--source-dir", metavar="DIR",
                            help="also look for source files here (matched by trailing path components)")
        add_sample_index_option(parser)
        add_filter_options(parser)
        add_input_options(parser)
        add_json_option(parser)

    def run(self, args: argparse.Namespace) -> int:
        filters = name_filter(args)
        profile = read_profile(args.profile, args)
        agg = aggregate(profile, profile.sample_index(args.sample_index), "lines", filters)
        fns = listing(profile, agg, args.regex, source_reader(args.source_dir))
        unit = agg.sample_type.unit
        if args.json:
            print_json(listing_json(fns, agg.total, agg.sample_type.type, unit))
        else:
            colour = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
            print("\n".join(listing_lines(fns, agg.total, unit, colour)))
        return 0


COMMAND = ListCommand()
