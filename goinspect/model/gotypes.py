"""Sizes, alignments and pointer-ness of Go types named on the command line (64-bit targets).

Mirrors ``cmd/compile/internal/types/size.go`` for the types a map key/elem or a slice
element usually is: scalars, string, pointers and pointer-shaped types, slices,
interfaces and fixed arrays of these. Anything else is given by size (``of_size``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from goinspect.errors import UsageError

PTR_SIZE = 8


@dataclass(frozen=True, slots=True)
class GoType:
    name: str
    size: int
    align: int
    pointers: bool  # holds a pointer the GC must scan (noscan is the opposite)

    @property
    def noscan(self) -> bool:
        return not self.pointers


_SCALARS = {
    **{n: (1, 1) for n in ("bool", "int8", "uint8", "byte")},
    **{n: (2, 2) for n in ("int16", "uint16")},
    **{n: (4, 4) for n in ("int32", "uint32", "rune", "float32")},
    **{n: (8, 8) for n in ("int", "uint", "int64", "uint64", "uintptr", "float64")},
    "complex64": (8, 4),
    "complex128": (16, 8),
    "struct{}": (0, 1),
}
# Pointer-shaped and pointerful built-ins: (size, align).
_POINTERFUL = {
    "string": (16, 8),
    "unsafe.Pointer": (8, 8),
    "any": (16, 8),
    "interface{}": (16, 8),
    "error": (16, 8),
}
_ARRAY = re.compile(r"^\[(\d+)\](.+)$")


def parse(name: str) -> GoType:
    """A Go type expression: a scalar, ``string``, ``*T``, ``[]T``, ``map[K]V``, ``chan T``, ``func…``,
    ``any``/``interface{}``/``error``, ``unsafe.Pointer`` or ``[N]T`` of any of these."""
    text = name.strip().replace(" ", "") if name else ""
    if text in _SCALARS:
        size, align = _SCALARS[text]
        return GoType(text, size, align, False)
    if text in _POINTERFUL:
        size, align = _POINTERFUL[text]
        return GoType(text, size, align, True)
    if text.startswith(("*", "map[", "chan", "func")) and len(text) > 1:
        return GoType(text, PTR_SIZE, PTR_SIZE, True)
    if text.startswith("[]") and len(text) > 2:
        return GoType(text, 3 * PTR_SIZE, PTR_SIZE, True)
    m = _ARRAY.match(text)
    if m:
        elem = parse(m.group(2))
        n = int(m.group(1))
        return GoType(text, n * elem.size, elem.align, elem.pointers and n > 0)
    raise UsageError(f"unknown Go type {name!r}: use a scalar, string, *T, []T, map[K]V, any, [N]T, "
                     "or give its size with --key-size/--elem-size")


def of_size(size: int, pointers: bool = False, name: str | None = None) -> GoType:
    """A type known only by its size (alignment: the largest power of two up to 8 dividing it)."""
    if size < 0:
        raise UsageError(f"a type size must be >= 0, not {size}")
    align = 1
    while align < 8 and size % (align * 2) == 0 and size:
        align *= 2
    return GoType(name or f"<{size} bytes{', pointers' if pointers else ''}>", size, align, pointers)
