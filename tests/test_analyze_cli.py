"""`goinspect analyze` through its command line: bad input gets one line and an exit code, heap
profiles alone give a trend per site, and a live run matches profile sites to the map they feed.

Which line allocates what comes from the fleet programs' `// site:` comments; what each map holds
from their /truth -- never from goinspect.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

GOINSPECT = [sys.executable, "-m", "goinspect"]


def run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*GOINSPECT, "analyze", *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv,code,fragment", [
    ((), 2, "nothing to analyze"),
    (("--core", "/nonexistent/core"), 2, "--core needs --exe"),
    (("--pid", "1", "--core", "c", "--exe", "e"), 2, "not both"),
    (("--pid", "1", "--samples", "0"), 2, "--samples must be at least 1"),
    (("--pid", "1", "--interval", "-1"), 2, "--interval must not be negative"),
    (("--pid", "1", "--filter", "("), 2, "--filter is not a valid regular expression"),
    (("--pid", "-3"), 2, "positive process id"),
    (("--core", "a", "--core", "b", "--exe", "e", "--samples", "3"), 2, "one --core per snapshot"),
    (("--profile-url", "http://127.0.0.1:9/heap"), 2, "--samples 2 or more"),
    (("--pid", "999999999"), 3, "does not exist"),
    (("--core", "/nonexistent/core", "--exe", "/nonexistent/exe"), 3, ""),
    (("--profile", "/nonexistent/heap.pb.gz"), 3, ""),
])
def test_bad_input_is_one_line(argv, code, fragment):
    done = run(*argv, timeout=60)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goinspect"), done.stderr
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr


def _stepping(svc, every: float = 0.2):
    """Advance the program in the background, like a service under load, until the event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            svc.advance(1)
            time.sleep(every)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    return stop, th


def test_profiles_alone_give_a_trend_per_site(fleet_service, fleet_site):
    # Every step stores new sessions that nothing frees: that line's in-use only rises.
    path, line = fleet_site("leakmap", "leak_value_new")
    with fleet_service("leakmap", memprofilerate=1) as svc:
        stop, th = _stepping(svc)
        try:
            done = run("--profile-url", svc.base_url + "/debug/pprof/heap?gc=1", "--samples", "4",
                       "--interval", "0.5", "--json")
        finally:
            stop.set()
            th.join()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["maps"] == [] and report["slices"] == [] and report["target"]["kind"] == "profiles"
    assert len(report["target"]["profiles"]) == 4
    site = next(s for s in report["profile_sites"] if s["file"] == str(path) and s["line"] == line)
    assert site["trend"] == "growing"
    assert site["inuse_bytes"] == sorted(site["inuse_bytes"]) and site["inuse_bytes"][-1] > site["inuse_bytes"][0]


def test_live_run_matches_the_site_to_the_map_it_feeds(fleet_service, fleet_site):
    path, line = fleet_site("leakmap", "map_growth")
    with fleet_service("leakmap", memprofilerate=1) as svc:
        stop, th = _stepping(svc)
        try:
            done = run("--pid", str(svc.pid), "--profile-url", svc.base_url + "/debug/pprof/heap?gc=1",
                       "--samples", "3", "--interval", "0.5", "--filter", "^main\\.", "--json")
        finally:
            stop.set()
            th.join()
        truth = svc.truth()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (m,) = report["maps"]
    assert m["name"] == "main.sessions" and m["verdict"] == truth["expect"]["main.sessions"]
    site = next(s for s in report["profile_sites"] if s["file"] == str(path) and s["line"] == line)
    assert site["feeds"] == "main.sessions" and site["id"] in m["sites"]
    assert len(m["series"]["count"]) == 3 and all(p is not None for p in report["target"]["pause_seconds"])
