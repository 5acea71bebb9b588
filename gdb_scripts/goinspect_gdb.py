"""gdb-side half of goinspect: answers type questions from the binary's DWARF as MI commands.

Loaded explicitly with ``source`` by ``goinspect.gdb.session`` (gdb runs with
``--nx`` and auto-loading off; nothing is ever loaded from the inspected
binary). It only reads DWARF and static data of the executable file: it never
reads or writes target memory and never calls target functions, so it can
answer before gdb attaches (keeping the target's pause short).

Each command returns ``{"json": "<text>"}``: one MI result field holding the
answer as JSON, so the Python side gets typed values, not gdb's printing.
Needs gdb >= 13 (``gdb.MICommand``).
"""

import json

import gdb  # type: ignore[import-not-found]  # only importable inside gdb


def _lookup_type(name):
    """The DWARF type called ``name`` (Go spelling), or None.

    ``gdb.lookup_type`` cannot parse Go names such as ``bucket<K,V>`` or
    ``[]uint8``; the symbol table still finds them by their exact name.
    """
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        pass
    except RuntimeError:
        pass
    for domain in (gdb.SYMBOL_STRUCT_DOMAIN, gdb.SYMBOL_VAR_DOMAIN):
        for lookup in (gdb.lookup_static_symbol, gdb.lookup_global_symbol):
            try:
                sym = lookup(name, domain)
            except (gdb.error, RuntimeError):
                sym = None
            if sym is not None and sym.type is not None and (domain == gdb.SYMBOL_STRUCT_DOMAIN or not sym.is_variable):
                return sym.type
    return None


def _type_name(t):
    """Go's name for ``t``: its DWARF name, or ``*T`` / ``[n]T`` built from the parts."""
    if t.name:
        return t.name
    if t.code == gdb.TYPE_CODE_PTR:
        if t.target().code == gdb.TYPE_CODE_VOID:
            return "unsafe.Pointer"
        return "*" + _type_name(t.target())
    return str(t)


def _layout(t):
    """``{"name", "size", "code", "fields": [[name, offset, size, type], ...]}`` of one type."""
    st = t.strip_typedefs()
    fields = []
    if st.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        for f in st.fields():
            if f.bitpos is None or f.name is None:
                continue
            fields.append([f.name, f.bitpos // 8, f.type.sizeof, _type_name(f.type)])
    target = ""
    if st.code == gdb.TYPE_CODE_PTR:
        target = _type_name(st.target())
    elif st.code == gdb.TYPE_CODE_ARRAY:
        target = _type_name(st.target())
    return {"name": _type_name(t), "size": st.sizeof, "code": _CODES.get(st.code, "other"), "target": target,
            "fields": fields}


_CODES = {
    gdb.TYPE_CODE_PTR: "ptr",
    gdb.TYPE_CODE_STRUCT: "struct",
    gdb.TYPE_CODE_ARRAY: "array",
    gdb.TYPE_CODE_INT: "int",
    gdb.TYPE_CODE_FLT: "float",
    gdb.TYPE_CODE_BOOL: "bool",
    gdb.TYPE_CODE_UNION: "union",
}


#: How far the globals' containers are followed: pointers dereferenced on the way, elements of a
#: fixed-size array, containers kept per global (a bound on a type graph that may be huge or cyclic).
MAX_DEREFS = 3
MAX_ARRAY = 64
MAX_PATHS = 256


def _kind(t):
    """'map', 'slice', 'struct', 'array' (of something that may hold containers), 'ptr' (to a struct or
    an array) or '' for a Go type, from its DWARF name and shape."""
    name = _type_name(t)
    st = t.strip_typedefs()
    if name.startswith("map["):
        return "map"
    if name.startswith("[]") and st.code == gdb.TYPE_CODE_STRUCT:
        return "slice"
    if st.code == gdb.TYPE_CODE_STRUCT and not name.startswith(("string", "interface", "runtime.iface", "runtime.eface")):
        return "" if _is_interface(st) else "struct"
    if st.code == gdb.TYPE_CODE_ARRAY and st.target().sizeof > 0:
        return "array"
    if st.code == gdb.TYPE_CODE_PTR:
        target, target_name = st.target().strip_typedefs(), _type_name(st.target())
        # Never into the runtime's own objects: a channel is a pointer to hchan<T> (its wait queues lead to
        # goroutines), an itab or type descriptor holds static method tables.
        if target_name.startswith(("[]", "runtime.", "internal/")) or "<" in target_name:
            return ""
        if target.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_ARRAY) and not _is_interface(target):
            return "ptr"
    return ""


def _is_interface(st):
    """A named interface type is a struct of (tab, data) or (_type, data) in Go's DWARF: its dynamic
    value is not typed statically, so it is not followed."""
    names = [f.name for f in st.fields()] if st.code == gdb.TYPE_CODE_STRUCT else []
    return names in (["tab", "data"], ["_type", "data"])


_PATHS = {}


def _container_paths(t, derefs):
    """Maps and slices inside a value of type ``t``: ``[suffix, steps, type, kind]``, where ``steps``
    are byte offsets with a pointer load between two of them (``[8]``: at +8; ``[8, 16]``: load the
    pointer at +8, then +16 from where it points). Inline struct fields and array elements add to the
    last offset; a pointer to a struct or array starts a new one, at most ``derefs`` times."""
    key = (_type_name(t), derefs)
    if key in _PATHS:
        return _PATHS[key]
    _PATHS[key] = []  # a type that contains itself (through a pointer) ends here
    out = []
    kind = _kind(t)
    st = t.strip_typedefs()
    if kind in ("map", "slice"):
        out.append(["", [0], _type_name(t), kind])
    elif kind == "struct":
        for f in st.fields():
            if f.bitpos is None or not f.name or f.name == "_":
                continue
            for suffix, steps, tn, k in _container_paths(f.type, derefs):
                out.append(["." + f.name + suffix, [steps[0] + f.bitpos // 8] + steps[1:], tn, k])
    elif kind == "array":
        lo, hi = st.range()
        elem = st.target()
        inner = _container_paths(elem, derefs)
        if inner:
            for i in range(lo, min(hi + 1, lo + MAX_ARRAY)):
                for suffix, steps, tn, k in inner:
                    out.append([f"[{i}]" + suffix, [steps[0] + i * elem.sizeof] + steps[1:], tn, k])
    elif kind == "ptr" and derefs > 0:
        for suffix, steps, tn, k in _container_paths(st.target(), derefs - 1):
            out.append([suffix, [0] + steps, tn, k])
    _PATHS[key] = out[:MAX_PATHS]
    return _PATHS[key]


class _JsonCommand(gdb.MICommand):
    """Base: run ``answer(argv)`` and return its result as one JSON string field."""

    def invoke(self, argv):
        try:
            return {"json": json.dumps(self.answer(argv))}
        except gdb.error as exc:
            raise gdb.GdbError(str(exc))


class InfoCommand(_JsonCommand):
    """-goinspect-info: Go version (runtime.buildVersion, read from the file's data) and map implementation."""

    def answer(self, argv):
        version = ""
        sym = gdb.lookup_global_symbol("runtime.buildVersion") or gdb.lookup_static_symbol("runtime.buildVersion")
        if sym is not None:
            value = sym.value()
            n = int(value["len"])
            if 0 < n < 256:
                data = gdb.selected_inferior().read_memory(int(value["str"]), n)
                version = bytes(data).decode("ascii", "replace")
        impls = [impl for impl, type_name in (("hmap", "runtime.hmap"), ("swiss", "internal/runtime/maps.Map"))
                 if _lookup_type(type_name) is not None]
        return {"go_version": version, "map_impls": impls, "ptr_size": gdb.lookup_type("void").pointer().sizeof}


class LayoutCommand(_JsonCommand):
    """-goinspect-layout NAME...: layout of each named type (null when the binary has no such type)."""

    def answer(self, argv):
        out = {}
        for name in argv:
            t = _lookup_type(name)
            out[name] = _layout(t) if t is not None else None
        return out


class MapTypeCommand(_JsonCommand):
    """-goinspect-maptype NAME...: the runtime types behind each Go map type ``map[K]V``.

    Classic: header ``hash<K,V>`` and ``bucket<K,V>`` (fields tophash, keys, values, overflow); Swiss: header ``map<K,V>``,
    ``table<K,V>`` and the group type. Key and elem types come from the
    bucket's ``keys``/``values`` arrays or the group's slot struct, so they are
    what the runtime stores (a pointer when the key or elem is over 128 bytes).
    """

    def answer(self, argv):
        out = {}
        for name in argv:
            t = _lookup_type(name)
            try:
                out[name] = self._describe(t) if t is not None else None
            except (KeyError, AttributeError, gdb.error, RuntimeError):
                out[name] = None  # not shaped like any map layout goinspect knows
        return out

    @staticmethod
    def _describe(t):
        header = t.strip_typedefs().target()
        fields = {f.name: f.type for f in header.strip_typedefs().fields()}
        info = {"header": _type_name(header)}
        if "buckets" in fields:
            bucket = fields["buckets"].strip_typedefs().target()
            bfields = {f.name: f.type for f in bucket.strip_typedefs().fields()}
            info.update(impl="hmap", bucket=_type_name(bucket),
                        key=_type_name(bfields["keys"].strip_typedefs().target()),
                        elem=_type_name(bfields["values" if "values" in bfields else "elems"].strip_typedefs().target()))
        elif "dirPtr" in fields:
            table = fields["dirPtr"].strip_typedefs().target().strip_typedefs().target()
            tfields = {f.name: f.type for f in table.strip_typedefs().fields()}
            info.update(impl="swiss", table=_type_name(table))
            groups = tfields["groups"].strip_typedefs()
            gdata = {f.name: f.type for f in groups.fields()}.get("data")
            group = gdata.strip_typedefs().target() if gdata is not None else None
            if group is None or not _type_name(group).startswith("noalg.map.group"):
                group = _lookup_type("noalg.map.group" + _type_name(t)[len("map"):])
            info["groups_ref"] = _type_name(groups)
            if group is not None:
                slots = {f.name: f.type for f in group.strip_typedefs().fields()}["slots"].strip_typedefs()
                slot = slots.target()
                sfields = {f.name: f.type for f in slot.strip_typedefs().fields()}
                info.update(group=_type_name(group), slot=_type_name(slot),
                            key=_type_name(sfields["key"]), elem=_type_name(sfields["elem"]))
        return info


class GlobalsCommand(_JsonCommand):
    """-goinspect-globals FILE: which candidate globals (JSON list of names in FILE) hold maps or slices.

    The candidates come from the ELF symbol table (data/bss objects), read by goinspect; gdb
    supplies their DWARF types. Kept: maps, slices, and globals with maps or slices inside --
    struct fields, array elements, and through pointers (``_container_paths``), as ``paths``.
    """

    def answer(self, argv):
        with open(argv[0], encoding="utf-8") as fh:
            names = json.load(fh)
        out = []
        for name in names:
            sym = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
            if sym is None or not sym.is_variable or sym.type is None:
                continue
            t = sym.type
            kind = _kind(t)
            if not kind:
                continue
            entry = {"name": name, "type": _type_name(t), "kind": kind, "size": t.sizeof}
            if kind not in ("map", "slice"):
                entry["paths"] = _container_paths(t, MAX_DEREFS)
                if not entry["paths"]:
                    continue
            out.append(entry)
        return out


InfoCommand("-goinspect-info")
LayoutCommand("-goinspect-layout")
MapTypeCommand("-goinspect-maptype")
GlobalsCommand("-goinspect-globals")
