"""goinspect ci: real fleet programs started, loaded, snapshotted and judged; JUnit checked; nothing left behind.

The leak/healthy outcomes come from the programs themselves: each fleet
program declares in its source the verdict its maps must get (/truth
"expect"), and leakmap's map grows by the load we send (its /truth len). The
JUnit file is parsed with xml.etree and checked against the rules of the
common JUnit schema (Jenkins' junit-10.xsd, what GitHub/GitLab report
actions read): element nesting, required attributes, the time format.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from goinspect.render.junit import go_package, render_junit
from goinspect.run.load import spread
from goinspect.run.program import Program, Readiness, check_executable

READY = r"LISTEN (?P<addr>\S+)"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
needs_ptrace = pytest.mark.skipif(os.geteuid() != 0, reason="live reads need ptrace rights (root here)")


def goinspect(*argv: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as CI runs it."""
    return subprocess.run([sys.executable, "-m", "goinspect", *argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def started_pid(stderr: str) -> int:
    m = re.search(r"started \S+ \(pid (\d+)\)", stderr)
    assert m, stderr
    return int(m.group(1))


def gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a zombie would still count as left behind)."""
    return not Path(f"/proc/{pid}").exists()


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (ci starts the program as a group leader: pgid = its pid).

    Counted by group, not by executable: other test runs on the machine may run the same fleet binary.
    """
    members = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                state, _ppid, pgrp = (d / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            except (OSError, ValueError):
                continue
            if int(pgrp) == pgid and state != "Z":
                members.append(int(d.name))
    return members


def left_nothing(stderr: str) -> bool:
    """The program ci started, and everything in its process group, is gone."""
    pid = started_pid(stderr)
    return gone(pid) and not group_members(pid)


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- JUnit schema rules (junit-10.xsd) ------------------------------------------------------------

_CHILDREN = {"testsuites": {"testsuite"},
             "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
             "properties": {"property"}, "property": set(),
             "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
             "failure": set(), "skipped": set(), "error": set(), "system-out": set(), "system-err": set()}
_REQUIRED = {"testsuite": {"name", "tests", "failures", "errors"}, "testcase": {"name"},
             "property": {"name", "value"}}
_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?")


def check_junit_schema(root: ET.Element) -> None:
    assert root.tag == "testsuites"
    for el in root.iter():
        assert el.tag in _CHILDREN, el.tag
        assert {c.tag for c in el} <= _CHILDREN[el.tag], (el.tag, [c.tag for c in el])
        assert _REQUIRED.get(el.tag, set()) <= set(el.attrib), (el.tag, el.attrib)
        if el.tag in ("testsuites", "testsuite") and "time" in el.attrib:
            assert _TIME.fullmatch(el.attrib["time"]), el.attrib["time"]
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.attrib["tests"]) == len(cases)
        assert int(suite.attrib["failures"]) == sum(1 for c in cases if c.find("failure") is not None)
    assert int(root.attrib["tests"]) == sum(int(s.attrib["tests"]) for s in root.iter("testsuite"))
    assert int(root.attrib["failures"]) == sum(int(s.attrib["failures"]) for s in root.iter("testsuite"))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["name"]: c for c in root.iter("testcase")}


# -- pure ---------------------------------------------------------------------------------------

def test_spread_sends_every_request_once():
    for total in (0, 1, 5, 7, 100):
        for parts in (1, 2, 3, 8):
            shares = spread(total, parts)
            assert sum(shares) == total and len(shares) == parts and max(shares) - min(shares) <= 1


def test_go_package():
    assert go_package("main.sessions") == "main"
    assert go_package("example.com/app/cache.entries") == "example.com/app/cache"
    assert go_package("github.com/x/y.v2/z.Func.local#7") == "github.com/x/y.v2/z"


def test_junit_from_a_report_document():
    """Counts, classnames, the failure's message/text and the figures, from a report in the analyze JSON shape."""
    ev = [{"source": "snapshots", "text": "count grew 1000 -> 3000 over 3 samples", "figures": {}}]
    report = {
        "target": {"go_version": "go1.26.6", "map_impl": "swiss", "exe": "/x/leak", "pid": 42, "samples": 3},
        "maps": [{"name": "main.sessions", "root": "global", "addr": "0xc000", "type": "map[int]*s", "count": 3000,
                  "verdict": "leak", "confidence": "high", "evidence": ev, "retained_bytes": 300000,
                  "freed_bytes": 300000, "path": ["main.sessions"], "fix": "bound the map", "needs": None,
                  "series": {"t": [0, 1, 2], "count": [1000, 2000, 3000]}},
                 {"name": "example.com/a/b.idx", "root": "global", "addr": "0xc100", "count": 9,
                  "verdict": "healthy", "confidence": "medium", "evidence": [], "path": [], "fix": ""}],
        "slices": [{"name": "main.pin", "root": "global", "len": 1, "cap": 1, "verdict": "slice-pinning",
                    "confidence": "high", "evidence": [], "fix": "slices.Clone it"}],
    }
    root = ET.fromstring(render_junit(report, {"leak"}, seconds=12.3456, properties={"requests": 30}))
    check_junit_schema(root)
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["time"]) == ("3", "1", "12.346")
    c = cases(root)
    assert c["main.sessions"].attrib["classname"] == "main"
    assert c["example.com/a/b.idx"].attrib["classname"] == "example.com/a/b"
    failure = c["main.sessions"].find("failure")
    assert failure.attrib["type"] == "leak" and "count grew 1000 -> 3000" in failure.attrib["message"]
    assert "Fix: bound the map" in failure.text and "Kept alive by: main.sessions" in failure.text
    assert "series.count: 1000 2000 3000" in c["main.sessions"].find("system-out").text
    assert c["main.pin"].find("failure") is None  # slice-pinning is not in fail_on here
    props = {p.attrib["name"]: p.attrib["value"] for p in root.find("testsuite/properties")}
    assert props["go_version"] == "go1.26.6" and props["requests"] == "30" and props["fail_on"] == "leak"
    both = ET.fromstring(render_junit(report, {"leak", "slice-pinning"}, seconds=1))
    assert both.attrib["failures"] == "2" and cases(both)["main.pin"].find("failure") is not None


# -- the program runner, on real programs ------------------------------------------------------------

def test_program_ready_line_groups_and_kill(fleet_exe):
    exe = fleet_exe("leakmap")
    with Program(exe, readiness=Readiness(re.compile(READY), "http://{addr}/truth", 30)) as prog:
        groups = prog.wait_ready()
        pid = prog.pid
        truth = _OPENER.open(f"http://{groups['addr']}/advance?steps=2", timeout=30).read()
        assert b'"main.sessions"' in truth and os.getpgid(pid) == pid  # its own process group
    assert gone(pid)


@pytest.mark.parametrize("trap", ["", "trap '' TERM\n"], ids=["polite", "ignores-sigterm"])
def test_program_group_is_killed_with_its_children(tmp_path, trap):
    """A program that forks helpers (a shell and its `sleep`): the whole group goes, SIGKILLed if SIGTERM is ignored."""
    prog_path = script(tmp_path, "forks.sh", trap + "sleep 300 &\necho \"CHILD $!\"\nwait\n")
    with Program(prog_path, readiness=Readiness(re.compile(r"CHILD (?P<child>\d+)"), None, 10)) as prog:
        child = int(prog.wait_ready()["child"])
        leader = prog.pid
        assert not gone(child)
    deadline = time.monotonic() + 5  # the orphaned sleep dies by SIGKILL; init, not we, reaps it
    while group_members(leader) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(leader) and not group_members(leader)
    assert gone(child) or Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_program_args_env_and_log(tmp_path):
    """Arguments and --env reach the program; its stdout and stderr lines both reach the log and the ready regex."""
    prog_path = script(tmp_path, "echo.sh", 'echo "to stderr" >&2\necho "ARGS[$*] FOO=$FOO"\nexec sleep 300\n')
    log_path = tmp_path / "program.log"
    with open(log_path, "ab") as log:
        with Program(prog_path, ["-a", "b c"], {"FOO": "bar baz"}, log,
                     Readiness(re.compile(r"ARGS\[(?P<args>.*)\] FOO=(?P<foo>.*)"), None, 10)) as prog:
            assert prog.wait_ready() == {"args": "-a b c", "foo": "bar baz"}
    text = log_path.read_text()
    assert "to stderr" in text and "ARGS[-a b c] FOO=bar baz" in text


def test_bare_program_name_means_the_file_here(tmp_path, monkeypatch):
    """`--exe server` runs ./server, not a `server` somewhere on $PATH (here: `true`, which prints nothing)."""
    script(tmp_path, "true", 'echo "LOCAL COPY"\nexec sleep 300\n')
    monkeypatch.chdir(tmp_path)
    with Program(check_executable("true"), readiness=Readiness(re.compile("LOCAL COPY"), None, 10)) as prog:
        assert prog.wait_ready() == {}


# -- bad input through the CLI: one line, non-zero, nothing left behind ------------------------------

def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("goinspect: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.mark.parametrize("argv, code, fragment", [
    (["--exe", "/nonexistent/prog"], 3, "no such file"),
    (["--exe", "{tmp}/plain.txt"], 3, "not executable"),
    (["--exe", "{tmp}/text.bin"], 3, "not a program this machine can run"),
    (["--exe", "{tmp}"], 3, "is a directory"),
    (["--exe", "/bin/true", "--pid", "1"], 2, "exactly one program"),
    (["--exe", "/bin/true", "--fail-on", "leak,leaky"], 2, "--fail-on takes verdicts"),
    (["--exe", "/bin/true", "--load", "http://{addr}/x", "--requests", "3"], 2, "does not capture"),
    (["--exe", "/bin/true", "--load", "ftp://host/x", "--requests", "3"], 2, "http:// or https://"),
    (["--exe", "/bin/true", "--ready-line", "(unclosed"], 2, "not a valid regular expression"),
    (["--exe", "/bin/true", "--env", "NOEQUALS"], 2, "K=V"),
    (["--exe", "/bin/true", "--warmup", "3"], 2, "--warmup needs --load"),
    (["--exe", "/bin/true", "--args", "'unbalanced"], 2, "shell-quoted"),
    (["--exe", "/bin/true", "--junit", "/nonexistent/dir/x.xml"], 3, "directory does not exist"),
    (["--pid", "999999999"], 3, "no process"),
])
def test_bad_arguments(argv, code, fragment, tmp_path):
    (tmp_path / "plain.txt").write_text("not a program\n")
    (tmp_path / "text.bin").write_text("not a program either\n")
    (tmp_path / "text.bin").chmod(0o755)
    proc = goinspect("ci", *(a.replace("{tmp}", str(tmp_path)) for a in argv), timeout=60)
    assert proc.returncode == code, proc.stderr
    assert fragment in _one_error_line(proc)


def test_program_exits_before_ready(fleet_exe):
    """The fleet program cannot listen on an impossible FLEET_ADDR and exits 2: its own error is quoted."""
    exe = fleet_exe("leakmap")
    proc = goinspect("ci", "--exe", str(exe), "--env", "FLEET_ADDR=256.1.1.1:1", "--ready-line", READY,
                     "--load", "http://{addr}/advance", "--requests", "3", timeout=60)
    line = _one_error_line(proc)
    assert proc.returncode == 5 and "exited with status 2 before it printed" in line and "listen" in line
    assert left_nothing(proc.stderr)


def test_ready_timeout_kills_the_program(fleet_exe):
    exe = fleet_exe("lru")
    t0 = time.monotonic()
    proc = goinspect("ci", "--exe", str(exe), "--ready-line", "NEVER PRINTED", "--ready-timeout", "1.5", timeout=60)
    assert proc.returncode == 5 and "within 1.5 s" in _one_error_line(proc)
    assert time.monotonic() - t0 < 20
    assert left_nothing(proc.stderr)


def test_ready_url_timeout_on_a_silent_port(fleet_exe):
    """--ready-url on a port nobody listens on: the URL never answers, the program is killed."""
    exe = fleet_exe("lru")
    port = _free_port()  # nobody listens there; the program picks its own port
    proc = goinspect("ci", "--exe", str(exe), "--ready-url", f"http://127.0.0.1:{port}/",
                     "--ready-timeout", "1", timeout=60)
    assert proc.returncode == 5 and "did not answer within 1 s" in _one_error_line(proc)
    assert left_nothing(proc.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_kills_the_program(fleet_exe, sig):
    """Ctrl-C (SIGINT) or a cancelled CI job (SIGTERM) while waiting: goinspect exits 130, the program is gone."""
    exe = fleet_exe("lru")
    # Started with SIGINT ignored, as a shell's background job is: ci must still act on it.
    proc = subprocess.Popen([sys.executable, "-m", "goinspect", "ci", "--exe", str(exe), "--ready-line", "NEVER",
                             "--ready-timeout", "60"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = proc.stderr.readline()
        pid = started_pid(line)
        assert not gone(pid)
        proc.send_signal(sig)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in rest, rest
    assert gone(pid) and not group_members(pid)


def test_goinspect_killed_outright_takes_the_program_along(fleet_exe):
    """Last resort: goinspect SIGKILLed (no clean-up runs at all); the kernel kills the program (PR_SET_PDEATHSIG)."""
    exe = fleet_exe("lru")
    proc = subprocess.Popen([sys.executable, "-m", "goinspect", "ci", "--exe", str(exe), "--ready-line", "NEVER",
                             "--ready-timeout", "60"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        pid = started_pid(proc.stderr.readline())
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10  # the orphan is reaped by init, not by us
    while group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_members(pid)


@needs_ptrace
def test_program_that_dies_during_the_run(fleet_exe):
    """The load itself stops the program (/quit): one line naming its exit, not the read that stumbled over it."""
    proc = goinspect("ci", "--exe", str(fleet_exe("lru")), "--ready-line", READY, "--load", "http://{addr}/quit",
                     "--requests", "3", "--samples", "3", "--interval", "0.2", timeout=120)
    line = _one_error_line(proc)
    assert proc.returncode not in (0, 1) and "exited with status 0 during the run" in line, proc.stderr
    assert left_nothing(proc.stderr)


# -- the whole run, both Go versions ----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Declared:
    """What a fleet program's source declares (/truth): each item's verdict, and the sampling protocol
    it holds under -- first sample at phase ``first_phase``, one step between samples."""

    expect: dict[str, str]
    first_phase: int
    extra: dict[str, Any]

    def load_options(self) -> list[str]:
        """ci options that follow the protocol: warm up to the phase before the first, then one step per sample."""
        return ["--warmup", str(self.first_phase - 1), "--requests", "3"]


def declared(fleet_service, name: str) -> Declared:
    with fleet_service(name) as svc:
        truth = svc.truth()
    return Declared(truth["expect"], truth.get("expect_from_phase") or 1, truth["extra"])


def assert_cases_match_expectations(root: ET.Element, expect: dict[str, str], fail_on: set[str]) -> None:
    """Every map and slice the program declares is a test case, failed exactly when its verdict is in fail_on."""
    c = cases(root)
    assert set(expect) <= set(c), sorted(set(expect) - set(c))
    for name, verdict in expect.items():
        assert (c[name].find("failure") is not None) == (verdict in fail_on), (name, verdict)


def _ci(exe: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], ET.Element, float]:
    junit = tmp_path / f"{exe.name}.xml"
    t0 = time.monotonic()
    proc = goinspect("ci", "--exe", str(exe), "--samples", "3", "--interval", "0.2", "--junit", str(junit), *extra)
    seconds = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert left_nothing(proc.stderr)
    root = ET.parse(junit).getroot()
    check_junit_schema(root)
    return proc, root, seconds


@needs_ptrace
def test_ci_fails_on_the_leaking_map(fleet_exe, fleet_service, tmp_path, go_version):
    """The port is discovered from the ready line; the load follows the program's declared protocol."""
    exe, decl = fleet_exe("leakmap"), declared(fleet_service, "leakmap")
    html = tmp_path / "report.html"
    proc, root, seconds = _ci(exe, tmp_path, "--ready-line", READY, "--load", "http://{addr}/advance",
                              *decl.load_options(), "--html", str(html))
    print(f"ci on leakmap (go{go_version}): {seconds:.1f} s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    c = cases(root)
    failure = c["main.sessions"].find("failure")
    assert failure is not None and failure.attrib["type"] == "leak"
    assert c["main.sessions"].attrib["classname"] == "main"
    assert "FAIL" in proc.stdout and "main.sessions" in proc.stdout
    assert_cases_match_expectations(root, decl.expect, {"leak"})
    # The load really reached the program between the snapshots: they saw the map at phases first, +1, +2.
    per_step, first = decl.extra["per_step"], decl.first_phase
    counts = " ".join(str(per_step * phase) for phase in range(first, first + 3))
    assert f"series.count: {counts}" in c["main.sessions"].find("system-out").text
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html") and "main.sessions" in page


@needs_ptrace
def test_ci_passes_a_bounded_lru(fleet_exe, fleet_service, tmp_path, go_version):
    """A fixed address (FLEET_ADDR) known up front, readiness by URL; warmed up to its declared first phase."""
    exe, decl = fleet_exe("lru"), declared(fleet_service, "lru")
    addr = f"127.0.0.1:{_free_port()}"
    proc, root, seconds = _ci(exe, tmp_path, "--env", f"FLEET_ADDR={addr}", "--ready-url", f"http://{addr}/truth",
                              "--load", f"http://{addr}/advance", *decl.load_options())
    print(f"ci on lru (go{go_version}): {seconds:.1f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    c = cases(root)
    assert "main.index" in c and root.attrib["failures"] == "0"
    assert all(case.find("failure") is None for case in c.values())
    assert "PASS" in proc.stdout
    assert_cases_match_expectations(root, decl.expect, {"leak"})


@needs_ptrace
def test_fail_on_other_verdicts(fleet_exe, fleet_service, tmp_path):
    """--fail-on churn fails the same LRU (its declared verdict is churn); --filter keeps only main's items,
    and the heap profile is fetched once per sample (--profile-url)."""
    exe, decl = fleet_exe("lru"), declared(fleet_service, "lru")
    proc, root, _ = _ci(exe, tmp_path, "--ready-line", READY, "--load", "http://{addr}/advance",
                        *decl.load_options(), "--fail-on", "churn,leak", "--filter", r"^main\.",
                        "--profile-url", "http://{addr}/debug/pprof/heap", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expect = {k: v for k, v in decl.expect.items() if k.startswith("main.")}
    assert set(cases(root)) == set(expect)
    assert_cases_match_expectations(root, expect, {"churn", "leak"})
    report = json.loads(proc.stdout)
    assert report["ci"]["failing"] == sorted(n for n, v in expect.items() if v in ("churn", "leak"))
    assert len(report["target"]["profiles"]) == 3


@needs_ptrace
def test_ci_on_a_running_pid_leaves_it_running(fleet_service, tmp_path):
    """--pid: the load and the snapshots as with --exe, but the process is somebody else's: it keeps running."""
    with fleet_service("leakmap") as svc:
        junit = tmp_path / "pid.xml"
        proc = goinspect("ci", "--pid", str(svc.pid), "--load", f"{svc.base_url}/advance", "--requests", "6",
                         "--concurrency", "2", "--samples", "3", "--interval", "0.2", "--junit", str(junit), "--json")
        assert proc.returncode == 1, proc.stderr
        ci = json.loads(proc.stdout)["ci"]
        assert ci["failing"] == ["main.sessions"] and ci["load"]["per_sample"] == [2, 2, 2]
        truth = svc.truth()
        assert svc.alive and truth["phase"] == 6  # every request arrived, and the program still serves
        root = ET.parse(junit).getroot()
        check_junit_schema(root)
        assert cases(root)["main.sessions"].find("failure") is not None
