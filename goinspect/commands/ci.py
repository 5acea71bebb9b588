"""goinspect ci: run a Go program under load, snapshot it, and fail the build when a map or slice leaks.

    goinspect ci --exe ./server --ready-line 'listening on (?P<addr>\\S+)' \\
                 --load 'http://{addr}/work' --requests 600 --samples 3 --junit heap.xml

starts the program (its own process group; killed with everything it forked on
every way out: done, error, Ctrl-C, SIGTERM), waits until it is ready, then
for each sample sends its share of the requests and takes a snapshot; the
verdicts are judged over the samples. Exit status: 0 when no verdict named in
--fail-on (default: leak) appears, 1 when one does, 2-5 when the run itself
could not be done (one 'goinspect: error:' line says why). --pid P checks a
process that is already running instead (it is never killed).

Addresses: a program that picks its own port can print it; name it with a
group of --ready-line and use the group as {name} in --load, --ready-url and
--profile-url. A program with a fixed address needs none of that.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goinspect.analysis.verdicts import VERDICTS  # --fail-on takes any of them
from goinspect.errors import GoinspectError, InputError, UsageError
from goinspect.run.load import LoadStats, drive, spread
from goinspect.run.program import (Program, Readiness, check_executable, fill_placeholders, placeholders,
                                   signals_interrupt, wait_for_url)



def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
        return value
    return parse


def _say(msg: str) -> None:
    print(f"goinspect ci: {msg}", file=sys.stderr, flush=True)


class CiCommand:
    """Start (or attach to) a program, drive load between snapshots, exit 1 on a --fail-on verdict."""

    name = "ci"
    help = "run a program under load, snapshot it N times, exit 1 when a map or slice leaks (JUnit for CI)"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("program (one of)")
        g.add_argument("--exe", metavar="BIN", help="start this program (killed, with its process group, at the end)")
        g.add_argument("--pid", type=int, metavar="P", help="a program already running (left running)")
        parser.add_argument("--args", default="", metavar='"ARGS"',
                            help="the program's arguments as one shell-quoted string (or give them after --)")
        parser.add_argument("argv", nargs="*", metavar="-- ARGS", help=argparse.SUPPRESS)
        parser.add_argument("--env", action="append", default=[], metavar="K=V",
                            help="set an environment variable for the program (repeatable)")
        parser.add_argument("--log", metavar="FILE",
                            help="append the program's stdout and stderr to FILE ('-': goinspect's stderr); "
                                 "default: kept back, the last lines shown if it fails")
        r = parser.add_argument_group("readiness")
        r.add_argument("--ready-line", metavar="REGEX",
                       help="ready once the program prints a line matching REGEX (stdout or stderr); its named "
                            "groups fill {name} in the URLs, e.g. 'LISTEN (?P<addr>\\S+)' and http://{addr}/")
        r.add_argument("--ready-url", metavar="URL", help="ready once a GET of URL answers 2xx/3xx (polled)")
        r.add_argument("--ready-timeout", type=_non_negative(float), default=30.0, metavar="SECS",
                       help="give up waiting for readiness after SECS (default 30)")
        lo = parser.add_argument_group("load")
        lo.add_argument("--load", metavar="URL", help="GET this URL between snapshots (never through a proxy)")
        lo.add_argument("--requests", type=_non_negative(int), default=0, metavar="N",
                        help="requests in all, spread evenly over the samples (one share before each)")
        lo.add_argument("--concurrency", type=_positive_int, default=1, metavar="C",
                        help="requests in flight at once (default 1)")
        lo.add_argument("--warmup", type=_non_negative(int), default=0, metavar="N",
                        help="requests sent before the first sample's share, to reach a steady state")
        lo.add_argument("--request-timeout", type=_non_negative(float), default=60.0, metavar="SECS",
                        help="give up on one request after SECS (default 60)")
        a = parser.add_argument_group("analysis")
        a.add_argument("--samples", type=_positive_int, default=3, metavar="N",
                       help="snapshots to take (default 3; growth needs at least 2)")
        a.add_argument("--interval", type=_non_negative(float), default=1.0, metavar="SECS",
                       help="at least SECS between the starts of two snapshots (default 1)")
        a.add_argument("--profile-url", metavar="URL",
                       help="also fetch this heap profile once per sample (e.g. http://{addr}/debug/pprof/heap)")
        a.add_argument("--filter", metavar="REGEX", help="only maps and slices whose name matches")
        a.add_argument("--runtime", action="store_true", help="also judge the runtime's own maps and slices")
        a.add_argument("--timeout", type=_non_negative(float), default=30.0, metavar="SECS",
                       help="give up on one gdb command after SECS (default 30)")
        a.add_argument("--verbose", action="store_true", help="show the gdb transcript on stderr")
        o = parser.add_argument_group("outcome")
        o.add_argument("--fail-on", default="leak", metavar="V,V",
                       help=f"exit 1 when any of these verdicts appears (default leak; any of {', '.join(VERDICTS)})")
        o.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case per map and slice")
        o.add_argument("--json", action="store_true", help="print the analyze JSON (with a 'ci' section), not a report")
        o.add_argument("--html", metavar="FILE", help="also write the self-contained HTML report")

    def run(self, args: argparse.Namespace) -> int:
        plan = _plan(args)
        started, wall = time.monotonic(), time.time()
        report, load = _observe(plan, args)
        seconds = time.monotonic() - started
        failing = [item["name"] for kind in ("maps", "slices") for item in report.get(kind, [])
                   if item.get("verdict") in plan.fail_on]
        exit_code = 1 if failing else 0
        report["ci"] = {"fail_on": sorted(plan.fail_on), "failing": failing, "exit_code": exit_code,
                        "seconds": round(seconds, 3), "started": plan.exe is not None,
                        "load": load.to_json() if load else None}
        if args.junit:
            from goinspect.render.junit import render_junit

            _write(args.junit, render_junit(report, plan.fail_on, seconds=seconds, timestamp=wall, properties={
                "load_url": load.url if load else None, "requests": load.requests if load else None}))
        if args.html:
            from goinspect.render.html import render_html

            _write(args.html, render_html(report))
        if args.json:
            json.dump(report, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            from goinspect.render.verdicts import print_report

            print_report(report)
            what = ", ".join(sorted(plan.fail_on))
            print(f"\ngoinspect ci: {'FAIL' if failing else 'PASS'} in {seconds:.1f} s: "
                  + (f"{len(failing)} item(s) with a verdict in --fail-on ({what}): {', '.join(failing)}"
                     if failing else f"no verdict in --fail-on ({what})"))
        return exit_code


@dataclass(frozen=True)
class _Plan:
    """The command line, checked before anything is started."""

    exe: Path | None
    argv: list[str]
    env: dict[str, str]
    ready: Readiness
    fail_on: frozenset[str]


def _observe(plan: _Plan, args: argparse.Namespace) -> tuple[dict[str, Any], LoadStats | None]:
    """Start the program (or take --pid), wait until it is ready, and analyze it with load before each sample.

    Whatever happens in here, a program ci started is killed, group and all, before this returns or raises.
    """
    from goinspect.analysis.run import AnalyzeRequest, analyze

    started = time.monotonic()
    with ExitStack() as stack:
        stack.enter_context(signals_interrupt())
        groups: dict[str, str] = {}
        program: Program | None = None
        if plan.exe is not None:
            log = _open_log(args.log, stack)
            program = stack.enter_context(Program(plan.exe, plan.argv, plan.env, log, plan.ready))
            _say(f"started {plan.exe.name} (pid {program.pid})")
            groups = program.wait_ready()
            _say(f"ready after {time.monotonic() - started:.2f} s"
                 + (f" ({', '.join(f'{k}={v}' for k, v in groups.items())})" if groups else ""))
            pid = program.pid
        else:
            pid = args.pid
            if plan.ready.url:
                deadline = time.monotonic() + plan.ready.timeout
                wait_for_url(plan.ready.url, deadline, plan.ready.timeout, alive=lambda: _check_pid(pid))
        assert pid is not None
        load = LoadStats(fill_placeholders(args.load, groups, "--load")) if args.load else None
        shares = spread(args.requests, args.samples)

        def between_samples(i: int) -> None:
            if load is None:
                return
            if i == 0 and args.warmup:
                _drive(load, args.warmup, args, program, "warm-up")
            _drive(load, shares[i], args, program, f"sample {i + 1}")

        request = AnalyzeRequest(
            pid=pid, samples=args.samples, interval=args.interval, timeout=args.timeout,
            filter=args.filter, runtime=args.runtime, verbose=args.verbose,
            profile_url=fill_placeholders(args.profile_url, groups, "--profile-url") if args.profile_url else None,
            between_samples=between_samples, progress=_say)
        try:
            return analyze(request), load
        except GoinspectError as e:
            status = program.exit_status() if program is not None else None
            if program is None or status is None:
                raise
            # The real cause is the program's end, not the read that stumbled over it.
            raise type(e)(f"{program.exe.name} (pid {pid}) exited with status {status} during the run "
                          f"({str(e).rstrip('.')}){program.output_suffix()}") from None


def _plan(args: argparse.Namespace) -> _Plan:
    """Every check that can be made before the program starts, so bad input costs nothing and leaves nothing."""
    if (args.exe is None) == (args.pid is None):
        raise UsageError("give exactly one program: --exe BIN to start it, or --pid P for one already running.")
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    try:
        argv = shlex.split(args.args) + argv
    except ValueError as e:
        raise UsageError(f"--args is not a valid shell-quoted string ({e}).") from None
    if args.pid is not None and (argv or args.env or args.log or args.ready_line):
        raise UsageError("--args, --env, --log and --ready-line are for a program ci starts (--exe), not --pid.")
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key or "\0" in item:
            raise UsageError(f"--env takes K=V, not {item!r}.")
        env[key] = value
    fail_on = frozenset(v.strip() for v in args.fail_on.split(",") if v.strip())
    unknown = sorted(fail_on - set(VERDICTS))
    if unknown or not fail_on:
        raise UsageError(f"--fail-on takes verdicts from: {', '.join(VERDICTS)} (got {args.fail_on!r}).")
    line = None
    if args.ready_line:
        try:
            line = re.compile(args.ready_line)
        except re.error as e:
            raise UsageError(f"--ready-line is not a valid regular expression: {e}.") from None
    groups = set(line.groupindex) if line else set()
    for option, url in (("--load", args.load), ("--ready-url", args.ready_url), ("--profile-url", args.profile_url)):
        if url is None:
            continue
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{option} must be an http:// or https:// URL, not {url!r}.")
        missing = sorted(placeholders(url) - groups)
        if missing:
            raise UsageError(f"{option} uses {{{missing[0]}}}, which --ready-line does not capture "
                             f"(name it in the regex: (?P<{missing[0]}>...)).")
    if args.requests and not args.load:
        raise UsageError("--requests needs --load URL (where to send them).")
    if args.warmup and not args.load:
        raise UsageError("--warmup needs --load URL (where to send the requests).")
    if args.load and not args.requests and not args.warmup:
        raise UsageError("--load needs --requests N (how many to send in all).")
    for option, path in (("--junit", args.junit), ("--html", args.html)):
        if path and not Path(path).resolve().parent.is_dir():
            raise InputError(f"{option} {path}: its directory does not exist.")
    if args.pid is not None:
        if args.pid <= 0:
            raise UsageError(f"--pid must be a positive process id, not {args.pid}.")
        _check_pid(args.pid)
    exe = check_executable(args.exe) if args.exe is not None else None
    return _Plan(exe, argv, env, Readiness(line, args.ready_url, args.ready_timeout), fail_on)


def _check_pid(pid: int) -> None:
    if not Path(f"/proc/{pid}").exists():
        raise InputError(f"no process with pid {pid}.")


def _open_log(spec: str | None, stack: ExitStack):
    if spec is None:
        return None
    if spec == "-":
        return sys.stderr.buffer
    try:
        return stack.enter_context(open(spec, "ab"))
    except OSError as e:
        raise InputError(f"--log {spec} cannot be written: {e.strerror or e}.") from None


def _drive(load: LoadStats, count: int, args: argparse.Namespace, program: Program | None, what: str) -> None:
    """Send ``count`` requests; any that fails stops the run (a CI verdict on a broken load would be noise)."""
    before = load.failures
    t0 = time.monotonic()
    drive(load, count, args.concurrency, args.request_timeout)
    failed = load.failures - before
    if failed:
        state = ""
        if program is not None and program.exit_status() is not None:
            state = f"; {program.exe.name} exited with status {program.exit_status()}{program.output_suffix()}"
        raise InputError(f"{failed} of the {count} {what} requests to {load.url} failed "
                         f"(first: {load.first_error}){state}")
    if count:
        _say(f"{what}: {count} request(s) to {load.url} in {time.monotonic() - t0:.2f} s")


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a report."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"{path} cannot be written: {e.strerror or e}.") from None


COMMAND = CiCommand()
