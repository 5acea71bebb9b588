"""Opening a live Go process or a core dump as a :class:`Target`: validation, types, memory, pausing.

Everything that can be checked without stopping the process is checked first
(does it exist, is it Go, has it DWARF, is it a supported release, is another
debugger attached), and all symbols, types and globals are loaded *before*
gdb attaches, so a live target is stopped only for the reads themselves, inside
``with target.paused():``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goinspect.errors import GoinspectError, InputError
from goinspect.gdb.session import GdbCommandError, GdbSession, process_state
from goinspect.target.elf import CoreInfo, ExeInfo, data_symbols, read_core, read_exe
from goinspect.target.layouts import LayoutCache, MapType, MissingType, StructLayout, layout_or_error
from goinspect.target.memory import CoreMemory, GdbMemory, Memory, ProcMemory, Segment, TargetExited

#: Runtime types every map/slice reader needs; fetched before attaching (missing ones are simply absent).
RUNTIME_TYPES = (
    "runtime.hmap", "runtime.mapextra", "runtime.bmap",
    "internal/runtime/maps.Map", "internal/runtime/maps.table", "internal/runtime/maps.groupsReference",
    "runtime.mspan", "runtime.mheap", "runtime.heapArena", "runtime.slice", "runtime.gcBits", "string",
)


@dataclass(frozen=True, slots=True)
class ContainerPath:
    """A map or slice inside a global: named ``global + suffix`` (``.store.m``, ``[3].m``), found from the
    global's address by ``steps`` -- add the first, then for each next one load the pointer there and
    add it (a nil pointer on the way: nothing there now)."""

    suffix: str
    steps: tuple[int, ...]
    type_name: str
    kind: str  # 'map' | 'slice'


@dataclass
class GlobalVar:
    """A global variable holding a map or slice, or one with maps/slices inside (``paths``: struct fields,
    array elements, through pointers -- up to three pointers deep)."""

    name: str
    addr: int
    type_name: str
    kind: str  # 'map' | 'slice' | 'struct' | 'array' | 'ptr'
    paths: tuple[ContainerPath, ...] = ()


def supported_releases() -> tuple[tuple[int, int], tuple[int, int]]:
    """Oldest and newest (major, minor) Go release goinspect has layouts and models for."""
    from goinspect.model.version import MIN_MODELLED, NEWEST

    return (MIN_MODELLED.major, MIN_MODELLED.minor), (NEWEST.major, NEWEST.minor)


class Target:
    """A Go program's memory and types: a live process (``pid``) or a core. Use as a context manager."""

    def __init__(self, *, exe: ExeInfo, exe_path_for_gdb: str, what: str, memory: Memory, cache: LayoutCache,
                 session: GdbSession | None, pid: int | None = None, bias: int = 0, verbose: bool = False,
                 timeout: float = 30.0) -> None:
        self.exe = exe.path
        self.build_id = exe.build_id
        self.pid = pid
        self.memory = memory
        self.pauses: list[float] = []
        self._exe_info = exe
        self._gdb_path = exe_path_for_gdb
        self._what = what
        self._cache = cache
        self._session = session
        self._bias = bias
        self._verbose = verbose
        self._timeout = timeout
        self._closed = False
        self._paused = False
        try:
            info = self._info()
            self.go_version = _check_version(info.get("go_version", ""), what)
            _prefetch(self)
        except BaseException:
            self.close()  # gdb, memory and files go with a target that could not be opened
            raise
        impls = info.get("map_impls") or []
        self.map_impl = "swiss" if impls == ["swiss"] else "hmap" if "hmap" in impls else ("swiss" if impls else "")

    # -- types -----------------------------------------------------------------------

    def layout(self, type_name: str) -> StructLayout:
        """The DWARF layout of the type Go calls ``type_name`` (e.g. ``runtime.hmap``, ``bucket<K,V>``)."""
        return layout_or_error(self._raw_layouts([type_name])[type_name], type_name)

    def type_size(self, type_name: str) -> int:
        return self.layout(type_name).size

    def has_type(self, type_name: str) -> bool:
        return self._raw_layouts([type_name])[type_name] is not None

    def prefetch(self, type_names: list[str] | tuple[str, ...]) -> None:
        """Load several layouts in one gdb round trip (do it before ``paused()``)."""
        self._raw_layouts(list(type_names))

    def map_type(self, type_name: str) -> MapType:
        """The runtime types (header, bucket or table/group, key, elem) behind Go map type ``map[K]V``."""
        raw = self._raw_map_types([type_name])[type_name]
        if not raw:
            raise MissingType(f"the binary's DWARF has no map type named {type_name!r}.")
        return MapType.from_json(type_name, raw)

    def globals(self) -> list[GlobalVar]:
        """Global variables (data/bss) of map or slice type, and structs / pointers to structs with such fields."""
        entries = self._cache.get("globals")
        if entries is None:
            symbols = data_symbols(self._exe_info.path)
            addrs = dict(symbols)
            with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="goinspect-globals-") as fh:
                json.dump([name for name, _ in symbols], fh)
                fh.flush()
                entries = self._gdb().json_command("-goinspect-globals " + _mi_arg(fh.name))
            for e in entries:
                e["addr"] = addrs.get(e["name"], 0)
            self._cache.put("globals", entries)
        return [
            GlobalVar(e["name"], e["addr"] + self._bias, e["type"], e["kind"],
                      tuple(ContainerPath(p[0], tuple(p[1]), p[2], p[3]) for p in e.get("paths", ())))
            for e in entries
        ]

    # -- pausing -----------------------------------------------------------------------

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop a live target for the block (attach .. detach) and record the pause; a no-op for a core."""
        if self.pid is None or self._paused:  # a core never runs; nested blocks share the outer pause
            yield
            return
        session = self._gdb()
        started = time.perf_counter()
        attached = False
        try:
            with session.attached(self.pid):
                attached = self._paused = True
                if isinstance(self.memory, ProcMemory):
                    self.memory.enabled = True
                try:
                    yield
                finally:
                    self._paused = False
                    if isinstance(self.memory, ProcMemory):
                        self.memory.enabled = False
        except GdbCommandError as exc:
            if attached:
                raise
            raise _attach_error(self.pid, exc.gdb_message) from None
        finally:
            pause = time.perf_counter() - started
            self.pauses.append(pause)
            if self._verbose:
                print(f"goinspect: process {self.pid} was paused for {pause * 1000:.1f} ms", file=sys.stderr)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Detach (if attached), stop gdb, unmap files, save new layouts; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._session is not None:
                self._session.close()
        finally:
            close = getattr(self.memory, "close", None)
            if close is not None:
                close()
            self._cache.save()

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _gdb(self) -> GdbSession:
        """The gdb session, started (and the executable loaded) on first need: a core whose types are all
        cached never starts gdb."""
        if self._session is None:
            self._session = _start_gdb(self._gdb_path, self._verbose, self._timeout)
        return self._session

    def _info(self) -> dict[str, Any]:
        info = self._cache.get("info")
        if info is None:
            info = self._gdb().json_command("-goinspect-info")
            self._cache.put("info", info)
        return info

    def _raw_map_types(self, names: list[str]) -> dict[str, Any]:
        known = self._cache.data["map_types"]
        missing = [n for n in dict.fromkeys(names) if n not in known]
        if missing:
            known.update(self._gdb().json_command("-goinspect-maptype " + " ".join(_mi_arg(n) for n in missing)))
            self._cache.dirty = True
        return {n: known.get(n) for n in names}

    def _raw_layouts(self, names: list[str]) -> dict[str, Any]:
        known = self._cache.data["layouts"]
        missing = [n for n in dict.fromkeys(names) if n not in known]
        if missing:
            answer = self._gdb().json_command("-goinspect-layout " + " ".join(_mi_arg(n) for n in missing))
            known.update(answer)
            self._cache.dirty = True
        return {n: known.get(n) for n in names}


# -- opening ------------------------------------------------------------------------------


def open_live(pid: int, *, verbose: bool = False, timeout: float = 30.0) -> Target:
    """Open running Go process ``pid``: checks first, then symbols and types, all without stopping it.

    The returned target is not stopped; read its memory inside ``with target.paused():``.
    """
    if pid <= 0 or not Path(f"/proc/{pid}").is_dir():
        raise InputError(f"process {pid} does not exist.")
    state = process_state(pid)
    if state in (None, "Z", "X"):
        raise InputError(f"process {pid} does not exist (it has exited).")
    comm = _comm(pid)
    exe_link = f"/proc/{pid}/exe"
    try:
        exe_real = os.readlink(exe_link)
    except PermissionError:
        raise _permission_error(pid, comm) from None
    except FileNotFoundError:
        raise InputError(f"process {pid} ({comm}) has no executable (a kernel thread?); it is not a Go program.") from None
    exe_path = Path(exe_real.removesuffix(" (deleted)"))
    info = dataclasses.replace(read_exe(Path(exe_link)),
                               path=exe_path if _same_file(exe_link, exe_path) else Path(exe_link))
    what = f"process {pid} ({comm})"
    _check_exe(info, what)
    tracer = _tracer(pid)
    if tracer:
        raise InputError(f"{what} is already being traced by process {tracer} ({_comm(tracer)}); "
                         "detach that debugger first.")
    if os.geteuid() != 0 and _owner(pid) not in (None, os.getuid()):
        raise _permission_error(pid, comm)
    bias = _live_bias(pid, info)
    session = _start_gdb(str(info.path), verbose, timeout)
    try:
        memory: Memory = ProcMemory(pid)
    except TargetExited:
        session.close()
        raise
    except InputError:  # /proc/PID/mem refused (hardened kernel): gdb reads memory instead, slowly
        memory = GdbMemory(session, live=True)
    except BaseException:
        session.close()
        raise
    return Target(exe=info, exe_path_for_gdb=str(info.path), what=what, memory=memory,
                  cache=LayoutCache.load(info.build_id), session=session, pid=pid, bias=bias,
                  verbose=verbose, timeout=timeout)


def open_core(core: Path, exe: Path, *, verbose: bool = False, timeout: float = 30.0) -> Target:
    """Open core dump ``core`` of executable ``exe``, after checking the core is whole and really of ``exe``."""
    core, exe = Path(core), Path(exe)
    info = read_exe(exe)
    _check_exe(info, f"executable {exe}")
    core_info = read_core(core)
    bias = _core_bias(core_info, info, core, exe)
    _check_core_of_exe(core_info, info, core, exe, bias)
    exe_segments = [Segment(s.vaddr + bias, s.memsz, s.offset, s.filesz) for s in info.segments]
    memory = CoreMemory(core, core_info.segments, exe, exe_segments)
    return Target(exe=info, exe_path_for_gdb=str(exe), what=f"core {core}", memory=memory,
                  cache=LayoutCache.load(info.build_id), session=None, bias=bias, verbose=verbose,
                  timeout=timeout)


def gdb_memory(target: Target, core: Path | None = None) -> GdbMemory:
    """A :class:`GdbMemory` over ``target``'s gdb session (loading ``core`` into gdb for a core target)."""
    session = target._gdb()
    if core is not None:
        session.load_core(core)
        return GdbMemory(session)
    return GdbMemory(session, live=True)  # reads only while the target is paused


def _prefetch(target: Target) -> None:
    """Everything a census needs from DWARF, so the pause covers only reads."""
    target.prefetch(RUNTIME_TYPES)
    names = set()
    for g in target.globals():
        names.update([g.type_name] if g.kind == "map" else (p.type_name for p in g.paths if p.kind == "map"))
    target._raw_map_types(sorted(names))
    target.prefetch([n for mt in target._cache.data["map_types"].values() if mt
                     for n in (mt.get("header"), mt.get("bucket"), mt.get("table"), mt.get("group"), mt.get("slot"))
                     if n])


def _start_gdb(exe: str, verbose: bool, timeout: float) -> GdbSession:
    session = GdbSession(verbose=verbose, timeout=timeout)
    try:
        session.load_file(exe)
    except BaseException:
        session.close()
        raise
    return session


# -- checks and their sentences -------------------------------------------------------------


def _check_exe(info: ExeInfo, what: str) -> None:
    if not info.is_go:
        raise InputError(f"{what} is not a Go program ({info.path} has no Go build information).")
    if not info.has_dwarf:
        raise InputError(f"{what}: {info.path} has no DWARF debug information (built with -ldflags='-s -w'?); "
                         "goinspect needs DWARF to find types and variables.")


def _check_version(build_version: str, what: str) -> str:
    match = re.search(r"go(\d+)\.(\d+)(\.\d+)?", build_version)
    if not match:
        raise InputError(f"{what}: cannot tell which Go release built it (runtime.buildVersion is {build_version!r}).")
    release = (int(match.group(1)), int(match.group(2)))
    oldest, newest = supported_releases()
    version = match.group(0).removeprefix("go")
    if not oldest <= release <= newest:
        raise InputError(f"{what} was built by Go {version}, which goinspect does not support "
                         f"(it reads Go {oldest[0]}.{oldest[1]} to {newest[0]}.{newest[1]}).")
    return version


def _check_core_of_exe(core: CoreInfo, exe: ExeInfo, core_path: Path, exe_path: Path, bias: int) -> None:
    """The core must map ``exe`` where its headers say, and hold the same build ID / build info bytes."""
    plain = CoreMemory(core_path, core.segments)
    try:
        if core.files:
            for seg in exe.segments:
                start, offset = (seg.vaddr + bias) & ~0xFFF, seg.offset & ~0xFFF
                # mappings may be merged or split (RELRO), so look for one that covers the page consistently
                if not any(f.start <= start < f.end and f.offset + (start - f.start) == offset for f in core.files):
                    raise InputError(f"core {core_path} was not dumped from {exe_path}: the core has no mapping of "
                                     f"its segment at {start:#x} (file offset {offset:#x}).")
        for label, section in (("build ID", exe.buildid_note), ("Go build information", exe.buildinfo)):
            if section is None:
                continue
            addr, want = section
            try:
                got = plain.read(addr + bias, len(want))
            except GoinspectError:
                continue  # the core did not dump that page; the other checks stand
            if got != want:
                raise InputError(f"core {core_path} was not dumped from {exe_path}: its {label} differs "
                                 "(another program or another build).")
    finally:
        plain.close()


def _attach_error(pid: int, gdb_message: str) -> InputError:
    comm = _comm(pid)
    if process_state(pid) in (None, "Z", "X"):
        return InputError(f"process {pid} exited before goinspect could attach to it.")
    if "not permitted" in gdb_message or "ptrace" in gdb_message.lower():
        tracer = _tracer(pid)
        if tracer:
            return InputError(f"process {pid} ({comm}) is already being traced by process {tracer} ({_comm(tracer)}); "
                              "detach that debugger first.")
        return _permission_error(pid, comm)
    return InputError(f"could not attach to process {pid} ({comm}): {gdb_message}")


def _permission_error(pid: int, comm: str) -> InputError:
    owner = _owner(pid)
    scope = _read(Path("/proc/sys/kernel/yama/ptrace_scope")).strip()
    why = []
    if owner is not None and owner != os.getuid():
        why.append(f"it belongs to uid {owner} and goinspect runs as uid {os.getuid()}")
    if scope and scope != "0":
        why.append(f"kernel.yama.ptrace_scope is {scope}")
    reason = "; ".join(why) or "ptrace was refused"
    return InputError(f"permission denied inspecting process {pid} ({comm}): {reason}. "
                      "Run goinspect as the process's user or as root.")


def _core_bias(core: CoreInfo, exe: ExeInfo, core_path: Path, exe_path: Path) -> int:
    """Load bias of a PIE executable in the core (0 for a fixed-address one), from the core's NT_FILE mappings."""
    if exe.etype == "ET_EXEC" or not exe.segments:
        return 0
    first = min(exe.segments, key=lambda s: s.vaddr)
    for f in core.files:
        if f.offset == (first.offset & ~0xFFF) and Path(f.path).name == exe_path.name:
            return f.start - (first.vaddr & ~0xFFF)
    raise InputError(f"core {core_path} was not dumped from {exe_path}: the core maps no file named {exe_path.name}.")


def _live_bias(pid: int, exe: ExeInfo) -> int:
    """Load bias of a PIE executable in a live process, from ``/proc/PID/maps`` (0 for a fixed-address one)."""
    if exe.etype == "ET_EXEC" or not exe.segments:
        return 0
    first = min(exe.segments, key=lambda s: s.vaddr)
    try:
        inode = os.stat(f"/proc/{pid}/exe").st_ino
    except OSError:
        return 0
    for line in _read(Path(f"/proc/{pid}/maps")).splitlines():
        parts = line.split()
        if len(parts) >= 6 and int(parts[4]) == inode and int(parts[2], 16) == (first.offset & ~0xFFF):
            return int(parts[0].split("-")[0], 16) - (first.vaddr & ~0xFFF)
    return 0


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _status_field(pid: int, key: str) -> str | None:
    for line in _read(Path(f"/proc/{pid}/status")).splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return value.strip()
    return None


def _tracer(pid: int) -> int:
    value = _status_field(pid, "TracerPid")
    return int(value) if value and value.isdigit() else 0


def _owner(pid: int) -> int | None:
    value = _status_field(pid, "Uid")
    return int(value.split()[0]) if value else None


def _comm(pid: int) -> str:
    return _read(Path(f"/proc/{pid}/comm")).strip() or "?"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _mi_arg(text: str) -> str:
    """One MI command argument: bare when safe, else a C string."""
    if re.fullmatch(r"[\w./:*\[\]<>,@+-]+", text) and not text.startswith("-"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
