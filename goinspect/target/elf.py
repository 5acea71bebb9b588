"""What opening a target needs from ELF files: the executable's identity and segments, a core's layout.

Parsed with pyelftools (headers only; no section is copied whole except the
small notes). Everything here is checked *before* gdb touches a process, so a
bad input fails fast with a precise sentence.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from goinspect.errors import InputError
from goinspect.target.memory import Segment

#: Sections whose objects are Go global variables (pointerful and pointer-free, initialised and zeroed).
DATA_SECTIONS = (".data", ".bss", ".noptrdata", ".noptrbss")


@dataclass(frozen=True)
class ExeInfo:
    path: Path
    etype: str  # 'ET_EXEC' or 'ET_DYN' (PIE)
    build_id: str  # Go build ID, else GNU build-id, else a hash of the file
    segments: list[Segment]  # PT_LOAD, link-time addresses
    is_go: bool
    has_dwarf: bool
    buildid_note: tuple[int, bytes] | None  # (vaddr, bytes) of .note.go.buildid / .note.gnu.build-id
    buildinfo: tuple[int, bytes] | None  # (vaddr, first bytes) of .go.buildinfo


@dataclass(frozen=True)
class FileMapping:
    start: int
    end: int
    offset: int  # in bytes
    path: str


@dataclass(frozen=True)
class CoreInfo:
    path: Path
    segments: list[Segment]
    files: list[FileMapping] = field(default_factory=list)
    needed_size: int = 0  # bytes the program headers say the file holds
    actual_size: int = 0


def _open(path: Path, what: str):
    """``path`` opened for reading; InputError naming ``what`` it is when that fails."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist.") from None
    except PermissionError:
        raise InputError(f"permission denied reading {what} {path}.") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}.") from None


def read_exe(path: Path) -> ExeInfo:
    """Identify an executable; InputError (one sentence) if it is not a readable ELF file."""
    path = Path(path)
    fh = _open(path, "executable")
    with fh:
        try:
            elf = ELFFile(fh)
            etype = elf["e_type"]
            segments = [
                Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_offset"], seg["p_filesz"])
                for seg in elf.iter_segments()
                if seg["p_type"] == "PT_LOAD"
            ]
            names = {s.name for s in elf.iter_sections()}
            is_go = ".go.buildinfo" in names or ".gopclntab" in names
            has_dwarf = ".debug_info" in names or ".zdebug_info" in names
            note = _section_bytes(elf, ".note.go.buildid") or _section_bytes(elf, ".note.gnu.build-id")
            buildinfo = _section_bytes(elf, ".go.buildinfo", limit=512)
        except (ELFError, struct.error, ValueError) as exc:
            raise InputError(f"{path} is not an ELF executable ({exc}).") from None
    if etype not in ("ET_EXEC", "ET_DYN"):
        raise InputError(f"{path} is not an executable (ELF type {etype}).")
    return ExeInfo(path, etype, _build_id(path, note), segments, is_go, has_dwarf, note, buildinfo)


_SYM64 = None  # numpy dtype of Elf64_Sym, built on first use


def data_symbols(path: Path) -> list[tuple[str, int]]:
    """``(name, address)`` of every data/bss object in the symbol table: the candidate global variables.

    The table is read in bulk with numpy (a Go binary has ~10^4 symbols; pyelftools' per-symbol objects
    cost ~0.2 s), then only the objects in data sections are named.
    """
    import numpy as np

    global _SYM64
    if _SYM64 is None:
        _SYM64 = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                           ("value", "<u8"), ("size", "<u8")])
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None or elf.elfclass != 64 or not elf.little_endian:
            return []
        wanted = [i for i, sec in enumerate(elf.iter_sections()) if sec.name in DATA_SECTIONS]
        strtab = elf.get_section(symtab["sh_link"])
        fh.seek(symtab["sh_offset"])
        syms = np.frombuffer(fh.read(symtab["sh_size"]), dtype=_SYM64)
        fh.seek(strtab["sh_offset"])
        names = fh.read(strtab["sh_size"])
    keep = syms[((syms["info"] & 0xF) == 1) & np.isin(syms["shndx"], wanted)]  # STT_OBJECT in a data section
    out = []
    for offset, value in zip(keep["name"].tolist(), keep["value"].tolist()):
        name = names[offset:names.index(b"\0", offset)].decode("utf-8", "replace")
        if ".." in name or name.startswith(("go:", "type:")):  # compiler temporaries, type descriptors
            continue
        out.append((name, value))
    return out


def read_core(path: Path) -> CoreInfo:
    """A core's PT_LOAD segments and NT_FILE mappings; InputError if it is not a core or is truncated."""
    path = Path(path)
    fh = _open(path, "core file")
    with fh:
        actual = os.fstat(fh.fileno()).st_size
        try:
            elf = ELFFile(fh)
            if elf["e_type"] != "ET_CORE":
                raise InputError(f"{path} is not a core dump (ELF type {elf['e_type']}).")
            segments, files, needed = [], [], elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"]
            for seg in elf.iter_segments():
                needed = max(needed, seg["p_offset"] + seg["p_filesz"])
                if seg["p_type"] == "PT_LOAD":
                    segments.append(Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_offset"], seg["p_filesz"]))
                elif seg["p_type"] == "PT_NOTE" and seg["p_offset"] + seg["p_filesz"] <= actual:
                    files.extend(_nt_file(seg.data(), elf.little_endian))
        except (ELFError, struct.error, ValueError) as exc:
            raise InputError(f"{path} is not a readable ELF core dump ({exc}).") from None
    if actual < needed:
        raise InputError(f"core file {path} is truncated: it has {actual} bytes but its headers describe {needed}.")
    return CoreInfo(path, segments, files, needed, actual)


def _section_bytes(elf: ELFFile, name: str, limit: int = 4096) -> tuple[int, bytes] | None:
    sec = elf.get_section_by_name(name)
    if sec is None or sec["sh_type"] == "SHT_NOBITS":
        return None
    sec.stream.seek(sec["sh_offset"])
    return sec["sh_addr"], sec.stream.read(min(sec["sh_size"], limit))


def _build_id(path: Path, note: tuple[int, bytes] | None) -> str:
    """The note's descriptor (Go build ID text or GNU build-id hex); a file hash when the binary has neither."""
    if note is not None:
        data = note[1]
        if len(data) >= 12:
            namesz, descsz, _ntype = struct.unpack_from("<III", data)
            start = 12 + (namesz + 3) // 4 * 4
            desc = data[start:start + descsz]
            text = desc.decode("ascii", "replace")
            return text if text.isprintable() and "/" in text else desc.hex()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha256-" + digest.hexdigest()


def _nt_file(notes: bytes, little: bool) -> list[FileMapping]:
    """Decode the NT_FILE note (count, page size, [start, end, page offset]*count, names) of a core."""
    order = "<" if little else ">"
    pos, out = 0, []
    while pos + 12 <= len(notes):
        namesz, descsz, ntype = struct.unpack_from(order + "III", notes, pos)
        pos += 12
        name_end = pos + (namesz + 3) // 4 * 4
        desc = notes[name_end:name_end + descsz]
        pos = name_end + (descsz + 3) // 4 * 4
        if ntype != 0x46494C45 or len(desc) < 16:  # NT_FILE = 'FILE'
            continue
        count, page = struct.unpack_from(order + "QQ", desc)
        names = desc[16 + 24 * count:].split(b"\0")
        for i in range(count):
            start, end, pgoff = struct.unpack_from(order + "QQQ", desc, 16 + 24 * i)
            out.append(FileMapping(start, end, pgoff * page, names[i].decode(errors="replace") if i < len(names) else ""))
    return out


#: x86-64 ``struct elf_prstatus``: pr_pid at 32, pr_reg (``user_regs_struct``) at 112, rip and rsp its
#: 17th and 20th words (linux/include/uapi/linux/elfcore.h, arch/x86/include/asm/user_64.h).
_PRSTATUS_PID, _PRSTATUS_REG, _REG_RIP, _REG_RSP = 32, 112, 16, 19


def core_thread_registers(path: Path) -> dict[int, tuple[int, int]]:
    """``{tid: (pc, sp)}`` of every thread of an x86-64 core, from its ``NT_PRSTATUS`` notes; {} otherwise."""
    out: dict[int, tuple[int, int]] = {}
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            if elf["e_machine"] != "EM_X86_64" or not elf.little_endian:
                return out
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_NOTE":
                    continue
                notes = seg.data()
                pos = 0
                while pos + 12 <= len(notes):
                    namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
                    pos += 12
                    desc_at = pos + (namesz + 3) // 4 * 4
                    desc = notes[desc_at:desc_at + descsz]
                    pos = desc_at + (descsz + 3) // 4 * 4
                    if ntype == 1 and len(desc) >= _PRSTATUS_REG + 8 * (_REG_RSP + 1):  # NT_PRSTATUS
                        (tid,) = struct.unpack_from("<i", desc, _PRSTATUS_PID)
                        rip, rsp = (struct.unpack_from("<Q", desc, _PRSTATUS_REG + 8 * r)[0]
                                    for r in (_REG_RIP, _REG_RSP))
                        out[tid] = (rip, rsp)
    except (OSError, ELFError, struct.error, ValueError):
        return {}
    return out
