"""Type layouts from the binary's DWARF (through gdb), cached per build-id.

A layout is what the decoders need to read a struct out of raw bytes: each
field's byte offset, size and Go type name. They come from DWARF via
``gdb_scripts/goinspect_gdb.py``, never from hard-coded offsets, and are cached
in ``<cache dir>/layouts/<build-id>.json`` so a second look at the same binary
needs no gdb type queries at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goinspect.errors import GoinspectError
from goinspect.run.toolchain import cache_dir

#: Bump when the cached JSON changes meaning.
_SCHEMA = 1
#: Cached binaries kept (least recently used ones go first); each file is ~100 KB.
_KEEP = 64


@dataclass(frozen=True)
class FieldLayout:
    name: str
    offset: int
    size: int
    type_name: str


@dataclass(frozen=True)
class StructLayout:
    name: str
    size: int
    fields: dict[str, FieldLayout]

    def __getitem__(self, field_name: str) -> FieldLayout:
        return self.fields[field_name]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StructLayout":
        fields = {f[0]: FieldLayout(f[0], int(f[1]), int(f[2]), f[3]) for f in data["fields"]}
        return cls(data["name"], int(data["size"]), fields)


@dataclass(frozen=True)
class MapType:
    """The runtime types behind one Go map type, as DWARF names them.

    Classic (``impl == 'hmap'``): ``header`` is ``hash<K,V>``, ``bucket`` is ``bucket<K,V>``.
    Swiss (``impl == 'swiss'``): ``header`` is ``map<K,V>`` (laid out as
    ``internal/runtime/maps.Map``), ``table`` is ``table<K,V>``, ``group`` the
    group type (``noalg.map.group[K]V``) and ``slot`` its slot struct.
    ``key``/``elem`` are the stored types (a pointer when Go stores them indirectly).
    """

    name: str
    impl: str
    header: str
    key: str
    elem: str
    bucket: str = ""
    table: str = ""
    group: str = ""
    slot: str = ""

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> "MapType":
        return cls(name, data.get("impl", ""), data["header"], data.get("key", ""), data.get("elem", ""),
                   data.get("bucket", ""), data.get("table", ""), data.get("group", ""), data.get("slot", ""))


def kind_of(type_name: str) -> str:
    """'map' or 'slice' for a Go type name, '' otherwise (how DWARF spells them: ``map[K]V``, ``[]T``)."""
    if type_name.startswith("map["):
        return "map"
    if type_name.startswith("[]"):
        return "slice"
    return ""


@dataclass
class LayoutCache:
    """Answers about one binary (by build-id), kept as JSON; ``dirty`` when something new must be saved."""

    build_id: str
    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False

    @staticmethod
    def path_for(build_id: str) -> Path:
        key = hashlib.sha256(f"{_SCHEMA}\0{_script_digest()}\0{build_id}".encode()).hexdigest()[:32]
        return cache_dir() / "layouts" / f"{key}.json"

    @classmethod
    def load(cls, build_id: str) -> "LayoutCache":
        path = cls.path_for(build_id)
        try:
            data = json.loads(path.read_text())
            if data.get("build_id") != build_id:
                data = {}
            os.utime(path)  # recently used: kept by _prune
        except (OSError, ValueError):
            data = {}
        data.setdefault("build_id", build_id)
        for key in ("layouts", "map_types"):
            data.setdefault(key, {})
        return cls(build_id, data)

    def save(self) -> None:
        """Write atomically (rename), so concurrent goinspect runs never read half a file."""
        if not self.dirty:
            return
        path = self.path_for(self.build_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, separators=(",", ":")))
            os.replace(tmp, path)
            self.dirty = False
            _prune(path.parent)
        except OSError:
            pass  # a cache that cannot be written only costs time next run

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.dirty = True


class MissingType(GoinspectError, KeyError):
    """The binary's DWARF has no type of that name (a different Go release, or the type is unused)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def layout_or_error(raw: dict[str, Any] | None, type_name: str) -> StructLayout:
    if raw is None:
        raise MissingType(f"the binary's DWARF has no type named {type_name!r}.")
    return StructLayout.from_json(raw)


def _prune(directory: Path) -> None:
    """Keep the ``_KEEP`` most recently used layout files."""
    files = []
    for p in directory.glob("*.json"):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            pass
    for _, p in sorted(files, reverse=True)[_KEEP:]:
        p.unlink(missing_ok=True)


def _script_digest() -> str:
    from goinspect.gdb.session import GDB_SCRIPT

    try:
        return hashlib.sha256(GDB_SCRIPT.read_bytes()).hexdigest()[:16]
    except OSError:
        return "none"
