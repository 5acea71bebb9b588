"""Go's ``.gopclntab``: program counter -> function, file, line, and inlined frames.

The layout is the runtime's own (``runtime/symtab.go``: ``pcHeader``,
``_func``, ``functab``; ``runtime/symtabinl.go``: ``inlinedCall`` and the
inline unwinder). Supported: the Go 1.20+ table (magic ``0xfffffff1``), which
every release from 1.20 to at least 1.27 writes.

Lookups are lazy and bulk: the function table is one numpy array searched for
all PCs at once; a function's pc-value tables are decoded only when one of
its PCs is asked for, and only up to the highest such PC.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from goinspect.errors import ProfileError
from goinspect.symbolize.elf import ElfImage

GO120_MAGIC = 0xFFFFFFF1
OLDER_MAGICS = {0xFFFFFFFB: "1.2-1.15", 0xFFFFFFFA: "1.16-1.17", 0xFFFFFFF0: "1.18-1.19"}

# internal/abi/symtab.go
PCDATA_INL_TREE_INDEX = 2
FUNCDATA_STACK_OBJECTS = 2
FUNCDATA_INL_TREE = 3
_FUNC_FIXED = 44  # bytes of _func before its pcdata[] and funcdata[] arrays
_INLINED_CALL = 16  # sizeof(inlinedCall)


@dataclass(frozen=True, slots=True)
class Frame:
    """One source-level frame at a PC. ``pc`` is where this frame's own position is
    recorded: the looked-up PC for the innermost frame, the call site (entry +
    ``parentPc``) for the frames it was inlined into."""

    function: str
    file: str
    line: int
    start_line: int
    pc: int
    func_id: int = 0  # abi.FuncID of the function (values differ between releases: see wrapper_func_id)


@dataclass(frozen=True, slots=True)
class StackObject:
    """A stack object of a frame (``runtime.stackObjectRecord``): an address-taken local the GC scans
    precisely. ``off`` < 0 is from the frame's varp, else from its argp; ``ptr_mask`` has one bit per
    word of the first ``ptr_bytes`` (None when the type uses a GC program, Go <= 1.23)."""

    off: int
    size: int
    ptr_bytes: int
    ptr_mask: bytes | None


@dataclass(frozen=True, slots=True)
class _Func:
    index: int
    entry: int
    name: str
    pcfile: int
    pcln: int
    cu_offset: int
    start_line: int
    func_id: int
    inl_index_table: int  # pctab offset of PCDATA_InlTreeIndex, 0 if none
    inl_tree: int  # virtual address of the inline tree, 0 if none
    pcsp: int = 0  # pctab offset of the SP-delta table (frame size at each PC)
    stack_objects: int = -1  # FUNCDATA_StackObjects' offset from go:func.*, -1 if none (resolved when asked)


class PcLnTab:
    """The decoded header and function table of one executable's ``.gopclntab``."""

    def __init__(self, image: ElfImage) -> None:
        self.image = image
        # PIE builds put it in .data.rel.ro.gopclntab (it holds relocated pointers there).
        sec = image.section(".gopclntab") or image.section(".data.rel.ro.gopclntab")
        if sec is None:
            if image.section(".text") is not None and image.section(".go.buildinfo") is None:
                raise ProfileError(f"{image.path} is not a Go executable (no .gopclntab section)")
            raise ProfileError(f"{image.path} has no .gopclntab section, so it cannot be symbolized")
        text = image.section(".text")
        if text is None:
            raise ProfileError(f"{image.path} has no .text section")
        self.addr = sec.addr
        self.file_off = sec.offset
        self.buf = image.section_bytes(sec)
        self.end = "<" if image.little_endian else ">"
        if len(self.buf) < 8:
            raise ProfileError(f"{image.path}: .gopclntab is too short to hold a header")
        (magic,) = struct.unpack_from(self.end + "I", self.buf, 0)
        if magic in OLDER_MAGICS:
            raise ProfileError(
                f"{image.path} was built by Go {OLDER_MAGICS[magic]}; symbolization supports Go 1.20 and later"
            )
        if magic != GO120_MAGIC:
            raise ProfileError(f"{image.path}: .gopclntab has unknown magic {magic:#x} (not a Go 1.20+ executable)")
        self.quantum = self.buf[6]
        self.ptr_size = self.buf[7]
        if self.ptr_size not in (4, 8) or self.quantum not in (1, 2, 4):
            raise ProfileError(f"{image.path}: .gopclntab header is corrupt (pointer size {self.ptr_size})")
        word = self.end + ("Q" if self.ptr_size == 8 else "I")
        fields = [struct.unpack_from(word, self.buf, 8 + i * self.ptr_size)[0] for i in range(8)]
        nfunc, _nfiles, header_text, funcname_off, cu_off, filetab_off, pctab_off, pcln_off = fields
        # Go 1.26 stopped storing textStart in the header (it needed a relocation);
        # the runtime then uses moduledata.text, which is the start of .text on ELF,
        # as debug/gosym also assumes.
        self.text_start = text.addr
        if header_text not in (0, text.addr):
            raise ProfileError(f"{image.path}: .gopclntab text start {header_text:#x} disagrees with .text at {text.addr:#x}")
        self.text_end = text.addr + text.size
        self.nfunc = nfunc
        self.funcname_off = funcname_off
        self.cu_off = cu_off
        self.filetab_off = filetab_off
        self.pctab_off = pctab_off
        self.pcln_off = pcln_off
        ftab_bytes = (nfunc + 1) * 8
        if pcln_off + ftab_bytes > len(self.buf) or nfunc <= 0:
            raise ProfileError(f"{image.path}: .gopclntab function table runs past the section (corrupt executable)")
        dt = np.dtype(self.end + "u4")
        ftab = np.frombuffer(self.buf, dtype=dt, count=(nfunc + 1) * 2, offset=pcln_off).reshape(-1, 2)
        self.entry_offs = ftab[:, 0].astype(np.int64)  # nfunc + 1 entries, the last is the end of text
        self.func_offs = ftab[:, 1].astype(np.int64)
        self._funcs: dict[int, _Func] = {}
        self._stack_objects: dict[int, tuple[StackObject, ...]] = {}
        self._strings: dict[int, str] = {}

    # --- raw reads -------------------------------------------------------------------------

    def _u32(self, off: int) -> int:
        return struct.unpack_from(self.end + "I", self.buf, off)[0]

    def _cstring(self, off: int) -> str:
        s = self._strings.get(off)
        if s is None:
            start = self.file_off + off
            end = self.image.data.find(b"\0", start, self.file_off + len(self.buf))
            if off < 0 or end < 0:
                raise ProfileError(f"{self.image.path}: unterminated string in .gopclntab at offset {off:#x}")
            s = self.image.data[start:end].decode("utf-8", "replace")
            self._strings[off] = s
        return s

    # --- function table --------------------------------------------------------------------

    def func_indexes(self, pcs: np.ndarray) -> np.ndarray:
        """Index of the function holding each PC, -1 where no function does."""
        off = np.asarray(pcs, dtype=np.int64) - self.text_start
        idx = np.searchsorted(self.entry_offs, off, side="right") - 1
        bad = (off < 0) | (idx < 0) | (idx >= self.nfunc) | (off >= self.entry_offs[-1])
        return np.where(bad, -1, idx)

    def function_entries(self) -> np.ndarray:
        """Entry PC of every function, in table order."""
        return self.entry_offs[:-1] + self.text_start

    def func(self, index: int) -> _Func:
        f = self._funcs.get(index)
        if f is not None:
            return f
        base = self.pcln_off + int(self.func_offs[index])
        if base + _FUNC_FIXED > len(self.buf):
            raise ProfileError(f"{self.image.path}: function record {index} lies outside .gopclntab")
        (entry_off, name_off, _args, _defer, pcsp, pcfile, pcln, npcdata, cu_offset, start_line) = struct.unpack_from(
            self.end + "IiiIIIIIIi", self.buf, base
        )
        func_id = self.buf[base + 40]
        nfuncdata = self.buf[base + 43]
        arrays = base + _FUNC_FIXED
        inl_index_table = self._u32(arrays + 4 * PCDATA_INL_TREE_INDEX) if npcdata > PCDATA_INL_TREE_INDEX else 0
        inl_off = self._funcdata(arrays + 4 * npcdata, nfuncdata, FUNCDATA_INL_TREE)
        inl_tree = self.gofunc + inl_off if inl_off >= 0 else 0
        stack_objects = self._funcdata(arrays + 4 * npcdata, nfuncdata, FUNCDATA_STACK_OBJECTS)
        f = _Func(
            index=index,
            entry=self.text_start + entry_off,
            name=self._cstring(self.funcname_off + name_off),
            pcfile=pcfile,
            pcln=pcln,
            cu_offset=cu_offset,
            start_line=start_line,
            func_id=func_id,
            inl_index_table=inl_index_table,
            inl_tree=inl_tree,
            pcsp=pcsp,
            stack_objects=stack_objects,
        )
        self._funcs[index] = f
        return f

    def _funcdata(self, table: int, n: int, which: int) -> int:
        """Offset of a function's FUNCDATA ``which`` from go:func.*, -1 if it has none."""
        if n <= which:
            return -1
        off = self._u32(table + 4 * which)
        return -1 if off == 0xFFFFFFFF else off

    def stack_objects(self, index: int) -> tuple[StackObject, ...]:
        """The function's stack objects (``runtime.getStackMap``'s ``objs``), their pointer masks read
        from .rodata (``moduledata.rodata + gcdataoff``)."""
        cached = self._stack_objects.get(index)
        if cached is None:
            off = self.func(index).stack_objects
            cached = self._stack_objects[index] = self._read_stack_objects(off) if off >= 0 else ()
        return cached

    def _read_stack_objects(self, off: int) -> tuple[StackObject, ...]:
        img, ps = self.image, self.ptr_size
        try:
            addr = self.gofunc + off
            n = struct.unpack_from(self.end + ("Q" if ps == 8 else "I"), img.read(addr, ps))[0]
            if not 0 < n <= 4096:
                return ()
            raw = img.read(addr + ps, 16 * n)
            rodata = img.section(".rodata")
            out = []
            for frame_off, size, ptr_bytes, gcdataoff in struct.iter_unpack(self.end + "iiiI", raw):
                mask = None
                if ptr_bytes >= 0 and rodata is not None:
                    mask = bytes(img.read(rodata.addr + gcdataoff, -(-ptr_bytes // (8 * ps))))
                out.append(StackObject(frame_off, size, abs(ptr_bytes), mask))
        except (ProfileError, ValueError, struct.error):
            return ()  # a corrupt record only loses this frame's objects
        return tuple(out)

    @cached_property
    def _entries_by_name(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(self.nfunc):
            out.setdefault(self.func(i).name, self.text_start + int(self.entry_offs[i]))
        return out

    def entries_by_name(self) -> dict[str, int]:
        """Function name -> entry PC, for every function (decodes all function records once)."""
        return self._entries_by_name

    def func_name(self, index: int) -> str:
        return self.func(index).name

    # --- pc-value tables -------------------------------------------------------------------

    def _pcvalues(self, table: int, entry: int, pcs: np.ndarray) -> np.ndarray:
        """The value of pc-value table ``table`` at each of ``pcs`` (sorted or not), -1 where it has none.

        The table is a run of (zig-zag value delta, pc delta) varint pairs starting
        from value -1 at the function entry; each value holds up to its pc.
        """
        if table == 0:
            return np.full(len(pcs), -1, dtype=np.int64)
        buf = self.buf
        p = self.pctab_off + table
        limit = int(pcs.max())
        pc = entry
        val = -1
        ends: list[int] = []
        vals: list[int] = []
        first = True
        n = len(buf)
        while p < n:
            b = buf[p]
            if b == 0 and not first:
                break
            first = False
            uv, shift = 0, 0
            while True:
                b = buf[p]
                p += 1
                uv |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            val += -(uv >> 1) - 1 if uv & 1 else uv >> 1
            pd, shift = 0, 0
            while True:
                b = buf[p]
                p += 1
                pd |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            pc += pd * self.quantum
            ends.append(pc)
            vals.append(val)
            if pc > limit:
                break
        if not ends:
            return np.full(len(pcs), -1, dtype=np.int64)
        pos = np.searchsorted(np.asarray(ends, dtype=np.int64), pcs, side="right")
        out = np.asarray(vals + [-1], dtype=np.int64)[np.minimum(pos, len(vals))]
        return out

    def sp_deltas(self, index: int, pcs: np.ndarray | list[int]) -> np.ndarray:
        """Bytes between SP and the return address at each PC of function ``index`` (its ``pcsp`` table,
        as the runtime's ``funcspdelta``), -1 where the table has no value.

        On amd64 the caller's return address is at ``sp + delta`` and the caller's SP (DWARF's CFA)
        is ``sp + delta + 8``: what a stack unwinder needs, frame by frame.
        """
        f = self.func(index)
        return self._pcvalues(f.pcsp, f.entry, np.asarray(pcs, dtype=np.int64))

    def _file(self, f: _Func, fileno: int) -> str:
        if fileno < 0:
            return ""  # autogenerated code has no file; debug/gosym (and so pprof) say "" too
        off = self._u32(self.cu_off + 4 * (f.cu_offset + fileno))
        if off == 0xFFFFFFFF:
            return "?"
        return self._cstring(self.filetab_off + off)

    def _inlined_call(self, f: _Func, index: int) -> tuple[int, str, int, int]:
        """(funcID, name, parentPc, startLine) of inline tree entry ``index``."""
        raw = self.image.read(f.inl_tree + _INLINED_CALL * index, _INLINED_CALL)
        func_id = raw[0]
        name_off, parent_pc, start_line = struct.unpack_from(self.end + "iii", raw, 4)
        return func_id, self._cstring(self.funcname_off + name_off), parent_pc, start_line

    # --- the public lookup -----------------------------------------------------------------

    def frames(self, pcs: np.ndarray | list[int]) -> dict[int, tuple[Frame, ...]]:
        """Source frames for each PC, innermost (callee) first, physical function last.

        PCs outside every function are left out of the result.
        """
        pcs = np.unique(np.asarray(pcs, dtype=np.int64))
        idx = self.func_indexes(pcs)
        out: dict[int, tuple[Frame, ...]] = {}
        order = np.argsort(idx, kind="stable")
        idx_sorted = idx[order]
        bounds = np.flatnonzero(np.diff(idx_sorted)) + 1
        for group in np.split(order, bounds):
            fi = int(idx[group[0]])
            if fi < 0:
                continue
            f = self.func(fi)
            fpcs = pcs[group]
            # Positions to resolve: the PCs themselves, then the call sites of the
            # inline tree entries active there, level by level.
            chains: list[list[tuple[int, int]]] = [[] for _ in fpcs]  # per pc: [(pc, inl index)]
            level_pcs = fpcs
            level_owner = np.arange(len(fpcs))
            while len(level_pcs):
                inl = self._pcvalues(f.inl_index_table, f.entry, level_pcs) if f.inl_tree else np.full(len(level_pcs), -1)
                nxt_pcs, nxt_owner = [], []
                for pc, owner, k in zip(level_pcs.tolist(), level_owner.tolist(), inl.tolist()):
                    chains[owner].append((pc, k))
                    if k >= 0 and len(chains[owner]) < 256:
                        nxt_pcs.append(f.entry + self._inlined_call(f, k)[2])
                        nxt_owner.append(owner)
                level_pcs = np.asarray(nxt_pcs, dtype=np.int64)
                level_owner = np.asarray(nxt_owner, dtype=np.int64)
            all_pcs = np.asarray([pc for chain in chains for pc, _ in chain], dtype=np.int64)
            files = self._pcvalues(f.pcfile, f.entry, all_pcs).tolist()
            lines = self._pcvalues(f.pcln, f.entry, all_pcs).tolist()
            pos = 0
            for pc, chain in zip(fpcs.tolist(), chains):
                result = []
                for at, k in chain:
                    if k >= 0:
                        fid, name, _parent, start = self._inlined_call(f, k)
                    else:
                        fid, name, start = f.func_id, f.name, f.start_line
                    result.append(Frame(name, self._file(f, files[pos]), lines[pos], start, at, fid))
                    pos += 1
                out[pc] = tuple(result)
        return out

    @cached_property
    def wrapper_func_id(self) -> int | None:
        """abi.FuncIDWrapper for the release that built the binary (internal/abi/symtab.go):
        21 in Go 1.20-1.21, 22 in 1.22-1.24, 23 from 1.25 on; None if the version is unknown."""
        version = self.image.go_version()
        m = re.match(r"go1\.(\d+)", version or "")
        if not m:
            return None
        minor = int(m.group(1))
        return 21 if minor <= 21 else 22 if minor <= 24 else 23

    # --- moduledata ------------------------------------------------------------------------

    @cached_property
    def gofunc(self) -> int:
        """Address of ``go:func.*``, the base of every FUNCDATA offset (inline trees among them).

        It is a field of ``runtime.firstmoduledata``, found as the structure that starts
        with a pointer to the pclntab header followed by the ``funcnametab`` slice. The
        field is the word after ``moduledata.rodata`` (the start of .rodata); its offset
        moved in Go 1.27, so it is located by that value rather than by a fixed offset.
        """
        img = self.image
        ps = self.ptr_size
        dt = np.dtype(self.end + ("u8" if ps == 8 else "u4"))
        rodata = img.section(".rodata")
        if rodata is None:
            raise ProfileError(f"{img.path} has no .rodata section, so its inline tree cannot be located")
        lo, hi = rodata.addr, max(rodata.addr + rodata.size, self.addr + len(self.buf))
        want_names = self.addr + self.funcname_off
        for name in (".go.module", ".noptrdata", ".data", ".data.rel.ro"):
            sec = img.section(name)
            if sec is None or not sec.has_bits:
                continue
            raw = img.section_bytes(sec)
            words = np.frombuffer(raw, dtype=dt, count=len(raw) // ps)
            for start in np.flatnonzero(words == self.addr).tolist():
                head = words[start : start + 64]
                if len(head) < 48 or int(head[1]) != want_names:
                    continue
                # text sits after pcHeader, 6 slices (3 words each), findfunctab, minpc, maxpc.
                if int(head[1 + 6 * 3 + 3]) != self.text_start:
                    continue
                for i in range(len(head) - 2, 20, -1):
                    if int(head[i]) == rodata.addr and lo <= int(head[i + 1]) < hi:
                        return int(head[i + 1])
        raise ProfileError(f"{img.path}: cannot find runtime.firstmoduledata, so inlined frames cannot be decoded")
