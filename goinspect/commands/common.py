"""Options and helpers shared by the profile subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from goinspect.profile.load import DEFAULT_TIMEOUT, load_profile
from goinspect.profile.model import Profile


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that reads profiles takes."""
    parser.add_argument("--exe", metavar="BINARY",
                        help="the Go executable that wrote the profile: symbolizes ?debug=1 text profiles, runtime frames included")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECS",
                        help=f"give up on a URL after this many seconds (default {DEFAULT_TIMEOUT:g})")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def read_profile(spec: str, args: argparse.Namespace) -> Profile:
    """Load one profile named on the command line (path, '-' or URL)."""
    return load_profile(spec, exe=args.exe, timeout=args.timeout)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
