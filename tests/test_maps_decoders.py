"""Pure-logic checks of the runtime decoders on made-up memory: garbage the real fleet never shows.

A target's pointers can be anything (a core taken mid-write, a corrupted heap):
walks must stay bounded, survive cycles and unreadable pointers, and say so.
The real exactness tests are test_maps_live.py / test_maps_core.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from goinspect.runtime import classic, swiss
from goinspect.runtime.bulk import gather
from goinspect.runtime.types import slice_elem, split_map_type


class FakeMemory:
    """Sparse memory: a few byte ranges; any read outside them fails like an unmapped page."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, bytearray]] = []
        self.reads = 0

    def add(self, addr: int, data: bytes) -> None:
        self.ranges.append((addr, bytearray(data)))

    def read(self, addr: int, size: int) -> bytes:
        self.reads += 1
        for base, buf in self.ranges:
            if base <= addr and addr + size <= base + len(buf):
                return bytes(buf[addr - base:addr - base + size])
        raise OSError(f"unmapped {addr:#x}+{size}")


class Field:
    def __init__(self, name, offset, size, type_name):
        self.name, self.offset, self.size, self.type_name = name, offset, size, type_name


class Struct:
    def __init__(self, name, size, fields):
        self.name, self.size = name, size
        self.fields = {f[0]: Field(*f) for f in fields}


class FakeTypes:
    """DWARF-like layouts for map[int64]int64 on Go 1.23 (classic) and 1.26 (Swiss)."""

    LAYOUTS = {
        "runtime.hmap": Struct("runtime.hmap", 48, [
            ("count", 0, 8, "int"), ("flags", 8, 1, "uint8"), ("B", 9, 1, "uint8"), ("noverflow", 10, 2, "uint16"),
            ("hash0", 12, 4, "uint32"), ("buckets", 16, 8, "unsafe.Pointer"), ("oldbuckets", 24, 8, "unsafe.Pointer"),
            ("nevacuate", 32, 8, "uintptr"), ("extra", 40, 8, "*runtime.mapextra")]),
        "runtime.mapextra": Struct("runtime.mapextra", 24, [
            ("overflow", 0, 8, "*[]*runtime.bmap"), ("oldoverflow", 8, 8, "*[]*runtime.bmap"),
            ("nextOverflow", 16, 8, "*runtime.bmap")]),
        "bucket<int64,int64>": Struct("bucket<int64,int64>", 144, [
            ("tophash", 0, 8, "[8]uint8"), ("keys", 8, 64, "[8]int64"), ("values", 72, 64, "[8]int64"),
            ("overflow", 136, 8, "uintptr")]),
        "internal/runtime/maps.Map": Struct("internal/runtime/maps.Map", 48, [
            ("used", 0, 8, "uint64"), ("seed", 8, 8, "uintptr"), ("dirPtr", 16, 8, "unsafe.Pointer"),
            ("dirLen", 24, 8, "int"), ("globalDepth", 32, 1, "uint8"), ("globalShift", 33, 1, "uint8"),
            ("writing", 34, 1, "uint8"), ("tombstonePossible", 35, 1, "bool"), ("clearSeq", 40, 8, "uint64")]),
        "internal/runtime/maps.table": Struct("internal/runtime/maps.table", 32, [
            ("used", 0, 2, "uint16"), ("capacity", 2, 2, "uint16"), ("growthLeft", 4, 2, "uint16"),
            ("localDepth", 6, 1, "uint8"), ("index", 8, 8, "int"),
            ("groups", 16, 16, "internal/runtime/maps.groupsReference")]),
        "internal/runtime/maps.groupsReference": Struct("internal/runtime/maps.groupsReference", 16, [
            ("data", 0, 8, "unsafe.Pointer"), ("lengthMask", 8, 8, "uint64")]),
    }

    def layout(self, name):
        if name not in self.LAYOUTS:
            raise LookupError(name)
        return self.LAYOUTS[name]

    def type_size(self, name):
        return self.layout(name).size


def bucket(tophash: list[int], overflow: int) -> bytes:
    b = bytearray(144)
    b[:len(tophash)] = bytes(tophash)
    b[136:144] = overflow.to_bytes(8, "little")
    return bytes(b)


def hmap(count: int, B: int, buckets: int, oldbuckets: int = 0, flags: int = 0) -> bytes:
    h = bytearray(48)
    h[0:8] = count.to_bytes(8, "little")
    h[8], h[9] = flags, B
    h[16:24] = buckets.to_bytes(8, "little")
    h[24:32] = oldbuckets.to_bytes(8, "little")
    return bytes(h)


LAY = classic.classic_layout(FakeTypes(), "int64", "int64", 8, 8)


def test_layout_from_dwarf_marks_pointer_free_buckets():
    assert (LAY.bucket_size, LAY.keys_off, LAY.elems_off, LAY.overflow_off, LAY.noscan) == (144, 8, 72, 136, True)


def test_cyclic_overflow_chain_is_walked_once():
    mem = FakeMemory()
    arr, o1, o2 = 0x10000, 0x20000, 0x30000
    mem.add(0x1000, hmap(count=17, B=1, buckets=arr))
    mem.add(arr, bucket([5] * 8, o1) + bucket([5], 0))
    mem.add(o1, bucket([6] * 4, o2))
    mem.add(o2, bucket([7] * 4, o1))  # o2 -> o1: a cycle
    m = classic.read_classic(mem, 0x1000, LAY)
    assert m.walk["overflow_buckets"] == 2 and m.walk["live"] == 17 and m.walk["max_chain"] == 3
    assert not m.walk["chains_truncated"] and m.walk["unreadable_buckets"] == 0


def test_garbage_overflow_pointer_marks_bucket_unreadable():
    mem = FakeMemory()
    arr = 0x10000
    mem.add(0x1000, hmap(count=9, B=1, buckets=arr))
    mem.add(arr, bucket([5] * 8, 0xDEAD0000) + bucket([5], 0))
    m = classic.read_classic(mem, 0x1000, LAY)
    assert m.walk["live"] == 9 and m.walk["unreadable_buckets"] == 1 and m.walk["overflow_buckets"] == 0


def test_old_buckets_skip_evacuated_and_count_unevacuated():
    mem = FakeMemory()
    new, old = 0x10000, 0x40000
    mem.add(0x1000, hmap(count=12, B=2, buckets=new, oldbuckets=old))
    mem.add(new, bucket([5, 5], 0) + bucket([], 0) + bucket([5], 0) + bucket([], 0))
    mem.add(old, bucket([2, 3, 4], 0) + bucket([5] * 8, 0x50000))  # old bucket 0 evacuated, 1 not
    mem.add(0x50000, bucket([9], 0))
    m = classic.read_classic(mem, 0x1000, LAY)
    w = m.walk
    assert (w["oldbuckets_count"], w["evacuated_old_buckets"], w["old_live_unevacuated"], w["old_overflow_buckets"]) \
        == (2, 1, 9, 1)
    assert w["live"] == 12 and w["growing"]


def test_unreadable_header_and_implausible_B():
    mem = FakeMemory()
    assert classic.read_classic(mem, 0x1000, LAY) is None
    mem.add(0x1000, hmap(count=1, B=200, buckets=0x10000))
    assert "error" in classic.read_classic(mem, 0x1000, LAY).walk


def test_swiss_directory_dedup_and_ctrl_census():
    lay = swiss.swiss_layout(FakeTypes(), "int64", "int64", 8, 8)
    assert (lay.group_size, lay.slot_size) == (136, 16)
    mem = FakeMemory()
    m = bytearray(48)
    m[0:8] = (5).to_bytes(8, "little")
    m[16:24] = (0x2000).to_bytes(8, "little")
    m[24:32] = (4).to_bytes(8, "little")
    m[32] = 2
    mem.add(0x1000, bytes(m))
    t1, t2, t3 = 0x3000, 0x3020, 0x3040
    mem.add(0x2000, b"".join(x.to_bytes(8, "little") for x in (t1, t1, t2, t3)))

    def table(used, cap, gl, depth, index, data, mask):
        t = bytearray(32)
        t[0:2], t[2:4], t[4:6] = used.to_bytes(2, "little"), cap.to_bytes(2, "little"), gl.to_bytes(2, "little")
        t[6], t[8:16] = depth, index.to_bytes(8, "little")
        t[16:24], t[24:32] = data.to_bytes(8, "little"), mask.to_bytes(8, "little")
        return bytes(t)

    def group(ctrl: list[int]) -> bytes:
        return bytes(ctrl) + bytes(128)

    mem.add(t1, table(3, 16, 11, 1, 0, 0x5000, 1) + table(2, 8, 5, 2, 2, 0x6000, 0) + table(0, 8, 0, 2, 3, 0xBAD000, 0))
    mem.add(0x5000, group([1, 2, 0x80, 0xFE, 0x80, 0x80, 0x80, 0x80]) + group([3] + [0x80] * 7))
    mem.add(0x6000, group([4, 5] + [0x80] * 6))
    r = swiss.read_swiss(mem, 0x1000, lay)
    assert [t["dir_refs"] for t in r.tables] == [2, 1, 1]
    assert (r.tables[0]["live"], r.tables[0]["tombstones"], r.tables[0]["empty"]) == (3, 1, 12)
    assert r.walk["live"] == 5 and r.walk["tombstones"] == 1 and r.walk["unreadable_tables"] == 1
    assert r.tables[2].get("groups_unreadable")


def test_gather_keeps_order_and_marks_holes():
    mem = FakeMemory()
    mem.add(0x1000, bytes(range(256)) * 4)
    addrs = np.array([0x1100, 0x1000, 0x9000, 0x1010], dtype=np.uint64)
    rows, ok = gather(mem, addrs, 4)
    assert ok.tolist() == [True, True, False, True]
    assert rows[0].tolist() == [0, 1, 2, 3] and rows[1].tolist() == [0, 1, 2, 3] and rows[3].tolist() == [16, 17, 18, 19]


@pytest.mark.parametrize("name,k,v", [
    ("map[int64]*main.session", "int64", "*main.session"),
    ("map[[2]int]map[string][]byte", "[2]int", "map[string][]byte"),
    ("map[struct { a [3]int; b func(int) (x, y) }]string", "struct { a [3]int; b func(int) (x, y) }", "string"),
])
def test_split_map_type(name, k, v):
    assert split_map_type(name) == (k, v)
    assert slice_elem("[][]int") == "[]int"
