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

import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

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
#: States with no goroutine to walk (5 and 7 are the unused _Gmoribund_unused and _Genqueue_unused).
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
_U64 = struct.Struct("<Q")
#: How many times (1 ms apart) a running thread's registers are asked for before its goroutine is skipped.
_SETTLE_TRIES = 20


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


@dataclass(slots=True)  # not frozen: tens of thousands are made per pause, and frozen init is slower
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
            return _U64.unpack_from(self.data, off)[0]
        return None


class FuncTable(Protocol):
    """What unwinding needs from ``goinspect.symbolize.pclntab.PcLnTab``."""

    def func_indexes(self, pcs: np.ndarray) -> np.ndarray: ...
    def sp_deltas(self, index: int, pcs: np.ndarray | list[int]) -> np.ndarray: ...
    def func_name(self, index: int) -> str: ...
    def func(self, index: int) -> object: ...
    def stack_objects(self, index: int) -> tuple[Any, ...]: ...


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


@dataclass
class Frames:
    """The frames of many stacks at once, as columns (innermost first within each stack)."""

    stack: np.ndarray  # index into the list of stacks unwound
    depth: np.ndarray
    func: np.ndarray  # function index in the pclntab
    entry: np.ndarray  # link-time entry PC
    lookup_pc: np.ndarray
    cfa: np.ndarray
    sp: np.ndarray

    def __len__(self) -> int:
        return len(self.stack)


class Unwinder:
    """Physical frames from (pc, sp) pairs, memoizing each PC's function and SP delta.

    All stacks are walked together, one frame level per step, with numpy: a step looks up the few
    distinct PCs of that level and reads every return address from one buffer holding all stacks,
    so ten thousand goroutines cost tens of steps, not a Python loop per frame.
    ``bias`` is the executable's load bias (PIE): runtime PC = link-time PC + bias.
    """

    def __init__(self, table: FuncTable, bias: int = 0) -> None:
        self.table = table
        self.bias = bias
        # link pc -> (index, name, entry, delta, stops here, next pc is exact)
        self._at: dict[int, tuple[int, str, int, int, bool, bool] | None] = {}

    def lookup(self, link_pc: int) -> tuple[int, str, int, int, bool, bool] | None:
        hit = self._at.get(link_pc, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        result = None
        idx = int(self.table.func_indexes(np.asarray([link_pc], dtype=np.int64))[0])
        if idx >= 0:
            delta = int(self.table.sp_deltas(idx, [link_pc])[0])
            f = self.table.func(idx)
            if delta >= 0:
                name = self.table.func_name(idx)
                result = (idx, name, int(getattr(f, "entry")), delta, name in STOP_FUNCTIONS, name in EXACT_CALLERS)
        self._at[link_pc] = result
        return result

    def unwind(self, stack: Stack) -> None:
        """Fill one stack's ``frames`` (innermost first) and ``stopped``."""
        frames = self.unwind_all([stack])
        stack.frames = [self.frame(frames, i) for i in range(len(frames))]

    def frame(self, frames: Frames, i: int) -> Frame:
        return Frame(self.table.func_name(int(frames.func[i])), int(frames.entry[i]), int(frames.lookup_pc[i]),
                     int(frames.cfa[i]), int(frames.sp[i]))

    def unwind_all(self, stacks: list[Stack]) -> Frames:
        """Every frame of every stack (each ``stopped`` says why its walk ended early, '' at its top)."""
        n = len(stacks)
        i64 = np.int64
        pc = np.fromiter((s.goroutine.pc for s in stacks), dtype=i64, count=n)
        sp = np.fromiter((s.goroutine.sp for s in stacks), dtype=i64, count=n)
        exact = np.fromiter((s.goroutine.exact for s in stacks), dtype=bool, count=n)
        hi = np.fromiter((s.goroutine.hi for s in stacks), dtype=i64, count=n)
        base = np.fromiter((s.base for s in stacks), dtype=i64, count=n)
        size = np.fromiter((len(s.data) for s in stacks), dtype=i64, count=n)
        offset = np.concatenate(([0], np.cumsum(size)[:-1])).astype(i64) if n else np.zeros(0, i64)
        buf = np.frombuffer(b"".join(s.data for s in stacks), dtype=np.uint8)
        for j in np.flatnonzero(pc == 0).tolist():
            stacks[j].stopped = "no PC"
        active = pc != 0
        cols: list[tuple[np.ndarray, ...]] = []
        for depth in range(MAX_FRAMES):
            a = np.flatnonzero(active)
            if not len(a):
                break
            lpc = pc[a] - self.bias - (~exact[a]).astype(i64)
            uniq, inv = np.unique(lpc, return_inverse=True)
            info = [self.lookup(int(u)) for u in uniq.tolist()]
            ok_u = np.fromiter((x is not None for x in info), dtype=bool, count=len(info))
            fi_u, entry_u, delta_u, stop_u, exact_u = (
                np.asarray([x[k] if x else 0 for x in info], dtype=t)
                for k, t in ((0, i64), (2, i64), (3, i64), (4, bool), (5, bool)))
            ok = ok_u[inv]
            for j in a[~ok].tolist():
                stacks[j].stopped = f"no function at {int(pc[j]):#x}"
            a, inv, lpc = a[ok], inv[ok], lpc[ok]
            delta = delta_u[inv]
            cfa = sp[a] + delta + PTR_SIZE
            cols.append((a, np.full(len(a), depth, i64), fi_u[inv], entry_u[inv], lpc, cfa, sp[a]))
            go_on = ~stop_u[inv] & (cfa < hi[a])  # a top-of-stack function, or the stack's end
            ret_off = sp[a] + delta - base[a]
            inside = (ret_off >= 0) & (ret_off + PTR_SIZE <= size[a])
            for j in a[go_on & ~inside].tolist():
                stacks[j].stopped = "return address outside the stack"
            go_on &= inside
            c = a[go_on]
            at = (offset[c] + ret_off[go_on])[:, None] + np.arange(PTR_SIZE)
            ret = np.ascontiguousarray(buf[at]).view("<u8").ravel().astype(i64)
            active[:] = False
            active[c] = ret != 0
            pc[c], sp[c], exact[c] = ret, cfa[go_on], exact_u[inv][go_on]
        else:
            for j in np.flatnonzero(active).tolist():
                stacks[j].stopped = f"more than {MAX_FRAMES} frames"
        if not cols:
            empty = np.zeros(0, i64)
            return Frames(empty, empty, empty, empty, empty, empty, empty)
        parts = [np.concatenate(col) for col in zip(*cols)]
        order = np.lexsort((parts[1], parts[0]))  # by stack, then depth
        return Frames(*(p[order] for p in parts))


def proc_thread_registers(pid: int) -> Callable[[list[int]], dict[int, tuple[int, int]]]:
    """``(pc, sp)`` of stopped threads of live process ``pid`` from ``/proc/PID/task/TID/syscall``.

    While gdb holds the process stopped, each thread's file reads ``-1 SP PC`` (or the system call
    number, its arguments, SP and PC): the kernel's own read-only view of the user registers.
    """

    def read(tids: list[int]) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        for attempt in range(_SETTLE_TRIES):
            for tid in tids:
                if tid in out:
                    continue
                try:
                    with open(f"/proc/{pid}/task/{tid}/syscall") as fh:
                        parts = fh.read().split()
                except OSError:
                    continue
                if len(parts) >= 3:
                    try:
                        out[tid] = (int(parts[-1], 16), int(parts[-2], 16))
                    except ValueError:
                        continue
            if len(out) == len(tids):
                break
            time.sleep(0.001)  # "running": a thread gdb's attach has not finished stopping yet
        return out

    return read
