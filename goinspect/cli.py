"""Command line entry point: ``main(argv) -> int``.

Each subcommand lives in its own module under ``goinspect.commands`` and
exposes ``COMMAND``, an object with ``name``, ``help``,
``prepare_parser(parser)`` and ``run(args) -> int``. This module only wires
them into argparse and turns a ``GoinspectError`` into one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from goinspect import __version__
from goinspect.errors import GoinspectError

# (group or None, module under goinspect.commands). Order is the order in --help.
COMMAND_MODULES: list[tuple[str | None, str]] = [
    ("profile", "profile_top"),
    ("profile", "profile_list"),
    ("profile", "profile_diff"),
    ("profile", "profile_trend"),
    ("profile", "profile_export"),
    ("profile", "profile_sites"),
    (None, "maps"),
    (None, "map"),
    (None, "slices"),
    (None, "check"),
    (None, "analyze"),
    (None, "why"),
    (None, "model"),
    (None, "ci"),
    (None, "demo"),
]

GROUP_HELP = {
    "profile": "read heap profiles (pprof proto or ?debug=1 text) from files or a live service",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="goinspect", description="Is the Go heap really leaking, and which map or slice is it?")
    parser.add_argument("--version", action="version", version=f"goinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for group, module_name in COMMAND_MODULES:
        command = importlib.import_module(f"goinspect.commands.{module_name}").COMMAND
        if group is None:
            target = sub
        else:
            if group not in groups:
                gp = sub.add_parser(group, help=GROUP_HELP[group], description=GROUP_HELP[group])
                groups[group] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", parser_class=_Parser)
                groups[group].required = True
            target = groups[group]
        p = target.add_parser(command.name, help=command.help, description=command.__doc__ or command.help,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        command.prepare_parser(p)
        p.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Die quietly when piped into `head`, like other Unix tools.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._command.run(args) or 0)
    except GoinspectError as e:
        print(f"goinspect: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("goinspect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
