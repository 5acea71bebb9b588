"""`goinspect demo` end to end: the bundled service really leaks sessions and really churns pages.

What each line does is read from the service's own source, not from goinspect.
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


def test_demo_finds_the_leak_and_the_churn(tmp_path):
    done = subprocess.run([sys.executable, "-m", "goinspect", "demo", "--json", "--snapshots", "4",
                           "--logins", "300", "--renders", "60", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["snapshots"]) == 4 and len(list(tmp_path.glob("heap.*.pb.gz"))) == 4
    sites = {(s["file"], s["line"]): s for s in report["sites"]}
    # Every login stores one *session that nothing deletes: 300 more of them at each snapshot.
    leak = sites[(str(SERVICE), line_of("s := &session{user: user}"))]
    assert leak["class"] == "growing" and leak["monotonic"]
    # Pages are built by append and dropped after each request: allocated a lot, held nothing.
    churn = sites[(str(SERVICE), line_of("page = append(page,"))]
    assert churn["class"] == "churn" and churn["kind"] == "slice-growth"
    assert churn["companion"]["growth"] > 0  # alloc_space kept rising while in-use stayed level
