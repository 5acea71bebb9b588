"""Targets: live fleet processes and their cores, read through every memory backend, and every bad input.

Ground truth is the fleet program's own ``/truth`` (what it reads about its maps
through ``unsafe``); the core is written by gdb's ``gcore`` during the same pause
as the live reads, so all four readers (``/proc/PID/mem``, gdb live, the core
mmap'd, gdb on the core) must return identical bytes. One core per Go version,
deleted when the session ends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from goinspect.errors import GoinspectError, InputError
from goinspect.gdb.session import process_state
from goinspect.run.build import build_program
from goinspect.run.process import GoService
from goinspect.run.toolchain import ensure_go
from goinspect.target import TargetExited, UnreadableMemory, open_core, open_live
from goinspect.target.elf import data_symbols, read_core
from goinspect.target.open import gdb_memory

from conftest import FLEET_DIR, expected_map_impl

pytestmark = [
    pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb"),
    pytest.mark.skipif(os.geteuid() != 0, reason="attaching needs root (ptrace) here"),
]


@dataclass
class Snapshot:
    exe: Path
    pid: int
    truth: dict
    core: Path
    header_addr: int
    ranges: list[tuple[int, int]]
    live: dict[tuple[int, int], bytes]
    live_gdb: dict[tuple[int, int], bytes]
    unreadable: tuple[int, int]
    pause_s: float
    open_s: float


def _u64(data: bytes, off: int = 0) -> int:
    return struct.unpack_from("<Q", data, off)[0]


def _ranges(target, sessions) -> tuple[int, list[tuple[int, int]]]:
    """Ranges worth comparing: the global, the map header, its bucket/group arrays, heap around them,
    and executable bytes (text, rodata) that a core may leave to the exe."""
    mem = target.memory
    mt = target.map_type(sessions.type_name)
    header = target.layout(mt.header)
    hdr_addr = _u64(mem.read(sessions.addr, 8))
    hdr = mem.read(hdr_addr, header.size)
    ranges = [(sessions.addr, 8), (hdr_addr, header.size)]
    if mt.impl == "hmap":
        b = hdr[header["B"].offset]
        buckets = _u64(hdr, header["buckets"].offset)
        ranges.append((buckets, target.type_size(mt.bucket) << b))
        arrays = buckets
    else:
        dir_ptr, dir_len = _u64(hdr, header["dirPtr"].offset), _u64(hdr, header["dirLen"].offset)
        table = target.layout(mt.table)
        ranges.append((dir_ptr, 8 * dir_len))
        first = _u64(mem.read(dir_ptr, 8))
        ranges.append((first, table.size))
        groups = target.layout(table["groups"].type_name)
        raw = mem.read(first + table["groups"].offset, groups.size)
        data, mask = _u64(raw, groups["data"].offset), _u64(raw, groups["lengthMask"].offset)
        ranges.append((data, (mask + 1) * target.type_size(mt.group)))
        arrays = data
    ranges.append((arrays & ~0xFFFF, 1 << 18))  # heap around them, page-crossing
    exe_text = min(s.vaddr for s in target._exe_info.segments)
    ranges.append((exe_text + 0x1000, 0x3000))  # text (file-backed)
    build_version = dict(data_symbols(target.exe))["runtime.buildVersion"]
    ranges.append((build_version, 16))  # data: a string header pointing into rodata
    ptr, length = struct.unpack("<QQ", mem.read(build_version, 16))
    ranges.append((ptr, length))  # rodata, which gcore does not dump: the core reader takes it from the exe
    return hdr_addr, ranges


@pytest.fixture(scope="session")
def snapshot(fleet_service, fleet_exe, go_version, tmp_path_factory):
    """A leakmap process after 5 steps: live reads of several ranges, and a core from the same pause."""
    core = tmp_path_factory.mktemp(f"core-{go_version}") / "leakmap.core"
    with fleet_service("leakmap") as svc:
        svc.advance(5)
        truth = svc.truth()
        started = time.perf_counter()
        with open_live(svc.pid) as target:
            open_s = time.perf_counter() - started
            sessions = next(g for g in target.globals() if g.name == "main.sessions")
            with target.paused():
                hdr_addr, ranges = _ranges(target, sessions)
                live = {r: target.memory.read(*r) for r in ranges}
                via_gdb = gdb_memory(target)
                live_gdb = {r: via_gdb.read(*r) for r in ranges}
                target._gdb().dump_core(core)
            pause = target.pauses[-1]
        yield Snapshot(fleet_exe("leakmap"), svc.pid, truth, core, hdr_addr, ranges, live, live_gdb,
                       (0x1000, 64), pause, open_s)
    core.unlink(missing_ok=True)


def test_live_target_identity_and_types_match_the_program(snapshot, go_version) -> None:
    truth = snapshot.truth["maps"]["main.sessions"]
    with open_live(snapshot.pid) as target:
        assert target.go_version == snapshot.truth["go_version"].removeprefix("go") == go_version
        assert target.map_impl == {"classic": "hmap", "swiss": "swiss"}[expected_map_impl(go_version)]
        assert target.exe.resolve() == snapshot.exe.resolve()
        sessions = next(g for g in target.globals() if g.name == "main.sessions")
        assert sessions.kind == "map" and sessions.type_name == "map[int64]*main.session"
        mt = target.map_type(sessions.type_name)
        assert (mt.key, mt.elem) == (truth["key"], truth["elem"])
        if mt.impl == "hmap":
            assert target.type_size(mt.bucket) == truth["type"]["bucket_size"]
        else:
            assert target.type_size(mt.group) == 8 + 8 * (truth["key_size"] + truth["elem_size"])
        header = target.layout(mt.header)
        hdr = snapshot.live[(snapshot.header_addr, header.size)]
    assert snapshot.header_addr == int(truth["addr"], 16)
    count_field = "count" if mt.impl == "hmap" else "used"
    assert _u64(hdr, header[count_field].offset) == truth["len"] == 5000
    if mt.impl == "hmap":
        assert hdr[header["B"].offset] == truth["header"]["B"]
        assert _u64(hdr, header["buckets"].offset) == int(truth["header"]["buckets"], 16)
    else:
        assert _u64(hdr, header["dirLen"].offset) == truth["header"]["dirLen"]


def test_globals_agree_with_go_tool_nm_and_the_sources(snapshot, toolchain) -> None:
    """Addresses equal Go's own ``go tool nm``; kinds and container paths agree with the Go sources."""
    nm = subprocess.run([str(toolchain.go), "tool", "nm", str(snapshot.exe)], capture_output=True, text=True,
                        check=True, env={**os.environ, "GOTOOLCHAIN": "local"}).stdout
    nm_addr = {parts[2]: int(parts[0], 16) for parts in map(str.split, nm.splitlines())
               if len(parts) == 3 and parts[1] in "DB"}
    with open_live(snapshot.pid) as target:
        found = {g.name: g for g in target.globals()}
    assert found and all(nm_addr[name] == g.addr for name, g in found.items())
    assert set(snapshot.truth["maps"]) <= {n for n, g in found.items() if g.kind == "map"}
    # runtime/pprof: `var profiles struct { mu sync.Mutex; m map[string]*Profile }`
    source = (toolchain.goroot / "src" / "runtime" / "pprof" / "pprof.go").read_text()
    assert re.search(r"var profiles struct \{\s*mu +sync.Mutex\s*m +map\[string\]\*Profile", source)
    profiles = found["runtime/pprof.profiles"]
    assert profiles.kind == "struct"
    [m] = profiles.paths
    assert (m.suffix, m.type_name, m.kind, len(m.steps)) == (".m", "map[string]*runtime/pprof.Profile", "map", 1)
    # time: `var Local *Location = &localLoc`; Location's slice fields are read from its source
    zoneinfo = (toolchain.goroot / "src" / "time" / "zoneinfo.go").read_text()
    assert "var Local *Location = &localLoc" in zoneinfo
    body = zoneinfo[zoneinfo.index("type Location struct {"):]
    body = body[:body.index("\n}")]
    slice_fields = re.findall(r"^\s+(\w+)\s+\[\]", body, re.M)
    local, loc = found["time.Local"], found["time.localLoc"]
    assert local.kind == "ptr" and local.type_name == "*time.Location" and loc.kind == "struct"
    assert [p.suffix for p in local.paths] == [f".{f}" for f in slice_fields] == [".zone", ".tx"]
    # the same fields, one pointer load further: through Local's pointer, or at localLoc itself
    assert [p.steps for p in local.paths] == [(0, *p.steps) for p in loc.paths]


def test_the_four_memory_backends_return_identical_bytes(snapshot) -> None:
    assert snapshot.live == snapshot.live_gdb
    with open_core(snapshot.core, snapshot.exe) as target:
        from_core = {r: target.memory.read(*r) for r in snapshot.ranges}
        core_gdb = gdb_memory(target, snapshot.core)
        from_core_gdb = {r: core_gdb.read(*r) for r in snapshot.ranges}
        for mem in (target.memory, core_gdb):
            with pytest.raises(UnreadableMemory):
                mem.read(*snapshot.unreadable)
    assert from_core == snapshot.live
    assert from_core_gdb == snapshot.live


def _crash_with_kernel_core(exe: Path, workdir: Path, steps: int, while_alive=None):
    """Run ``exe`` in ``workdir``, advance it, let ``while_alive(pid)`` look at it, then make the kernel dump
    its core (GOTRACEBACK=crash + SIGQUIT). Returns (core path, /truth, while_alive's result)."""
    if Path("/proc/sys/kernel/core_pattern").read_text().strip() not in ("core", "core.%p"):
        pytest.skip("kernel.core_pattern does not write a core file in the process's directory")

    def allow_core() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    proc = subprocess.Popen([str(exe)], cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, preexec_fn=allow_core, env={**os.environ, "GOTRACEBACK": "crash"})
    try:
        addr = proc.stdout.readline().decode().split()[1]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(f"http://{addr}/advance?steps={steps}", timeout=30).read()
        truth = json.loads(opener.open(f"http://{addr}/truth", timeout=30).read())
        seen = while_alive(proc.pid) if while_alive else None
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cores = sorted(workdir.glob("core*"))
    if not cores:
        pytest.skip("the kernel wrote no core file (RLIMIT_CORE or core_pattern)")
    return cores[0], truth, seen


def _sessions_header(target) -> tuple[int, int, int]:
    """(address of main.sessions, its header address, its count) read through ``target``."""
    sessions = next(g for g in target.globals() if g.name == "main.sessions")
    mt = target.map_type(sessions.type_name)
    header = target.layout(mt.header)
    with target.paused():
        hdr_addr = _u64(target.memory.read(sessions.addr, 8))
        hdr = target.memory.read(hdr_addr, header.size)
    return sessions.addr, hdr_addr, _u64(hdr, header["count" if mt.impl == "hmap" else "used"].offset)


@pytest.fixture(scope="session")
def kernel_core(fleet_exe, go_version, tmp_path_factory):
    """A core written by the kernel itself, as production crashes leave them (~40 MB): unlike gcore it
    leaves file-backed pages out (``p_filesz`` 0 or one page), so reads fall back to the exe."""
    workdir = tmp_path_factory.mktemp(f"kcore-{go_version}")
    exe = fleet_exe("leakmap")
    core, truth, _ = _crash_with_kernel_core(exe, workdir, 3)
    yield core, exe, truth
    shutil.rmtree(workdir, ignore_errors=True)


def test_kernel_core_reads_through_to_the_executable(kernel_core, go_version) -> None:
    core, exe, truth = kernel_core
    info = read_core(core)
    assert any(s.filesz < s.memsz and s.filesz == 0 for s in info.segments), "expected segments left to the exe"
    with open_core(core, exe) as target:
        assert target.go_version == go_version
        _, hdr_addr, count = _sessions_header(target)
        build_version = dict(data_symbols(exe))["runtime.buildVersion"]
        ptr, length = struct.unpack("<QQ", target.memory.read(build_version, 16))
        text = target.memory.read(ptr, length)  # rodata: not in the core, read from the executable
    assert hdr_addr == int(truth["maps"]["main.sessions"]["addr"], 16)
    assert count == truth["maps"]["main.sessions"]["len"] == 3000
    assert text.decode() == truth["go_version"]


def test_pie_executable_live_and_kernel_core(toolchain, tmp_path: Path) -> None:
    """-buildmode=pie: globals move by the load bias (from /proc/PID/maps live, NT_FILE in the core)."""
    exe = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=["-buildmode=pie"])
    static_addr = dict(data_symbols(exe))["main.sessions"]

    def look(pid: int):
        with open_live(pid) as target:
            return _sessions_header(target)

    core, truth, live = _crash_with_kernel_core(exe, tmp_path, 2, look)
    with open_core(core, exe) as target:
        from_core = _sessions_header(target)
    assert live == from_core
    var_addr, hdr_addr, count = live
    assert var_addr != static_addr  # really relocated
    assert hdr_addr == int(truth["maps"]["main.sessions"]["addr"], 16) and count == truth["maps"]["main.sessions"]["len"]


def test_core_target_finds_the_same_variables_and_types(snapshot, go_version) -> None:
    with open_live(snapshot.pid) as live:
        live_globals = {g.name: g for g in live.globals()}
        live_types = {n: live.layout(n) for n in ("runtime.mspan", "runtime.slice")}
    with open_core(snapshot.core, snapshot.exe) as core:
        assert core.go_version == go_version
        assert {g.name: g for g in core.globals()} == live_globals
        assert {n: core.layout(n) for n in live_types} == live_types
        assert core._session is None, "a core whose types are cached needs no gdb at all"
        with core.paused():  # a no-op for cores
            assert _u64(core.memory.read(live_globals["main.sessions"].addr, 8)) == snapshot.header_addr


def test_pause_and_open_times_are_reported(snapshot, go_version) -> None:
    print(f"\ngo{go_version}: open_live {snapshot.open_s * 1000:.0f} ms, pause {snapshot.pause_s * 1000:.1f} ms "
          f"(reads of {sum(s for _, s in snapshot.ranges)} bytes through two backends + gcore)")
    assert 0 < snapshot.pause_s
    with open_live(snapshot.pid) as target:
        with target.paused():
            target.memory.read(snapshot.header_addr, 8)
        assert len(target.pauses) == 1 and target.pauses[0] < 0.25, target.pauses


def test_live_memory_is_not_read_while_running(snapshot) -> None:
    with open_live(snapshot.pid) as target:
        for mem in (target.memory, gdb_memory(target)):
            with pytest.raises(GoinspectError, match="only inside Target.paused"):
                mem.read(snapshot.header_addr, 8)
        with target.paused(), target.paused():  # nested blocks share one pause
            assert gdb_memory(target).read(snapshot.header_addr, 8) == target.memory.read(snapshot.header_addr, 8)
        assert len(target.pauses) == 1


# -- bad input ----------------------------------------------------------------------------


def _our_gdbs() -> list[int]:
    """gdb processes this test process started and has not ended."""
    kids = []
    for task in Path("/proc/self/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [k for k in kids if Path(f"/proc/{k}/comm").exists() and Path(f"/proc/{k}/comm").read_text().strip() == "gdb"]


def _assert_running(pid: int) -> None:
    assert process_state(pid) in ("S", "R", "D"), f"target {pid} is in state {process_state(pid)}"
    status = Path(f"/proc/{pid}/status").read_text()
    assert "TracerPid:\t0" in status


def test_no_such_pid() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    with pytest.raises(InputError, match=f"process {pid_max + 1} does not exist"):
        open_live(pid_max + 1)


def test_not_a_go_process() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.05)
        with pytest.raises(InputError, match=r"\(sleep\) is not a Go program"):
            open_live(proc.pid)
        _assert_running(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_stripped_binary_says_dwarf_is_missing(toolchain, fleet_exe, snapshot) -> None:
    exe = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=["-ldflags=-s -w"])
    with GoService(exe) as svc:
        with pytest.raises(InputError, match="has no DWARF debug information"):
            open_live(svc.pid)
        _assert_running(svc.pid)
        svc.advance(1)
    with pytest.raises(InputError, match="has no DWARF debug information"):
        open_core(snapshot.core, exe)


def test_process_that_exits_mid_read(fleet_service) -> None:
    with fleet_service("leakmap") as svc:
        svc.advance(1)
        with open_live(svc.pid) as target:
            sessions = next(g for g in target.globals() if g.name == "main.sessions")
            with pytest.raises(TargetExited, match=f"process {svc.pid} exited while goinspect was reading it"):
                with target.paused():
                    target.memory.read(sessions.addr, 8)
                    os.kill(svc.pid, signal.SIGKILL)
                    for _ in range(100):
                        target.memory.read(sessions.addr, 8)
                        time.sleep(0.01)


def test_process_traced_by_another_debugger(fleet_service) -> None:
    with fleet_service("leakmap") as svc:
        other = subprocess.Popen(["gdb", "--nx", "-q", "-batch", "-p", str(svc.pid), "-ex", "shell sleep 3"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(200):
                if f"TracerPid:\t{other.pid}" in Path(f"/proc/{svc.pid}/status").read_text():
                    break
                time.sleep(0.02)
            with pytest.raises(InputError, match=f"already being traced by process {other.pid}"):
                open_live(svc.pid)
        finally:
            other.wait(timeout=30)
        _assert_running(svc.pid)
        svc.advance(1)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_permission_denied_for_another_users_process(fleet_exe) -> None:
    """Real: the target runs as 'nobody'; goinspect runs as root without CAP_SYS_PTRACE, so the kernel refuses."""
    workdir = Path(tempfile.mkdtemp(prefix="goinspect-perm-"))
    try:
        workdir.chmod(0o755)
        exe = workdir / "leakmap"
        shutil.copy(fleet_exe("leakmap"), exe)
        exe.chmod(0o755)
        target = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(exe)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=workdir)
        try:
            assert target.stdout.readline().startswith(b"LISTEN")
            code = textwrap.dedent(f"""
                import sys
                from goinspect.errors import GoinspectError
                from goinspect.target import open_live
                try:
                    open_live({target.pid})
                except GoinspectError as exc:
                    print(exc); sys.exit(exc.exit_code)
            """)
            result = subprocess.run(
                ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", sys.executable, "-c", code],
                capture_output=True, text=True, timeout=60)
            assert result.returncode == InputError.exit_code, result.stderr
            assert f"permission denied inspecting process {target.pid}" in result.stdout
            assert "uid 65534" in result.stdout
            _assert_running(target.pid)
        finally:
            target.kill()
            target.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_core_of_another_program(snapshot, fleet_exe) -> None:
    with pytest.raises(InputError, match=f"was not dumped from {fleet_exe('churn')}"):
        open_core(snapshot.core, fleet_exe("churn"))


def test_truncated_core(snapshot, tmp_path: Path) -> None:
    cut = tmp_path / "cut.core"
    with open(snapshot.core, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(8 << 20))
    with pytest.raises(InputError, match="is truncated: it has 8388608 bytes"):
        open_core(cut, snapshot.exe)


def test_not_a_core(snapshot) -> None:
    with pytest.raises(InputError, match="is not a core dump"):
        open_core(snapshot.exe, snapshot.exe)


def test_unsupported_go_version(toolchain) -> None:
    """A real Go binary whose runtime reports a release outside 1.21-1.27 (runtime.buildVersion set by the linker)."""
    exe = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=["-ldflags=-X=runtime.buildVersion=go1.99.1"])
    with GoService(exe) as svc:
        with pytest.raises(InputError, match=r"built by Go 1\.99\.1, which goinspect does not support"):
            open_live(svc.pid)
        _assert_running(svc.pid)
        assert _our_gdbs() == []  # the gdb started to read its types was ended
        svc.advance(1)


@pytest.mark.allgo
@pytest.mark.parametrize("version", ["1.24.11", "1.25.5"])
@pytest.mark.parametrize("goexperiment,impl", [("noswissmap", "hmap"), (None, "swiss")])
def test_map_implementation_comes_from_the_types(version, goexperiment, impl) -> None:
    """Go 1.24/1.25 built with GOEXPERIMENT=noswissmap have classic maps: detected from DWARF, not the version."""
    exe = build_program(ensure_go(version), FLEET_DIR, "./cmd/leakmap", goexperiment=goexperiment)
    with GoService(exe) as svc:
        svc.advance(2)
        truth = svc.truth()["maps"]["main.sessions"]
        with open_live(svc.pid) as target:
            assert target.go_version == version and target.map_impl == impl
            sessions = next(g for g in target.globals() if g.name == "main.sessions")
            mt = target.map_type(sessions.type_name)
            header = target.layout(mt.header)
            with target.paused():
                hdr_addr = _u64(target.memory.read(sessions.addr, 8))
                hdr = target.memory.read(hdr_addr, header.size)
        assert mt.impl == impl and hdr_addr == int(truth["addr"], 16)
        assert _u64(hdr, header["count" if impl == "hmap" else "used"].offset) == truth["len"] == 2000


# -- the same bad inputs through the real CLI (goinspect maps) ------------------------------

#: The real command line, as an installed ``goinspect`` runs it.
_GOINSPECT = [sys.executable, "-m", "goinspect"]


def _cli_error(*args: str) -> str:
    """Run ``goinspect maps ARGS``; assert one error line, exit code 3, no traceback; return the line."""
    result = subprocess.run([*_GOINSPECT, "maps", *args], capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == InputError.exit_code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("goinspect: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def test_cli_bad_pids() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert "does not exist" in _cli_error("--pid", str(pid_max + 1))
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert "(sleep) is not a Go program" in _cli_error("--pid", str(proc.pid))
        _assert_running(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_cli_bad_binaries(toolchain) -> None:
    stripped = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=["-ldflags=-s -w"])
    future = build_program(toolchain, FLEET_DIR, "./cmd/leakmap", flags=["-ldflags=-X=runtime.buildVersion=go1.99.1"])
    with GoService(stripped) as a, GoService(future) as b:
        assert "has no DWARF debug information" in _cli_error("--pid", str(a.pid))
        assert "built by Go 1.99.1" in _cli_error("--pid", str(b.pid))
        for svc in (a, b):
            _assert_running(svc.pid)
            svc.advance(1)


def test_cli_bad_cores(snapshot, fleet_exe, tmp_path: Path) -> None:
    assert "was not dumped from" in _cli_error("--core", str(snapshot.core), "--exe", str(fleet_exe("churn")))
    cut = tmp_path / "cut.core"
    with open(snapshot.core, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(1 << 20))
    assert "is truncated" in _cli_error("--core", str(cut), "--exe", str(snapshot.exe))


def test_cli_process_killed_while_paused(fleet_service) -> None:
    """The target dies while goinspect has it stopped (killed once /proc says it is traced-stopped)."""
    with fleet_service("leakmap") as svc:
        svc.advance(300)  # 300,000 entries: a pause of tens of milliseconds
        proc = subprocess.Popen([*_GOINSPECT, "maps", "--pid", str(svc.pid)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None and process_state(svc.pid) != "t":
            time.sleep(0.0002)
        time.sleep(0.005)  # let the attach finish and the reads start
        os.kill(svc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == InputError.exit_code, err
    assert re.fullmatch(rf"goinspect: error: process {svc.pid} exited (while goinspect was reading it"
                        r"|before goinspect could attach to it)\.\n", err), err
    print(err.strip())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_interrupted_while_paused_detaches(fleet_service, signum: int) -> None:
    """Ctrl-C (or a polite kill) while goinspect maps has the target stopped: detach, one line, 128+signal."""
    with fleet_service("leakmap") as svc:
        svc.advance(300)
        proc = subprocess.Popen([*_GOINSPECT, "maps", "--pid", str(svc.pid)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None and process_state(svc.pid) != "t":
            time.sleep(0.0002)
        time.sleep(0.005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signum, err
        assert err == f"goinspect: error: interrupted by {signal.Signals(signum).name}; " \
                      "the target process was detached and left running.\n"
        _assert_running(svc.pid)
        svc.advance(1)


def test_layout_cache_round_trip_and_pruning(monkeypatch, tmp_path: Path) -> None:
    from goinspect.target import layouts

    monkeypatch.setenv("GOINSPECT_CACHE", str(tmp_path))
    monkeypatch.setattr(layouts, "_KEEP", 3)
    for i in range(5):
        cache = layouts.LayoutCache.load(f"build-{i}")
        cache.put("info", {"go_version": f"go1.2{i}"})
        cache.save()
        time.sleep(0.01)
    assert len(list((tmp_path / "layouts").glob("*.json"))) == 3
    assert layouts.LayoutCache.load("build-4").get("info") == {"go_version": "go1.24"}
    assert layouts.LayoutCache.load("build-0").get("info") is None  # least recently used: pruned
