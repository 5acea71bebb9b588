"""Reading a target's memory: one narrow interface, three backends.

- :class:`ProcMemory`: a live process through ``/proc/PID/mem`` (``pread``, no
  copy through gdb), used while gdb holds the process stopped.
- :class:`CoreMemory`: a core file's ``PT_LOAD`` segments, ``mmap``'d; pages
  the core did not dump (read-only file-backed segments, ``p_filesz == 0``)
  are read from the executable, also mapped.
- :class:`GdbMemory`: gdb's ``-data-read-memory-bytes``, the slow portable fallback.

All raise :class:`UnreadableMemory` for an address range they cannot read in
full: garbage pointers in a target are normal, and callers mark such values
unreadable instead of aborting.
"""

from __future__ import annotations

import bisect
import errno
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from goinspect.errors import GoinspectError, InputError

if TYPE_CHECKING:
    from goinspect.gdb.session import GdbSession


class Memory(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...  # raises UnreadableMemory(addr, size)


class UnreadableMemory(GoinspectError):
    """``size`` bytes at ``addr`` are not (all) mapped in the target."""

    def __init__(self, addr: int, size: int, why: str = "not mapped") -> None:
        super().__init__(f"target memory {addr:#x}..{addr + size:#x} ({size} bytes) is not readable ({why}).")
        self.addr = addr
        self.size = size


class TargetExited(InputError):
    """The live process went away while goinspect was reading it."""


class NotPaused(GoinspectError):
    """A live target's memory was read outside ``Target.paused()`` (a bug in the caller)."""


class ProcMemory:
    """A live process's memory through ``/proc/PID/mem``; reads only while ``enabled`` (the target is stopped)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.enabled = False
        try:
            self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TargetExited(f"process {pid} does not exist.") from None
        except PermissionError:
            raise InputError(f"permission denied reading the memory of process {pid} (/proc/{pid}/mem).") from None

    def read(self, addr: int, size: int) -> bytes:
        if not self.enabled:
            raise NotPaused("live target memory is read only inside Target.paused() (the process is running).")
        if size <= 0:
            return b""
        if addr < 0 or addr + size > 1 << 63:
            raise UnreadableMemory(addr, size, "outside the address space")
        try:
            data = os.pread(self._fd, size, addr)
            while 0 < len(data) < size:  # a page-crossing read can come back short; finish it
                more = os.pread(self._fd, size - len(data), addr + len(data))
                if not more:
                    break
                data += more
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EFAULT):
                self._check_alive()
                raise UnreadableMemory(addr, size) from None
            self._check_alive()
            raise UnreadableMemory(addr, size, exc.strerror or str(exc)) from None
        if len(data) != size:
            self._check_alive()
            raise UnreadableMemory(addr, size)
        return data

    def _check_alive(self) -> None:
        from goinspect.gdb.session import process_state

        if process_state(self.pid) in (None, "Z", "X"):
            raise TargetExited(f"process {self.pid} exited while goinspect was reading it.")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True, slots=True)
class Segment:
    """One loadable piece of an address space: ``memsz`` bytes at ``vaddr``, the first ``filesz`` at file ``offset``."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int


class CoreMemory:
    """A core dump's address space from its ``PT_LOAD`` segments (mapped, not copied).

    ``exe_segments`` (with the load bias already added) supply the bytes of
    segments the core left out (``filesz == 0``: gcore and the kernel skip
    read-only file-backed mappings such as the executable's text and rodata).
    """

    def __init__(self, core: Path, segments: list[Segment], exe: Path | None = None,
                 exe_segments: list[Segment] = ()) -> None:  # type: ignore[assignment]
        self.core = Path(core)
        self._core_file = open(self.core, "rb")
        self._core = mmap.mmap(self._core_file.fileno(), 0, access=mmap.ACCESS_READ)
        self._segs = sorted(segments, key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self._segs]
        self._exe_file = None
        self._exe = None
        self._exe_segs = sorted(exe_segments, key=lambda s: s.vaddr)
        self._exe_starts = [s.vaddr for s in self._exe_segs]
        if exe is not None and self._exe_segs:
            self._exe_file = open(exe, "rb")
            self._exe = mmap.mmap(self._exe_file.fileno(), 0, access=mmap.ACCESS_READ)

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        seg = self._find(self._segs, self._starts, addr)
        if seg is not None and addr + size <= seg.vaddr + seg.filesz:  # the common case: one dumped segment
            off = seg.offset + addr - seg.vaddr
            return self._core[off:off + size]
        parts = []
        pos, end = addr, addr + size
        while pos < end:
            chunk = self._piece(pos, end)
            if chunk is None:
                raise UnreadableMemory(addr, size, "not in the core")
            parts.append(chunk)
            pos += len(chunk)
        return b"".join(parts)

    def _piece(self, pos: int, end: int) -> bytes | None:
        """The longest readable run of bytes starting at ``pos`` (up to ``end``), from the core or the exe."""
        seg = self._find(self._segs, self._starts, pos)
        if seg is not None and pos < seg.vaddr + seg.filesz:
            off = seg.offset + pos - seg.vaddr
            return self._core[off:off + min(end, seg.vaddr + seg.filesz) - pos]
        if self._exe is not None:
            eseg = self._find(self._exe_segs, self._exe_starts, pos)
            if eseg is not None:
                stop = min(end, eseg.vaddr + eseg.memsz)
                if pos < eseg.vaddr + eseg.filesz:
                    off = eseg.offset + pos - eseg.vaddr
                    return self._exe[off:off + min(stop, eseg.vaddr + eseg.filesz) - pos]
                if seg is None:  # bss of the exe that the core does not cover at all
                    return None
        return None

    @staticmethod
    def _find(segs: list[Segment], starts: list[int], addr: int) -> Segment | None:
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < segs[i].vaddr + segs[i].memsz:
            return segs[i]
        return None

    def close(self) -> None:
        for m in (self._core, self._exe):
            if m is not None:
                try:
                    m.close()
                except BufferError:  # a caller still holds a view; the mapping goes with the object
                    pass
        for f in (self._core_file, self._exe_file):
            if f is not None:
                f.close()


class GdbMemory:
    """Memory through gdb's ``-data-read-memory-bytes``: slow (hex over a pipe), but works wherever gdb does."""

    def __init__(self, session: "GdbSession", *, live: bool = False) -> None:
        self.session = session
        self.live = live

    def read(self, addr: int, size: int) -> bytes:
        if self.live and self.session.attached_pid is None:
            raise NotPaused("live target memory is read only inside Target.paused() (the process is running).")
        if size <= 0:
            return b""
        data = self.session.read_memory(addr, size)
        if data is None:
            raise UnreadableMemory(addr, size)
        return data

    def close(self) -> None:
        pass
