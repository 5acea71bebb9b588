"""The parts of an ELF executable that symbolization needs: sections by name, memory by address.

pyelftools (already a goinspect dependency) parses the headers, so 32/64-bit
and either byte order come for free; section contents are read straight from an
``mmap`` of the file, so a 100 MB binary costs no copy.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from goinspect.errors import InputError, ProfileError


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    addr: int  # virtual address when loaded
    offset: int  # file offset
    size: int
    has_bits: bool  # False for .bss-like sections that occupy no file space

    def contains(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.size


class ElfImage:
    """An opened ELF file: its sections, byte order, word size, and reads by virtual address."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            raise InputError(f"cannot open executable {self.path}: {exc.strerror or exc}") from None
        with fh:
            if fh.read(4) != b"\x7fELF":
                raise ProfileError(f"{self.path} is not an ELF executable")
            fh.seek(0)
            try:
                elf = ELFFile(fh)
                self.little_endian = elf.little_endian
                self.ptr_size = elf.elfclass // 8
                self.is_pie = elf["e_type"] == "ET_DYN"
                self.sections = {
                    s.name: Section(s.name, s["sh_addr"], s["sh_offset"], s["sh_size"], s["sh_type"] != "SHT_NOBITS")
                    for s in elf.iter_sections()
                    if s.name
                }
            except (ELFError, ValueError, KeyError) as exc:
                raise ProfileError(f"{self.path} is not a readable ELF executable ({exc})") from None
            self.data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def section(self, name: str) -> Section | None:
        return self.sections.get(name)

    def section_bytes(self, sec: Section) -> memoryview:
        if not sec.has_bits or sec.offset + sec.size > len(self.data):
            raise ProfileError(f"{self.path}: section {sec.name} lies outside the file (truncated executable?)")
        return memoryview(self.data)[sec.offset : sec.offset + sec.size]

    def section_at(self, addr: int) -> Section | None:
        """The allocated section holding virtual address ``addr``."""
        for sec in self.sections.values():
            if sec.addr and sec.has_bits and sec.contains(addr):
                return sec
        return None

    def read(self, addr: int, size: int) -> memoryview:
        """``size`` bytes at virtual address ``addr``; they must lie inside one section."""
        sec = self.section_at(addr)
        if sec is None or addr + size > sec.addr + sec.size:
            raise ProfileError(f"{self.path}: address {addr:#x} is not inside any section of the executable")
        start = sec.offset + (addr - sec.addr)
        return memoryview(self.data)[start : start + size]

    def go_version(self) -> str | None:
        """The Go release that built the binary ("go1.26.6"), from .go.buildinfo (Go 1.18+ layout)."""
        sec = self.section(".go.buildinfo")
        if sec is None or not sec.has_bits:
            return None
        raw = bytes(self.section_bytes(sec)[:64 + 32])
        if not raw.startswith(b"\xff Go buildinf:") or len(raw) < 33 or not raw[15] & 2:
            return None
        length, shift, pos = 0, 0, 32
        while pos < len(raw):
            b = raw[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        version = raw[pos : pos + length]
        return version.decode("ascii", "replace") if version.startswith(b"go") else None


def go_release_of(path: str) -> str | None:
    """The Go release that built ``path`` as goinspect's model names it ("1.24.11+noswissmap"), or None.

    For picking map layouts and size ladders: an unreadable or non-Go file gives None, not an error.
    """
    try:
        version = ElfImage(path).go_version()  # e.g. "go1.24.11 X:noswissmap"
    except (InputError, ProfileError):
        return None
    if version is None or not version.startswith("go1."):
        return None
    release = version.removeprefix("go").split()[0].split("-")[0]
    return release + ("+noswissmap" if "noswissmap" in version else "")
