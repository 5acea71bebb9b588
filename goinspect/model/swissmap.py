"""Swiss-table Go maps, Go ≥ 1.24 (``internal/runtime/maps``).

Mirrors ``internal/runtime/maps/{map,table,group}.go`` and the group type the
compiler builds in ``cmd/compile/internal/reflectdata/map.go: MapGroupType``
(``SwissMapGroupType`` in 1.24/1.25). Sizes are for 64-bit targets.

Go 1.27 adds GOEXPERIMENT=mapsplitgroup (off by default), which stores a group's 8 keys and
8 elems as two arrays instead of 8 interleaved slots; the model covers the default layout only
(``abi.MapType`` of 1.27 describes either through KeysOff/KeyStride/ElemsOff/ElemStride).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from goinspect.model.sizeclasses import MAX_ALLOC, PTR_SIZE, for_version
from goinspect.model.version import GoVersion
from goinspect.model.mapmemory import MapMemory

# internal/abi/map_swiss.go (1.24/1.25), internal/abi/map.go (1.26+): MapGroupSlots = 8.
GROUP_SLOTS = 8
# internal/abi: MapMaxKeyBytes, MapMaxElemBytes — bigger keys/elems are stored through a pointer.
MAX_KEY_BYTES = 128
MAX_ELEM_BYTES = 128
# internal/runtime/maps/group.go: ctrlGroup is one uint64, a control byte per slot.
CTRL_WORD = 8
# internal/runtime/maps/group.go: maxAvgGroupLoad = 7 (7/8 maximum load).
MAX_AVG_GROUP_LOAD = 7
# internal/runtime/maps/table.go: maxTableCapacity = 1024 slots; a full table splits in two.
MAX_TABLE_CAPACITY = 1024
# internal/runtime/maps/map.go: Map{used uint64; seed uintptr; dirPtr unsafe.Pointer; dirLen int;
# globalDepth, globalShift, writing uint8; [tombstonePossible bool (1.25+)]; clearSeq uint64} = 48 bytes.
MAP_SIZE = 48
# internal/runtime/maps/table.go: table{used, capacity, growthLeft uint16; localDepth uint8; index int;
# groups groupsReference{data unsafe.Pointer; lengthMask uint64}} = 32 bytes.
TABLE_SIZE = 32


def _align_of(size: int) -> int:
    """Alignment of a type of ``size`` bytes when the caller does not say (scalars and arrays of them)."""
    a = 1
    while a < 8 and size % (a * 2) == 0:
        a *= 2
    return a


def _align_up(n: int, a: int) -> int:
    return -(-n // a) * a


@dataclass(frozen=True, slots=True)
class GroupType:
    key_size: int
    elem_size: int
    indirect_key: bool
    indirect_elem: bool
    slot_size: int
    elem_offset: int
    size: int
    noscan: bool

    @classmethod
    def of_size(cls, size: int, noscan: bool) -> GroupType:
        """A group known only by its size (what a heap profile's block sizes can reveal)."""
        return cls(0, 0, False, False, 0, 0, size, noscan)


def group_type(key_size: int, elem_size: int, key_pointers: bool = False, elem_pointers: bool = False,
               key_align: int | None = None, elem_align: int | None = None) -> GroupType:
    """Group layout: ``struct{ctrl uint64; slots [8]struct{key K; elem V}}``, laid out as
    ``cmd/compile/internal/types/size.go: CalcStructSize`` does (a struct ending in a
    zero-size field gets one byte of padding before rounding to its alignment)."""
    ik = key_size > MAX_KEY_BYTES
    ie = elem_size > MAX_ELEM_BYTES
    k, ka = (PTR_SIZE, PTR_SIZE) if ik else (key_size, key_align or _align_of(key_size))
    e, ea = (PTR_SIZE, PTR_SIZE) if ie else (elem_size, elem_align or _align_of(elem_size))
    elem_off = _align_up(k, ea)
    slot = elem_off + e
    if slot > 0 and e == 0:
        slot += 1
    slot = _align_up(slot, max(ka, ea))
    size = CTRL_WORD + GROUP_SLOTS * slot
    if slot == 0:
        size += 1
    size = _align_up(size, 8)
    noscan = not (key_pointers or elem_pointers or ik or ie)
    return GroupType(key_size, elem_size, ik, ie, slot, elem_off, size, noscan)


def _align_up_pow2(n: int) -> int:
    """``alignUpPow2``: the next power of two >= n."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


@dataclass(frozen=True, slots=True)
class Layout:
    """What ``make(map[K]V, hint)`` builds: directory length, and each table's capacity."""

    small: bool  # no directory: one group or nothing (hint <= 8)
    dir_len: int
    global_depth: int
    table_capacity: int  # slots per table (all equal after make)

    @property
    def tables(self) -> int:
        return self.dir_len

    @property
    def capacity(self) -> int:
        return self.dir_len * self.table_capacity


def table_capacity_for(capacity: int) -> int:
    """``newTable``: capacity clamped to >= 8 and rounded up to a power of two."""
    if capacity > MAX_TABLE_CAPACITY:
        raise ValueError("initial table capacity too large")
    return _align_up_pow2(max(capacity, GROUP_SLOTS))


def layout_for_hint(hint: int, group_size: int | None = None) -> Layout:
    """``maps.NewMap``: hint <= 8 allocates nothing; otherwise a directory of 2^k tables sized for hint*8/7 slots.
    With ``group_size``, a hint whose dirSize*1024*groupSize exceeds maxAlloc gives an empty map, as NewMap does."""
    if hint <= GROUP_SLOTS:
        return Layout(True, 0, 0, 0)
    target = hint * GROUP_SLOTS // MAX_AVG_GROUP_LOAD
    dir_size = _align_up_pow2(-(-target // MAX_TABLE_CAPACITY))
    if group_size is not None and dir_size * MAX_TABLE_CAPACITY * group_size > MAX_ALLOC:
        return Layout(True, 0, 0, 0)
    return Layout(False, dir_size, dir_size.bit_length() - 1, table_capacity_for(target // dir_size))


def max_growth_left(capacity: int) -> int:
    """``table.maxGrowthLeft``: inserts a fresh table takes before it must grow."""
    if capacity <= GROUP_SLOTS:
        return capacity - 1
    return capacity * MAX_AVG_GROUP_LOAD // GROUP_SLOTS


def group_array_block(groups: int, gt: GroupType, version: str | GoVersion | None = None) -> int:
    """Block of ``newGroups``: ``newarray(typ.Group, groups)``."""
    return for_version(version).block_size(groups * gt.size, gt.noscan)


def table_block(version: str | GoVersion | None = None) -> int:
    """Block of the ``&table{}`` that ``newTable`` allocates."""
    return for_version(version).block_size(TABLE_SIZE, False)


def header_block(version: str | GoVersion | None = None) -> int:
    """Block of ``new(Map)`` (makemap / makemap_small)."""
    return for_version(version).block_size(MAP_SIZE, False)


def directory_block(dir_len: int, version: str | GoVersion | None = None) -> int:
    """Block of ``make([]*table, dirLen)`` (NewMap, growToTable, installTableSplit)."""
    return for_version(version).block_size(dir_len * PTR_SIZE, False)


def group_array_ladder(gt: GroupType, version: str | GoVersion | None = None) -> list[int]:
    """Group-array blocks a table passes through: 1 group (small map), then tables of 2, 4, … 128 groups.

    ``growToSmall`` allocates one group; ``growToTable`` a 16-slot table; ``rehash``
    doubles a table up to 1024 slots (128 groups), after which ``split`` makes two
    1024-slot tables: from there on every new group array has the same size.
    """
    return [group_array_block(g, gt, version) for g in (1, 2, 4, 8, 16, 32, 64, 128)]


def tables_after_inserts(n: int) -> tuple[int, int]:
    """Starting from an empty map: (number of tables, capacity of each when all are equal) after ``n`` inserts,
    assuming hashes spread evenly. Exact below 1024 slots (a single table), an estimate above (splits depend on hashes)."""
    if n <= GROUP_SLOTS:
        return (0, GROUP_SLOTS if n else 0)
    cap = 2 * GROUP_SLOTS
    while cap < MAX_TABLE_CAPACITY and n > max_growth_left(cap):
        cap *= 2
    if n <= max_growth_left(cap):
        return (1, cap)
    tables = 1
    while n > tables * max_growth_left(MAX_TABLE_CAPACITY):
        tables *= 2
    return (tables, MAX_TABLE_CAPACITY)


# ---------------------------------------------------------------------------------------------
# Per-table accounting: internal/runtime/maps/table.go.

# internal/runtime/maps/map.go: NewMap returns without allocating for hint <= abi.MapGroupSlots, and a
# small map (dirLen == 0, one group, no table) holds up to 8 entries; the 9th grows it to a table
# of 2*MapGroupSlots = 16 slots (growToTable).
SMALL_MAP_MAX = GROUP_SLOTS
FIRST_TABLE_CAPACITY = 2 * GROUP_SLOTS


def tombstones(capacity: int, used: int, growth_left: int) -> int:
    """``table.tombstones``: ``capacity*7/8 - used - growthLeft`` — per table (each table keeps its own
    ``used``, ``capacity`` and ``growthLeft``; the Map's ``used`` is their sum). Small maps have no
    table and no tombstones (``deleteSmall`` empties the slot)."""
    return (capacity * MAX_AVG_GROUP_LOAD) // GROUP_SLOTS - used - growth_left


def prunes_tombstones(version: str | GoVersion | None = None) -> bool:
    """Go 1.25 added ``table.pruneTombstones``: a full table first drops tombstones no probe
    sequence needs (if at least 10% of capacity) before it grows."""
    v = GoVersion.parse(version)
    return (v.major, v.minor) >= (1, 25)


def grow_action(capacity: int) -> str:
    """``table.rehash``: a full table doubles up to 1024 slots, a 1024-slot table splits in two."""
    return "double" if 2 * capacity <= MAX_TABLE_CAPACITY else "split"


@dataclass(frozen=True, slots=True)
class TableState:
    """One table's header fields and what they imply."""

    capacity: int
    used: int
    growth_left: int

    @property
    def tombstones(self) -> int:
        return tombstones(self.capacity, self.used, self.growth_left)

    @property
    def max_load(self) -> int:
        return max_growth_left(self.capacity)

    @property
    def groups(self) -> int:
        return self.capacity // GROUP_SLOTS

    @property
    def new_keys_until_grow(self) -> int:
        """Fewest new keys until this table grows or splits: each new key that does not reuse a
        tombstone on its probe sequence takes one unit of ``growthLeft``; the key that finds
        ``growthLeft == 0`` rehashes (1.25+: unless pruning tombstones frees room)."""
        return self.growth_left + 1

    def next_grow(self) -> str:
        return grow_action(self.capacity)


def table_after_make(hint: int) -> TableState | None:
    """Each table's state right after ``make(map, hint)`` (None for a small map)."""
    lay = layout_for_hint(hint)
    if lay.small:
        return None
    return TableState(lay.table_capacity, 0, max_growth_left(lay.table_capacity))


def table_capacity_for_inserts(n: int) -> int:
    """Capacity of the single table of a map grown from empty by ``n`` inserts (n <= 896); 0 while small."""
    if n <= SMALL_MAP_MAX:
        return 0
    cap = FIRST_TABLE_CAPACITY
    while n > max_growth_left(cap):
        if cap >= MAX_TABLE_CAPACITY:
            raise ValueError(f"{n} entries do not fit one table")
        cap *= 2
    return cap


@dataclass(frozen=True, slots=True)
class DirectoryEstimate:
    """Tables and directory depth to expect for ``n`` entries inserted into an empty map (well-spread hashes).

    Exact up to 896 entries (one table). Above, a 1024-slot table splits on the key that finds it
    holding 896 entries (7/8 load), into two of about 448 each, so a grown map's tables hold between
    about 448 and 896 entries: ``expected_tables`` is n over a mean fill of 672, and ``tables`` lies in
    [ceil(n/896), 2^max_global_depth] (each table holds at most 896; the directory bounds the rest). A table at depth ``d`` covers
    2^-d of the hash space, about n/2^d entries, so tables split down to the depth ``d`` where
    n/2^d <= 896: ``expected_global_depth`` = ceil(log2(n/896)); tables whose share comes out above
    896 by chance split once more, so ``globalDepth`` reads ``d`` or ``d + 1``.
    """

    entries: int
    min_tables: int
    max_tables: int
    expected_tables: float
    min_global_depth: int
    expected_global_depth: int
    max_global_depth: int


def directory_estimate(n: int) -> DirectoryEstimate:
    full = max_growth_left(MAX_TABLE_CAPACITY)  # 896
    if n <= full:
        t = 0 if n <= SMALL_MAP_MAX else 1
        return DirectoryEstimate(n, t, t, float(t), 0, 0, 0)
    lo = -(-n // full)
    d = (lo - 1).bit_length()  # ceil(log2(n/896)) without floating point
    hi = 1 << (d + 1)  # a directory of 2^globalDepth entries holds at most that many distinct tables
    return DirectoryEstimate(n, lo, hi, min(hi, max(lo, n / (3 * full / 4))), d, d, d + 1)


# ---------------------------------------------------------------------------------------------
# Memory: what the live entries need vs what the map holds.

def made_bytes(hint: int, gt: GroupType, version: str | GoVersion | None = None) -> int:
    """Bytes ``make(map[K]V, hint)`` allocates (header included; a small map's group comes with the first insert)."""
    lay = layout_for_hint(hint, gt.size)
    total = header_block(version)
    if lay.small:
        return total + (group_array_block(1, gt, version) if hint > 0 else 0)
    return (total + directory_block(lay.dir_len, version)
            + lay.tables * (table_block(version) + group_array_block(lay.table_capacity // GROUP_SLOTS, gt, version)))


def memory(used: int, table_capacities: Iterable[int] | Mapping[int, int], dir_len: int, gt: GroupType,
           small: bool = False, version: str | GoVersion | None = None) -> MapMemory:
    """Memory of a Swiss map with ``used`` entries held in distinct tables of the given capacities — one
    capacity per table, or {capacity: number of tables} — or in one small group. Indirect keys/elems
    add one block per live entry to both sides."""
    counts = dict(table_capacities) if isinstance(table_capacities, Mapping) else Counter(table_capacities)
    sc = for_version(version)
    indirect = used * ((sc.block_size(gt.key_size, False) if gt.indirect_key else 0)
                       + (sc.block_size(gt.elem_size, False) if gt.indirect_elem else 0))
    held = header_block(version) + indirect
    if small:
        held += group_array_block(1, gt, version)
    elif counts:
        held += directory_block(dir_len, version) + sum(
            n * (table_block(version) + group_array_block(c // GROUP_SLOTS, gt, version)) for c, n in counts.items())
    rebuilt = made_bytes(used, gt, version) + indirect
    return MapMemory(used * (gt.key_size + gt.elem_size), rebuilt, held)


@dataclass(frozen=True, slots=True)
class Grown:
    """Tables of ``make(map, hint)`` after ``entries`` distinct inserts (no deletes).

    Exact while one table holds everything; once tables split, the split points depend on the
    hashes and ``tables`` is the expected count between ``min_tables`` and ``max_tables``.
    """

    small: bool
    tables: int
    min_tables: int
    max_tables: int
    table_capacity: int  # capacity of every table (all 1024 once there is more than one from growth)
    exact: bool


def grown(hint: int, entries: int) -> Grown:
    lay = layout_for_hint(hint)
    full = max_growth_left(MAX_TABLE_CAPACITY)
    if lay.small:
        if entries <= SMALL_MAP_MAX:
            return Grown(True, 0, 0, 0, 0, True)
        if entries <= full:
            return Grown(False, 1, 1, 1, table_capacity_for_inserts(entries), True)
    elif lay.tables == 1:
        cap = lay.table_capacity
        while entries > max_growth_left(cap) and cap < MAX_TABLE_CAPACITY:
            cap *= 2
        if entries <= max_growth_left(cap):
            return Grown(False, 1, 1, 1, cap, True)
    elif entries <= lay.tables * max_growth_left(lay.table_capacity) * 3 // 4:
        # Comfortably below the fill at which a first table is expected to split.
        return Grown(False, lay.tables, lay.tables, lay.tables, lay.table_capacity, entries == 0)
    est = directory_estimate(entries)
    lo = max(est.min_tables, lay.tables)
    hi = max(est.max_tables, lo)
    return Grown(False, round(min(hi, max(lo, est.expected_tables))), lo, hi, MAX_TABLE_CAPACITY, False)
