"""What the decoders need from a target, as protocols, and Go type-name parsing.

The concrete classes live in ``goinspect.target`` (memory backends, DWARF layouts);
the decoders only rely on the attributes named here, so they stay free of I/O.
"""

from __future__ import annotations

from typing import Mapping, Protocol


class Memory(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...


class Field(Protocol):
    name: str
    offset: int
    size: int
    type_name: str


class Struct(Protocol):
    name: str
    size: int
    fields: Mapping[str, Field]


class Types(Protocol):
    """Struct layouts and type sizes by Go type name, from the binary's DWARF."""

    def layout(self, type_name: str) -> Struct: ...
    def type_size(self, type_name: str) -> int: ...


PTR_SIZE = 8


def _closing_bracket(text: str, start: int) -> int:
    """Index of the bracket that closes the one at ``start`` ([], (), {} nest inside Go type names)."""
    pairs = {"[": "]", "(": ")", "{": "}"}
    stack: list[str] = []
    for i in range(start, len(text)):
        c = text[i]
        if c in pairs:
            stack.append(pairs[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return i
    raise ValueError(f"unbalanced brackets in Go type name {text!r}")


def split_map_type(type_name: str) -> tuple[str, str]:
    """``map[K]V`` -> (K, V); K may itself contain brackets (``map[[2]int]string``)."""
    if not type_name.startswith("map["):
        raise ValueError(f"not a map type: {type_name!r}")
    end = _closing_bracket(type_name, 3)
    return type_name[4:end], type_name[end + 1:]


def slice_elem(type_name: str) -> str:
    """``[]T`` -> T."""
    if not type_name.startswith("[]"):
        raise ValueError(f"not a slice type: {type_name!r}")
    return type_name[2:]


#: Go types whose values are plain bits (no pointers for the GC to follow).
SCALARS = {
    "bool": 1, "int8": 1, "uint8": 1, "byte": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "rune": 4,
    "float32": 4, "int64": 8, "uint64": 8, "int": 8, "uint": 8, "uintptr": 8, "float64": 8,
    "complex64": 8, "complex128": 16,
}
_POINTERFUL_PREFIXES = ("*", "[]", "map[", "chan ", "chan<-", "<-chan", "func(", "interface {")


def array_type(type_name: str) -> tuple[int, str] | None:
    """``[N]T`` -> (N, T); None for anything else."""
    if not type_name.startswith("[") or type_name.startswith("[]"):
        return None
    end = type_name.index("]")
    try:
        return int(type_name[1:end]), type_name[end + 1:]
    except ValueError:
        return None


def has_pointers(types: Types, type_name: str, depth: int = 0) -> bool:
    """Whether values of this type hold pointers (decides a map's noscan buckets and malloc headers).

    Unknown or too deeply nested types answer True, the conservative choice.
    """
    name = type_name.removeprefix("noalg.")
    if name in SCALARS or name.startswith("struct {}"):
        return False
    if name in ("string", "unsafe.Pointer") or name.startswith(_POINTERFUL_PREFIXES):
        return True
    arr = array_type(name)
    if arr is not None:
        return arr[0] > 0 and has_pointers(types, arr[1], depth + 1)
    if depth > 4:
        return True
    try:
        lay = types.layout(type_name)
    except (LookupError, ValueError, AttributeError):
        return True
    return any(has_pointers(types, f.type_name, depth + 1) for f in lay.fields.values() if f.size)


def sizeof(types: Types, type_name: str) -> int:
    """Size of a Go type: fixed for pointers and headers (strings, slices, interfaces), else from DWARF."""
    name = type_name.removeprefix("noalg.")
    if name in SCALARS:
        return SCALARS[name]
    if name.startswith(("*", "map[", "chan ", "chan<-", "<-chan", "func(")) or name == "unsafe.Pointer":
        return PTR_SIZE
    if name == "string" or name.startswith("interface {") or name in ("error", "any"):
        return 2 * PTR_SIZE
    if name.startswith("[]"):
        return 3 * PTR_SIZE
    if name.startswith("struct {}"):
        return 0
    arr = array_type(name)
    if arr is not None:
        return arr[0] * sizeof(types, arr[1])
    return types.type_size(type_name)
