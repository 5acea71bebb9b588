"""Accuracy of ``goinspect analyze`` on the whole fleet: every map and slice gets the verdict its
program declares (``fleetkit.Expect``, served by ``/truth`` as ``expect``), both Go versions, live
and from a core.

Ground truth comes from the Go programs themselves: each declares, next to the code that makes it
true, what its maps and slices are doing; the judge (goinspect.analysis.verdicts) never sees a name
or a size from here.

- Live: ``--samples 3 --interval 0.5``; the program sits at the phase its expectations hold from
  (``expect_from_phase``) for the first sample and takes one step (``/advance``) before each later
  one, through analyze's ``between_samples`` hook, so no sample sees a step half-done.
- Core: one gcore per program and version (~1.3 GB, deleted after), analyzed with the series of
  heap profiles (``memprofilerate=1``) the program served before it. One snapshot decides
  retained-capacity, slice-pinning and a stuck-looking grow exactly; a verdict about time must be
  the declared one when the profile sites decide it, and otherwise ``undetermined`` naming what it
  needs -- never a different verdict. The same core alone (no profiles) must give exactly the
  snapshot-decidable verdicts and ``undetermined`` for everything else.

- Several cores: three gcores of each program, a step apart, analyzed together in time order
  (``--core A --core B --core C``), must give every declared verdict, time-based ones included.

Items no program declares (the standard library's tables) must never raise an alarm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import FLEET_PROGRAMS
from goinspect.analysis.run import AnalyzeRequest, analyze

#: What one snapshot decides (verdicts.py): these must match exactly from a single core.
ONE_SNAPSHOT = {"retained-capacity", "slice-pinning", "growing"}
#: Verdicts that call for action: an undeclared item (the standard library's) must never get one.
ALARMS = {"leak", "slice-pinning"}

SAMPLES, INTERVAL = 3, 0.5


def declared(truth: dict[str, Any]) -> dict[str, str]:
    expect = truth.get("expect") or {}
    if not expect:
        pytest.fail("the program declares no expectations (fleetkit.Expect)")
    return expect


def judged(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in report["maps"] + report["slices"]}


def table(heading: str, expect: dict[str, str], got: dict[str, dict[str, Any]]) -> str:
    rows = [f"{heading}:"]
    for name, want in sorted(expect.items()):
        g = got.get(name)
        rows.append(f"  {name:64s} want {want:18s} got {g['verdict'] if g else 'MISSING':18s} "
                    f"{g['confidence'] if g else ''}")
    return "\n".join(rows)


def wrong_alarms(expect: dict[str, str], got: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{n}: {x['verdict']} ({x['evidence'][-1]['text'] if x['evidence'] else ''})"
            for n, x in got.items() if n not in expect and x["verdict"] in ALARMS]


def check_complete(report: dict[str, Any]) -> None:
    """Every judged item carries the contract's fields (issue 6 item 4)."""
    for x in report["maps"] + report["slices"]:
        for key in ("name", "root", "addr", "verdict", "confidence", "evidence", "retained_bytes", "path", "fix",
                    "freed_bytes", "needs"):
            assert key in x, (x["name"], key)
        assert x["evidence"], x["name"]
        if x["verdict"] == "undetermined":
            assert x["needs"], x["name"]


def advance_for_sample(svc: Any, start: int, i: int) -> None:
    """The declared sampling protocol: sample 0 at ``expect_from_phase``, one step before each later one."""
    steps = start if i == 0 else 1
    if steps:
        svc.advance(steps)


def gcore(pid: int, prefix: Path) -> Path:
    """A core of the running process (zero pages punched out where the filesystem allows)."""
    subprocess.run(["gcore", "-o", str(prefix), str(pid)], check=True, capture_output=True, timeout=300)
    core = Path(f"{prefix}.{pid}")
    if shutil.which("fallocate"):
        subprocess.run(["fallocate", "--dig-holes", str(core)], check=False, capture_output=True)
    return core


def assert_every_declared_verdict(report: dict[str, Any], truth: dict[str, Any], label: str, capsys: Any) -> None:
    """Every declared item got exactly its verdict, every item is complete, no undeclared item raised an alarm."""
    expect, got = declared(truth), judged(report)
    with capsys.disabled():
        print("\n" + table(label, expect, got))
    check_complete(report)
    wrong = [f"{n}: want {w}, got {got[n]['verdict'] if n in got else 'nothing'}"
             + (f" -- {[e['text'] for e in got[n]['evidence']]}" if n in got else "")
             for n, w in expect.items() if n not in got or got[n]["verdict"] != w]
    assert not wrong, "\n".join(wrong)
    assert not wrong_alarms(expect, got), wrong_alarms(expect, got)


@pytest.mark.parametrize("program", FLEET_PROGRAMS)
def test_live_verdicts(program, go_version, fleet_service, capsys):
    with fleet_service(program) as svc:
        start = svc.truth()["expect_from_phase"]

        report = analyze(AnalyzeRequest(pid=svc.pid, samples=SAMPLES, interval=INTERVAL,
                                        between_samples=lambda i: advance_for_sample(svc, start, i)))
        truth = svc.truth()
    assert report["target"]["samples"] == SAMPLES
    assert_every_declared_verdict(report, truth, f"{program} go{go_version} live", capsys)


@pytest.mark.parametrize("program", FLEET_PROGRAMS)
def test_core_verdicts(program, go_version, fleet_service, fleet_exe, tmp_path, capsys):
    if os.geteuid() != 0 or shutil.which("gcore") is None:
        pytest.skip("gcore needs root (ptrace) and gdb's gcore")
    profiles: list[str] = []
    with fleet_service(program, memprofilerate=1) as svc:
        start = svc.truth()["expect_from_phase"]
        for i in range(SAMPLES):
            advance_for_sample(svc, start, i)
            path = tmp_path / f"heap{i}.pb.gz"
            path.write_bytes(svc.heap_profile())
            profiles.append(str(path))
        truth = svc.truth()
        core = gcore(svc.pid, tmp_path / "core")
    try:
        report = analyze(AnalyzeRequest(cores=(str(core),), exe=str(fleet_exe(program)), profiles=tuple(profiles)))
        alone = analyze(AnalyzeRequest(cores=(str(core),), exe=str(fleet_exe(program))))
    finally:
        core.unlink(missing_ok=True)
    assert report["target"]["kind"] == "core" and report["target"]["samples"] == 1
    expect, got = declared(truth), judged(report)
    with capsys.disabled():
        print("\n" + table(f"{program} go{go_version} core+profiles", expect, got))
    check_complete(report)
    wrong = []
    for name, want in expect.items():
        g = got.get(name)
        if g is None:
            wrong.append(f"{name}: not in the report")
        elif g["verdict"] == want:
            continue
        elif want in ONE_SNAPSHOT or g["verdict"] != "undetermined":
            wrong.append(f"{name}: want {want}, got {g['verdict']} -- {[e['text'] for e in g['evidence']]}")
    assert not wrong, "\n".join(wrong)
    assert not wrong_alarms(expect, got), wrong_alarms(expect, got)

    # The core alone: nothing about time can be claimed -- exactly what one snapshot decides, else undetermined.
    got = judged(alone)
    check_complete(alone)
    wrong = [f"{n}: want {w if w in ONE_SNAPSHOT else 'undetermined'}, got {got[n]['verdict'] if n in got else None}"
             for n, w in expect.items()
             if n not in got or got[n]["verdict"] != (w if w in ONE_SNAPSHOT else "undetermined")]
    assert not wrong, "\n".join(wrong)
    assert not wrong_alarms(expect, got), wrong_alarms(expect, got)


@pytest.mark.parametrize("program", FLEET_PROGRAMS)
def test_core_series_verdicts(program, go_version, fleet_service, fleet_exe, tmp_path, capsys):
    """Growth, churn and health decided from cores alone: one gcore per sample, the program stepped between."""
    if os.geteuid() != 0 or shutil.which("gcore") is None:
        pytest.skip("gcore needs root (ptrace) and gdb's gcore")
    cores: list[Path] = []
    try:
        with fleet_service(program) as svc:
            start = svc.truth()["expect_from_phase"]
            for i in range(SAMPLES):
                advance_for_sample(svc, start, i)
                cores.append(gcore(svc.pid, tmp_path / f"core{i}"))
            truth = svc.truth()
        report = analyze(AnalyzeRequest(cores=tuple(map(str, cores)), exe=str(fleet_exe(program))))
    finally:
        for c in cores:
            c.unlink(missing_ok=True)
    assert report["target"]["kind"] == "core" and report["target"]["samples"] == SAMPLES
    assert_every_declared_verdict(report, truth, f"{program} go{go_version} 3 cores", capsys)
