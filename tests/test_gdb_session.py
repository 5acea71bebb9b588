"""The gdb session: untrusted binaries run no scripts, hung gdb is killed, live targets always detached.

Runs real gdb against real fleet binaries and processes. The auto-load test
first proves its planted script *does* run in a gdb that trusts it, so the
negative result for goinspect's session means something.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from goinspect.gdb.session import GdbCommandError, GdbError, GdbSession, process_state

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="attaching needs root (ptrace) here")
PYTHON = sys.executable


def _exe_with_inline_script(src: Path, dst: Path, marker: Path) -> Path:
    """Copy ``src`` and replace its ``.debug_gdb_scripts`` with an inline Python script that creates ``marker``."""
    script = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n"
    section = b"\x04" + b"goinspect-test-planted\n" + script.encode() + b"\x00"
    blob = dst.with_suffix(".section")
    blob.write_bytes(section)
    subprocess.run(["objcopy", "--remove-section=.debug_gdb_scripts",
                    f"--add-section=.debug_gdb_scripts={blob}", str(src), str(dst)], check=True)
    return dst


@pytest.mark.skipif(shutil.which("objcopy") is None, reason="needs objcopy")
def test_scripts_in_the_binary_are_not_run(fleet_exe, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    exe = _exe_with_inline_script(fleet_exe("leakmap"), tmp_path / "planted", marker)
    # Control: a gdb that trusts every path does run the planted script.
    subprocess.run(["gdb", "--nx", "-q", "-batch", "-iex", "set auto-load safe-path /", "-ex", f"file {exe}"],
                   capture_output=True, timeout=60, check=False)
    assert marker.exists(), "control failed: the planted .debug_gdb_scripts did not run even when trusted"
    marker.unlink()
    with GdbSession() as gdb:
        gdb.load_file(exe)
        info = gdb.json_command("-goinspect-info")
    assert info["go_version"].startswith("go1.")
    assert not marker.exists(), "goinspect's gdb session ran a script from the inspected binary"


def test_hung_gdb_is_killed_at_the_deadline() -> None:
    with GdbSession(timeout=30) as gdb:
        started = time.monotonic()
        with pytest.raises(GdbError, match="did not answer .* within 1 s and was stopped"):
            gdb.command('-interpreter-exec console "python import time; time.sleep(60)"', timeout=1.0)
        assert time.monotonic() - started < 5
        assert process_state(gdb.pid) is None  # gdb is gone (killed and reaped)
        with pytest.raises(GdbError, match="not running"):
            gdb.command("-gdb-version")


def test_errors_are_one_sentence(tmp_path: Path) -> None:
    with GdbSession() as gdb:
        with pytest.raises(GdbCommandError) as info:
            gdb.load_file(tmp_path / "missing")
    text = str(info.value)
    assert "\n" not in text and "missing" in text
    assert info.value.gdb_message


def test_verbose_writes_the_mi_transcript_to_stderr(capfd) -> None:
    with GdbSession(verbose=True) as gdb:
        gdb.json_command("-goinspect-layout runtime.hmap")
    err = capfd.readouterr().err
    assert "--interpreter=mi3" in err and "set auto-load off" in err
    assert "-goinspect-layout runtime.hmap" in err  # the command, with its token
    assert "< result" in err  # and gdb's answer


@needs_root
def test_attach_detach_leaves_the_target_running(fleet_service) -> None:
    with fleet_service("leakmap") as svc, GdbSession() as gdb:
        with gdb.attached(svc.pid):
            assert process_state(svc.pid) == "t"  # stopped by the tracer
        assert process_state(svc.pid) in ("S", "R")
        assert _tracer(svc.pid) == 0
        svc.advance(1)  # and it still serves


@needs_root
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_attached_detaches_first(fleet_service, signum: int) -> None:
    """A goinspect killed politely mid-pause detaches before it exits; the target keeps running."""
    with fleet_service("leakmap") as svc:
        code = textwrap.dedent(f"""
            import sys, time
            from goinspect.gdb.session import GdbSession, Interrupted
            with GdbSession() as gdb:
                try:
                    with gdb.attached({svc.pid}):
                        print("ATTACHED", flush=True)
                        time.sleep(60)
                except Interrupted as exc:
                    print("ERR", exc, flush=True)
                    sys.exit(exc.exit_code)
        """)
        proc = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ATTACHED"
            assert process_state(svc.pid) == "t"
            proc.send_signal(signum)
            out, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 128 + signum
        assert "detached and left running" in out
        assert process_state(svc.pid) in ("S", "R")
        assert _tracer(svc.pid) == 0
        svc.advance(1)


def _tracer(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


@needs_root
def test_hung_gdb_while_attached_is_killed_and_the_target_resumes(fleet_service) -> None:
    with fleet_service("leakmap") as svc, GdbSession() as gdb:
        with pytest.raises(GdbError, match="within 1 s"):
            with gdb.attached(svc.pid):
                assert process_state(svc.pid) == "t"
                os.kill(gdb.pid, signal.SIGSTOP)  # gdb hangs (stopped), holding the target stopped too
                gdb.command("-goinspect-info", timeout=1.0)
        assert process_state(gdb.pid) is None
        assert process_state(svc.pid) in ("S", "R") and _tracer(svc.pid) == 0
        svc.advance(1)


@needs_root
def test_nothing_but_reads_reach_an_attached_target(fleet_service) -> None:
    with fleet_service("leakmap") as svc, GdbSession() as gdb:
        with gdb.attached(svc.pid):
            for mi in ("-data-evaluate-expression 1", '-interpreter-exec console "call runtime.GC()"',
                       '-interpreter-exec console "set var main.nextID = 0"', "-exec-continue",
                       "-data-write-memory-bytes 0xc000000000 00"):
                with pytest.raises(GdbError, match=r"refusing to send .* \(only reads are allowed\)"):
                    gdb.command(mi)
            assert gdb.json_command("-goinspect-info")["go_version"].startswith("go1.")
        assert process_state(svc.pid) in ("S", "R") and _tracer(svc.pid) == 0
        svc.advance(1)


@needs_root
def test_goinspect_killed_outright_still_detaches(fleet_service) -> None:
    """SIGKILL gives goinspect no chance to clean up: gdb sees EOF on its stdin, quits, and quitting detaches."""
    with fleet_service("leakmap") as svc:
        code = textwrap.dedent(f"""
            import time
            from goinspect.gdb.session import GdbSession
            gdb = GdbSession()
            with gdb.attached({svc.pid}):
                print("ATTACHED", gdb.pid, flush=True)
                time.sleep(60)
        """)
        proc = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, text=True)
        word, gdb_pid = proc.stdout.readline().split()
        assert word == "ATTACHED" and process_state(svc.pid) == "t"
        proc.kill()
        proc.wait()
        for _ in range(100):
            if process_state(int(gdb_pid)) is None:
                break
            time.sleep(0.05)
        assert process_state(int(gdb_pid)) is None
        assert process_state(svc.pid) in ("S", "R") and _tracer(svc.pid) == 0
        svc.advance(1)
