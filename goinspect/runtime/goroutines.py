"""Goroutines of a paused target: ``runtime.allgs``, each g's state and stack, and unwinding its frames.

Where a goroutine's stack walk starts is the runtime's own rule (``runtime/traceback.go``,
``unwinder.initAt``): ``syscallpc``/``syscallsp`` when ``syscallsp != 0`` (in a system call),
otherwise the ``sched`` pc/sp saved when it stopped running (parked, runnable, preempted). A
``_Grunning`` goroutine has no saved state: its thread's registers hold it (``g.m.procid`` is the
thread id), which goinspect reads only where that is free and read-only (a stopped thread's
``/proc/PID/task/TID/syscall``, a core's ``NT_PRSTATUS`` notes); otherwise it is skipped.

Frames are unwound with the binary's own ``.gopclntab`` (``pcsp``: the SP delta at each PC), as
the runtime does on amd64: the return address sits at ``sp + delta`` and the caller's SP (DWARF's
CFA) is ``sp + delta + 8``. Each goroutine's used stack ``[sp, stack.hi)`` is read with one read.
Layouts (``runtime.g`` field offsets) come from DWARF, never hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from goinspect.runtime.bulk import gather, read_or_none, uint_at, uints, words
from goinspect.runtime.types import PTR_SIZE, Memory, Types

#: runtime2.go goroutine states (the same numbers in Go 1.21 ... 1.27; 10 and 11 exist from 1.26).
G_IDLE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING = 0, 1, 2, 3, 4
G_DEAD, G_COPYSTACK, G_PREEMPTED, G_LEAKED, G_DEADEXTRA = 6, 8, 9, 10, 11
G_SCAN = 0x1000
STATUS_NAMES = {G_IDLE: "idle", G_RUNNABLE: "runnable", G_RUNNING: "running", G_SYSCALL: "syscall",
                G_WAITING: "waiting", G_DEAD: "dead", G_COPYSTACK: "copystack", G_PREEMPTED: "preempted",
                G_LEAKED: "leaked", G_DEADEXTRA: "dead"}
#: States whose stack holds nothing (no goroutine), or is being moved under us.
_NO_STACK = (G_IDLE, G_DEAD, G_DEADEXTRA, 5, 7)

#: Types whose DWARF layouts the reader needs (fetch them before pausing).
G_TYPES = ("runtime.g", "runtime.m", "runtime.gobuf", "runtime.stack")

#: Where a goroutine's stack ends (the runtime's topofstack functions).
STOP_FUNCTIONS = frozenset({"runtime.goexit", "runtime.mstart", "runtime.mstart0", "runtime.rt0_go",
                            "runtime.mcall", "runtime.morestack", "runtime.systemstack"})
#: Functions entered without a CALL: the "return address" they leave is the exact interrupted PC.
EXACT_CALLERS = frozenset({"runtime.asyncPreempt", "runtime.sigpanic"})
#: No goroutine has more frames than this (a corrupt stack must not loop).
MAX_FRAMES = 4096


@dataclass(frozen=True, slots=True)
class GLayout:
    """Byte offsets in ``runtime.g`` (and ``runtime.m.procid``) for this binary."""

    size: int
    goid: int
    status: int
    stack_lo: int
    stack_hi: int
    sched_sp: int
    sched_pc: int
    syscallsp: int
    syscallpc: int
    m: int
    m_procid: int

    @classmethod
    def from_types(cls, types: Types) -> "GLayout":
        g = types.layout("runtime.g")
        stack = types.layout("runtime.stack")
        gobuf = types.layout("runtime.gobuf")
        m = types.layout("runtime.m")
        return cls(
            size=g.size, goid=g["goid"].offset, status=g["atomicstatus"].offset,
            stack_lo=g["stack"].offset + stack["lo"].offset, stack_hi=g["stack"].offset + stack["hi"].offset,
            sched_sp=g["sched"].offset + gobuf["sp"].offset, sched_pc=g["sched"].offset + gobuf["pc"].offset,
            syscallsp=g["syscallsp"].offset, syscallpc=g["syscallpc"].offset, m=g["m"].offset,
            m_procid=m["procid"].offset,
        )


@dataclass(frozen=True, slots=True)
class Goroutine:
    """One goroutine and where its stack walk starts (``pc``/``sp`` 0 when it cannot be walked)."""

    goid: int
    status: int  # _Gscan masked off
    addr: int  # the g
    lo: int
    hi: int
    pc: int
    sp: int
    exact: bool  # pc is where the thread stands (registers), not a return address
    skipped: str = ""  # why it is not walked, '' when it is


@dataclass(frozen=True, slots=True)
class Frame:
    """One physical frame: ``lookup_pc`` (link-time) is the PC to look variables and lines up at
    (the call instruction, i.e. return address - 1, except where the PC is exact); ``cfa`` is the
    caller's SP, the base of Go's DWARF locations."""

    function: str
    entry: int  # link-time entry PC
    lookup_pc: int
    cfa: int
    sp: int


@dataclass
class Stack:
    """A goroutine's frames and the bytes of its used stack ``[base, base + len(data))``."""

    goroutine: Goroutine
    base: int
    data: bytes
    frames: list[Frame] = field(default_factory=list)
    stopped: str = ""  # why unwinding stopped early ('' when it reached the top of the stack)

    def word(self, addr: int) -> int | None:
        off = addr - self.base
        if 0 <= off and off + PTR_SIZE <= len(self.data):
            return uint_at(self.data, off, PTR_SIZE)
        return None


class FuncTable(Protocol):
    """What unwinding needs from ``goinspect.symbolize.pclntab.PcLnTab``."""

    def func_indexes(self, pcs: np.ndarray) -> np.ndarray: ...
    def sp_deltas(self, index: int, pcs: np.ndarray | list[int]) -> np.ndarray: ...
    def func_name(self, index: int) -> str: ...
    def func(self, index: int) -> object: ...


def read_goroutines(mem: Memory, lay: GLayout, allgs_addr: int,
                    registers: Callable[[list[int]], dict[int, tuple[int, int]]] | None = None) -> list[Goroutine]:
    """Every goroutine of ``runtime.allgs`` (the ``[]*g`` at ``allgs_addr``), read in bulk.

    ``registers(tids) -> {tid: (pc, sp)}`` supplies running goroutines' thread registers; without
    it (or for a thread it does not know) a running goroutine is listed with ``skipped`` set.
    """
    hdr = read_or_none(mem, allgs_addr, 3 * PTR_SIZE)
    if hdr is None:
        return []
    array, length = uint_at(hdr, 0, PTR_SIZE), uint_at(hdr, PTR_SIZE, PTR_SIZE)
    if not array or not 0 < length < 1 << 24:
        return []
    raw = read_or_none(mem, array, length * PTR_SIZE)
    if raw is None:
        return []
    gptrs = np.frombuffer(raw, dtype="<u8")
    gptrs = gptrs[gptrs != 0]
    rows, ok = gather(mem, gptrs, lay.size)
    rows, gptrs = rows[ok], gptrs[ok]
    status = uints(rows, lay.status, 4) & ~np.uint64(G_SCAN)
    cols = {name: words(rows, getattr(lay, name)).tolist() for name in
            ("goid", "stack_lo", "stack_hi", "sched_sp", "sched_pc", "syscallsp", "syscallpc", "m")}
    running_ms = sorted({cols["m"][i] for i, s in enumerate(status.tolist()) if s == G_RUNNING and cols["m"][i]})
    tids: dict[int, int] = {}
    if running_ms:
        mrows, mok = gather(mem, np.asarray(running_ms, dtype=np.uint64), lay.m_procid + 8)
        for m, row, good in zip(running_ms, mrows, mok.tolist()):
            if good:
                tids[m] = int(words(row[None, :], lay.m_procid)[0])
    regs = registers(sorted(set(tids.values()))) if (registers and tids) else {}
    out = []
    for i, (addr, st) in enumerate(zip(gptrs.tolist(), status.tolist())):
        c = {k: v[i] for k, v in cols.items()}
        pc = sp = 0
        exact = False
        skipped = ""
        if st in _NO_STACK:
            skipped = STATUS_NAMES.get(st, f"status {st}")
        elif st == G_COPYSTACK:
            skipped = "its stack is being moved"
        elif c["syscallsp"]:
            pc, sp = c["syscallpc"], c["syscallsp"]
        elif st == G_RUNNING:
            tid = tids.get(c["m"])
            if tid is not None and tid in regs:
                pc, sp = regs[tid]
                exact = True
            else:
                skipped = "running, and its thread's registers are not available"
        else:
            pc, sp = c["sched_pc"], c["sched_sp"]
        if not skipped and not (c["stack_lo"] <= sp < c["stack_hi"]):
            skipped = "its stack pointer is outside its stack"  # e.g. running on the system stack
            pc = sp = 0
        out.append(Goroutine(c["goid"], st, addr, c["stack_lo"], c["stack_hi"], pc, sp, exact, skipped))
    return out


def read_stack(mem: Memory, g: Goroutine) -> Stack | None:
    """The goroutine's used stack ``[sp, hi)`` in one read (None if unreadable or not walkable)."""
    if g.skipped or not g.sp or g.hi - g.sp > 1 << 30:
        return None
    data = read_or_none(mem, g.sp, g.hi - g.sp)
    return Stack(g, g.sp, data) if data is not None else None


class Unwinder:
    """Physical frames from a (pc, sp) pair, memoizing each PC's function and SP delta.

    ``bias`` is the executable's load bias (PIE): runtime PC = link-time PC + bias.
    """

    def __init__(self, table: FuncTable, bias: int = 0) -> None:
        self.table = table
        self.bias = bias
        self._at: dict[int, tuple[int, str, int, int] | None] = {}  # link pc -> (index, name, entry, delta)

    def lookup(self, link_pc: int) -> tuple[int, str, int, int] | None:
        hit = self._at.get(link_pc, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        result = None
        idx = int(self.table.func_indexes(np.asarray([link_pc], dtype=np.int64))[0])
        if idx >= 0:
            delta = int(self.table.sp_deltas(idx, [link_pc])[0])
            f = self.table.func(idx)
            if delta >= 0:
                result = (idx, self.table.func_name(idx), int(getattr(f, "entry")), delta)
        self._at[link_pc] = result
        return result

    def unwind(self, stack: Stack) -> None:
        """Fill ``stack.frames`` (innermost first) and ``stack.stopped``."""
        g = stack.goroutine
        pc, sp, exact = g.pc, g.sp, g.exact
        frames = stack.frames
        while len(frames) < MAX_FRAMES:
            if pc == 0:
                stack.stopped = "" if frames else "no PC"
                return
            link_pc = pc - self.bias
            lookup_pc = link_pc if exact else link_pc - 1
            hit = self.lookup(lookup_pc)
            if hit is None:
                stack.stopped = f"no function at {pc:#x}"
                return
            _idx, name, entry, delta = hit
            cfa = sp + delta + PTR_SIZE
            frames.append(Frame(name, entry, lookup_pc, cfa, sp))
            if name in STOP_FUNCTIONS:
                return
            if cfa >= g.hi:
                return  # the top of the stack
            ret = stack.word(sp + delta)
            if ret is None:
                stack.stopped = "return address outside the stack"
                return
            pc, sp, exact = ret, cfa, name in EXACT_CALLERS
        stack.stopped = f"more than {MAX_FRAMES} frames"


def proc_thread_registers(pid: int) -> Callable[[list[int]], dict[int, tuple[int, int]]]:
    """``(pc, sp)`` of stopped threads of live process ``pid`` from ``/proc/PID/task/TID/syscall``.

    While gdb holds the process stopped, each thread's file reads ``-1 SP PC`` (or the system call
    number, its arguments, SP and PC): the kernel's own read-only view of the user registers.
    """

    def read(tids: list[int]) -> dict[int, tuple[int, int]]:
        out = {}
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/syscall") as fh:
                    parts = fh.read().split()
            except OSError:
                continue
            if len(parts) >= 3 and parts[0] != "running":
                try:
                    out[tid] = (int(parts[-1], 16), int(parts[-2], 16))
                except ValueError:
                    continue
        return out

    return read
