"""List allocation sites with what they allocate: map buckets/tables, map header, slice growth, slice make, other.

A site is the leaf user frame (function and file:line) of a sample. The kind comes
from the runtime frames when the profile has them (a ?debug=1 profile symbolized
with --exe), else from the block sizes (label ``bytes``) along the Go runtime's
growth ladders plus the source line at the site, read from disk when it is there.
Ladders depend on the Go version: say it with --go (default: the newest modelled release).
"""

from __future__ import annotations

import argparse

from goinspect.commands.common import add_input_options, add_json_option, print_json, read_profile
from goinspect.model.version import GoVersion
from goinspect.profile.attribute import attribute
from goinspect.profile.sourcefiles import source_line
from goinspect.symbolize.elf import go_release_of


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


class SitesCommand:
    """List allocation sites with what they allocate: map buckets/tables, map header, slice growth, slice make, other."""

    name = "sites"
    help = "allocation sites labelled map-buckets / map-header / slice-growth / slice-make / other"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("profile", metavar="PROFILE", help="a heap profile: file, '-' for stdin, or http(s) URL")
        parser.add_argument("--go", metavar="VERSION", dest="go_version",
                            help="Go version that built the program (e.g. 1.23, 1.26.6, 1.24+noswissmap): picks the map "
                                 "layout and size ladders; default: read from --exe if given, else the newest modelled release")
        parser.add_argument("--sample-index", metavar="TYPE", default=None,
                            help="value to sum per site: alloc_space (default), inuse_space, …")
        parser.add_argument("--nodecount", type=int, default=0, metavar="N", help="show at most N sites (default all)")
        add_input_options(parser)
        add_json_option(parser)

    def run(self, args: argparse.Namespace) -> int:
        version = GoVersion.parse(args.go_version) if args.go_version else None  # a bad --go fails before any I/O
        version_from = "as given"
        if version is None and args.exe:
            built_by = go_release_of(args.exe)
            version, version_from = (GoVersion.parse(built_by), "read from --exe") if built_by else (None, "")
        profile = read_profile(args.profile, args)
        result = attribute(profile, version, source_line, args.sample_index, version_from)
        sites = result.sites[: args.nodecount] if args.nodecount > 0 else result.sites
        if args.json:
            print_json({"go_version": str(result.version), "version_note": result.version_note,
                        "sites": [s.to_json() for s in sites]})
            return 0
        print(f"# {result.version_note}")
        print(f"{'bytes':>10} {'objects':>9}  {'kind':<12}  site / evidence")
        for s in sites:
            where = f"{s.function} {s.file.rsplit('/', 1)[-1]}:{s.line}" if s.line else s.function
            print(f"{_human(s.bytes):>10} {s.objects:>9}  {s.kind:<12}  {where}")
            print(f"{'':>10} {'':>9}  {'':<12}    {s.evidence}")
        return 0


COMMAND = SitesCommand()
