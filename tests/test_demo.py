"""`goinspect demo` end to end: the bundled service really leaks sessions, and goinspect says so.

What each map and line does is read from the service's own source (its comments say which map
leaks and which is bounded), not from goinspect.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "goinspect" / "demo_service" / "main.go"


def line_of(text: str) -> int:
    lines = SERVICE.read_text().splitlines()
    (hit,) = [i + 1 for i, ln in enumerate(lines) if text in ln]
    return hit


def test_demo_finds_the_leak_and_clears_the_bounded_cache(tmp_path):
    html = tmp_path / "demo.html"
    done = subprocess.run([sys.executable, "-m", "goinspect", "demo", "--json", "--samples", "4",
                           "--logins", "300", "--renders", "60", "--html", str(html)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["target"]["samples"] == 4 and len(report["target"]["profiles"]) == 4
    maps = {m["name"]: m for m in report["maps"]}
    # "sessions: every /login stores a session that is never evicted (a leak)": 300 more per round.
    leak = maps["main.sessions"]
    assert leak["verdict"] == "leak" and leak["series"]["count"] == [300, 600, 900, 1200]
    assert leak["path"][0].endswith("main.sessions") and leak["fix"]
    # "recent: a bounded cache of the last 512 requests": never a leak, whatever else it is.
    assert maps["main.recent"]["verdict"] != "leak"
    assert max(maps["main.recent"]["series"]["count"]) <= 512
    # The session map's write is the profile site that feeds it; the page append is churn.
    sites = {(s["file"], s["line"]): s for s in report["profile_sites"]}
    assert sites[(str(SERVICE), line_of('sessions["sess-"+user] = s'))]["feeds"] == "main.sessions"
    churn = sites[(str(SERVICE), line_of("page = append(page,"))]
    assert churn["trend"] == "churn" and churn["kind"] == "slice-growth"
    assert "main.sessions" in html.read_text()
