"""goinspect maps: every map a Go process (or core) holds, read completely from its memory.

For each map -- globals, map fields of global structs, goroutine-stack locals -- its count, how many
bytes the structure holds against what the live entries need, and the
implementation's internals -- classic maps: buckets, overflow chains, growth
state, mapextra; Swiss maps: tables, capacity, ctrl-byte census. The target
is stopped only while its memory is read (the pause is reported).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from goinspect.commands.common import add_json_option, print_json
from goinspect.errors import UsageError
from goinspect.render.table import render_table
from goinspect.render.units import fmt_value
from goinspect.runtime.census import Census
from goinspect.runtime.roots import (RUNTIME_PREFIXES, Root, gather_roots, global_container_types, prepare_roots,
                                     stack_stats)
from goinspect.runtime.spans import SpanIndex

MHEAP = "runtime.mheap_"


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--pid P | --core C --exe E, shared by maps, map and slices."""
    g = parser.add_argument_group("target (one of)")
    g.add_argument("--pid", type=int, metavar="P", help="a running Go process (stopped only while it is read)")
    g.add_argument("--core", metavar="CORE", help="a core dump of a Go process (needs --exe)")
    parser.add_argument("--exe", metavar="EXE", help="the executable the core came from (with --core)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECS",
                        help="give up on a gdb command after this many seconds (default 30)")
    parser.add_argument("--verbose", action="store_true", help="show the gdb transcript on stderr")
    parser.add_argument("--runtime", action="store_true",
                        help="also list the runtime's own maps and slices (runtime.*, internal/*)")


def check_target_args(args: argparse.Namespace) -> None:
    if (args.pid is None) == (args.core is None):
        raise UsageError("give exactly one target: --pid P, or --core CORE --exe EXE.")
    if args.core is not None and not args.exe:
        raise UsageError("--core needs --exe (the executable the core was dumped from).")
    if args.pid is not None and args.pid <= 0:
        raise UsageError(f"--pid must be a positive process id, not {args.pid}.")


@dataclass
class Reading:
    """What one pass over a target produced, and what it cost."""

    go_version: str
    map_impl: str
    pause_seconds: float | None
    read_seconds: float
    maps: list[dict[str, Any]]
    slices: list[dict[str, Any]]


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Any]:
    """The Target named on the command line, closed (and a live one detached) whatever happens."""
    from goinspect.target.open import open_core, open_live

    check_target_args(args)
    if args.pid is not None:
        target = open_live(args.pid, verbose=args.verbose, timeout=args.timeout)
    else:
        from pathlib import Path
        target = open_core(Path(args.core), Path(args.exe), verbose=args.verbose, timeout=args.timeout)
    try:
        yield target
    finally:
        target.close()


def compile_filter(pattern: str | None) -> Callable[[str], bool]:
    if not pattern:
        return lambda name: True
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--filter is not a valid regular expression: {e}.") from None
    return lambda name: rx.search(name) is not None


def read_target(args: argparse.Namespace, *, want_maps: bool, want_slices: bool,
                select: Callable[[Root], bool], entries: int = 0) -> Reading:
    """Open the target, resolve every layout, then find and read the selected roots while it is paused."""
    with opened(args) as target:
        globals_ = target.globals()
        mheap = next((g for g in globals_ if g.name == MHEAP), None)
        user = [g for g in globals_ if args.runtime or not g.name.startswith(RUNTIME_PREFIXES)]
        census = Census(target, None)
        census.prepare(global_container_types(user))
        prepare_roots(target, census, runtime=args.runtime)  # goroutine-stack locals: DWARF, pclntab, layouts
        maps: list[dict[str, Any]] = []
        slices: list[dict[str, Any]] = []
        with target.paused():
            t0 = time.perf_counter()
            census.spans = SpanIndex(target.memory, target, mheap.addr,
                                     go_version=target.go_version) if mheap else None
            for root in gather_roots(target, user, target.memory, runtime=args.runtime):
                if not select(root):
                    continue
                if root.kind == "map" and want_maps:
                    maps.append(census.read_map(root, entries).to_json())
                elif root.kind == "slice" and want_slices:
                    s = census.read_slice(root)
                    if s is not None:
                        slices.append(s.to_json())
            elapsed = time.perf_counter() - t0  # the reads alone; the pause adds attach and detach
        if args.verbose:
            _print_stack_stats(stack_stats(target))
        pauses = getattr(target, "pauses", None)
        return Reading(target.go_version, target.map_impl, pauses[-1] if pauses else None, elapsed, maps, slices)


def _print_stack_stats(st: dict[str, Any]) -> None:
    """--verbose: what the goroutine-stack walk saw and what it could not read, and why."""
    if not st:
        print("goinspect: goroutine stacks were not read (no runtime.allgs, runtime.g layout or pclntab)",
              file=sys.stderr)
        return
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(st["skipped"].items()))
    stopped = ", ".join(f"{n} {why}" for why, n in sorted(st["unwind_stopped"].items()))
    print(f"goinspect: stacks: {st['goroutines']} goroutines, {st['walked']} walked ({st['frames']} frames), "
          f"{st['roots']} stack roots; not walked: {skipped or 'none'}; walks cut short: {stopped or 'none'}; "
          f"locals only in registers: {st['in_registers']}, nil/implausible: {st['implausible']}, "
          f"aliases of another root: {st['aliases']}, frames whose map headers could not be paired with their "
          f"variables: {st['ambiguous']}", file=sys.stderr)


def meta(r: Reading) -> dict[str, Any]:
    return {"go_version": r.go_version, "map_impl": r.map_impl, "pause_seconds": r.pause_seconds,
            "read_seconds": round(r.read_seconds, 6)}


def map_detail(m: dict[str, Any]) -> str:
    """One-line summary of a map's internals for the table."""
    if m.get("error"):
        return m["error"]
    if m["addr"] is None:
        return "nil map"
    if m["impl"] == "hmap" and m.get("hmap"):
        h, w = m["hmap"]["header"], m["hmap"]["walk"]
        parts = [f"B={h['B']}", f"buckets={w.get('buckets')}", f"overflow={w.get('overflow_buckets')}"]
        parts.append(f"noverflow={h['noverflow']}")
        if w.get("growing"):
            parts.append(f"GROWING evacuated={w.get('evacuated_old_buckets')}/{w.get('oldbuckets_count')}")
        if w.get("empty_one_slots"):
            parts.append(f"deleted-slots={w['empty_one_slots']}")
        return " ".join(parts)
    if m["impl"] == "swiss" and m.get("swiss"):
        h, w = m["swiss"]["header"], m["swiss"]["walk"]
        if h["dirLen"] == 0:
            return f"small (one group) tombstones={w['tombstones']}"
        return (f"tables={w['distinct_tables']} dir={h['dirLen']} capacity={w['capacity']} "
                f"tombstones={w['tombstones']}")
    return ""


def print_maps_table(maps: list[dict[str, Any]], r: Reading) -> None:
    rows = []
    for m in sorted(maps, key=lambda m: -m["memory"]["structure_bytes"]):
        mem = m["memory"]
        rows.append([fmt_value(mem["structure_bytes"], "bytes"), fmt_value(mem["live_bytes"], "bytes"),
                     str(m["count"]), m["impl"], m["name"] + "  " + m["type"] + "  " + map_detail(m)])
    print("\n".join(render_table(["HELD", "LIVE", "COUNT", "IMPL", "MAP"], rows)))
    print_footer(r)


def print_footer(r: Reading) -> None:
    pause = f", target paused {r.pause_seconds * 1000:.0f} ms" if r.pause_seconds is not None else ""
    print(f"(Go {r.go_version}, {r.map_impl} maps; read in {r.read_seconds * 1000:.0f} ms{pause})", file=sys.stderr)


class MapsCommand:
    """List every map of a Go process or core with its real size and internals."""

    name = "maps"
    help = "every map of a live process (--pid) or a core (--core --exe): count, bytes held vs live, internals"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        add_target_options(parser)
        add_json_option(parser)
        parser.add_argument("--filter", metavar="REGEX", help="only maps whose name matches")
        parser.add_argument("--entries", type=int, default=0, metavar="N",
                            help="decode up to N entries of each map (ints, floats, bool, strings, pointers, slices, small structs)")

    def run(self, args: argparse.Namespace) -> int:
        if args.entries < 0:
            raise UsageError("--entries must be zero or more.")
        keep = compile_filter(args.filter)
        r = read_target(args, want_maps=True, want_slices=False, select=lambda root: keep(root.name),
                        entries=args.entries)
        if args.json:
            print_json({**meta(r), "maps": r.maps})
        else:
            print_maps_table(r.maps, r)
        return 0


COMMAND = MapsCommand()
