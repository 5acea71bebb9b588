"""Classic (bucketed) Go maps, Go ≤ 1.23 (and 1.24–1.25 built with GOEXPERIMENT=noswissmap).

Mirrors ``runtime/map.go`` (``map_noswiss.go`` in 1.24/1.25) and the bucket type the
compiler builds in ``cmd/compile/internal/reflectdata/reflect.go: MapBucketType``.
Sizes are for 64-bit targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from goinspect.model.sizeclasses import MAX_ALLOC, PTR_SIZE, for_version
from goinspect.model.version import GoVersion
from goinspect.model.mapmemory import MapMemory

# internal/abi/map.go (runtime/map.go bucketCnt before 1.22): 8 slots per bucket.
BUCKET_COUNT = 8
# internal/abi/map.go: MapMaxKeyBytes, MapMaxElemBytes — bigger keys/elems are stored through a pointer.
MAX_KEY_BYTES = 128
MAX_ELEM_BYTES = 128
# runtime/map.go: loadFactorDen = 2; loadFactorNum = loadFactorDen*bucketCnt*13/16 = 13 (6.5 per bucket)
# since Go 1.22. Go 1.21 wrote (bucketCnt*13/16)*loadFactorDen, which integer division makes 12 (6.0).
LOAD_FACTOR_DEN = 2
LOAD_FACTOR_NUM = 13
LOAD_FACTOR_NUM_GO121 = 12


def load_factor_num(version: str | GoVersion | None = None) -> int:
    v = GoVersion.parse(version)
    return LOAD_FACTOR_NUM if (v.major, v.minor) >= (1, 22) else LOAD_FACTOR_NUM_GO121
# runtime/map.go: makeBucketArray preallocates 2^(b-4) overflow buckets when b >= 4.
PREALLOC_OVERFLOW_MIN_B = 4
# runtime/map.go: hmap{count int; flags, B uint8; noverflow uint16; hash0 uint32;
# buckets, oldbuckets unsafe.Pointer; nevacuate uintptr; extra *mapextra} = 48 bytes.
HMAP_SIZE = 48
# runtime/map_noswiss.go (1.24, 1.25): the same plus clearSeq uint64 before extra = 56 bytes.
HMAP_SIZE_NOSWISS = 56
# runtime/map.go: mapextra{overflow, oldoverflow *[]*bmap; nextOverflow *bmap} = 24 bytes.
MAPEXTRA_SIZE = 24


@dataclass(frozen=True, slots=True)
class BucketType:
    """The compiler's ``bucket<K,V>``: tophash [8]uint8, keys [8]K, elems [8]V, overflow pointer."""

    key_size: int
    elem_size: int
    indirect_key: bool
    indirect_elem: bool
    size: int
    noscan: bool  # keys and elems hold no pointers: the overflow field becomes a uintptr (reflect.go)

    @classmethod
    def of_size(cls, size: int, noscan: bool) -> BucketType:
        """A bucket known only by its size (what a heap profile's block sizes can reveal)."""
        return cls(0, 0, False, False, size, noscan)


def bucket_type(key_size: int, elem_size: int, key_pointers: bool = False, elem_pointers: bool = False) -> BucketType:
    """Bucket layout for keys and elems of the given sizes (and whether they contain pointers).

    Every field offset is a multiple of 8 (tophash is 8 bytes, the arrays hold 8 of each),
    so there is no padding on 64-bit targets.
    """
    ik = key_size > MAX_KEY_BYTES
    ie = elem_size > MAX_ELEM_BYTES
    k = PTR_SIZE if ik else key_size
    e = PTR_SIZE if ie else elem_size
    size = BUCKET_COUNT + BUCKET_COUNT * k + BUCKET_COUNT * e + PTR_SIZE
    noscan = not (key_pointers or elem_pointers or ik or ie)
    return BucketType(key_size, elem_size, ik, ie, size, noscan)


def over_load_factor(count: int, b: int, version: str | GoVersion | None = None) -> bool:
    """``runtime.overLoadFactor``: count > 8 && count > 6.5 * 2^B (6 * 2^B in Go 1.21)."""
    return count > BUCKET_COUNT and count > load_factor_num(version) * ((1 << b) // LOAD_FACTOR_DEN)


def too_many_overflow_buckets(noverflow: int, b: int) -> bool:
    """``runtime.tooManyOverflowBuckets``: noverflow >= 2^min(B, 15) triggers a same-size grow."""
    return noverflow >= 1 << min(b, 15)


def effective_hint(hint: int, bt: BucketType) -> int:
    """``makemap`` ignores a hint whose hint*bucketSize exceeds maxAlloc (a map of B = 0 results)."""
    return 0 if hint * bt.size > MAX_ALLOC else hint


def b_for_hint(hint: int, version: str | GoVersion | None = None) -> int:
    """``makemap``: the smallest B that holds ``hint`` entries without exceeding the load factor
    (pass ``effective_hint`` first for absurd hints)."""
    b = 0
    while over_load_factor(hint, b, version):
        b += 1
    return b


def b_after_inserts(n: int, hint: int = 0, version: str | GoVersion | None = None) -> int:
    """B after ``n`` distinct inserts into ``make(map, hint)`` with no deletes (doubling grows only)."""
    b = b_for_hint(hint, version)
    while over_load_factor(n, b, version):
        b += 1
    return b


@dataclass(frozen=True, slots=True)
class BucketArray:
    b: int
    nbuckets: int  # 2^B plus the preallocated overflow buckets
    mem: int  # bytes newarray asks for
    block: int  # span elemsize (heap profile ``bytes``)

    @property
    def prealloc_overflow(self) -> int:
        return self.nbuckets - (1 << self.b)


def bucket_array(b: int, bt: BucketType, version: str | GoVersion | None = None) -> BucketArray:
    """``runtime.makeBucketArray``: 2^B buckets, plus 2^(B-4) overflow buckets when B >= 4,
    plus whatever more fits in the rounded-up allocation."""
    sc = for_version(version)
    nbuckets = 1 << b
    if b >= PREALLOC_OVERFLOW_MIN_B:
        nbuckets += 1 << (b - PREALLOC_OVERFLOW_MIN_B)
        sz = bt.size * nbuckets
        up = sc.roundupsize(sz, bt.noscan)
        if up != sz:
            nbuckets = up // bt.size
    mem = nbuckets * bt.size
    return BucketArray(b, nbuckets, mem, sc.block_size(mem, bt.noscan))


def hmap_size(version: str | GoVersion | None = None) -> int:
    v = GoVersion.parse(version)
    return HMAP_SIZE_NOSWISS if (v.major, v.minor) >= (1, 24) else HMAP_SIZE


def header_block(version: str | GoVersion | None = None) -> int:
    """Block of ``new(hmap)`` (makemap, makemap_small)."""
    return for_version(version).block_size(hmap_size(version), False)


def growth_block_sizes(n: int, bt: BucketType, hint: int = 0, version: str | GoVersion | None = None) -> list[int]:
    """Bucket-array blocks allocated while inserting ``n`` distinct keys into ``make(map, hint)``, in order.

    A map made with B = 0 gets its single bucket lazily on the first insert (``mapassign``:
    ``newobject(t.Bucket)``); every doubling allocates a new array (``hashGrow``).
    Overflow buckets (``newoverflow``, one bucket each) depend on hash collisions and are not listed.
    """
    sc = for_version(version)
    b0 = b_for_hint(hint, version)
    out = []
    if n > 0 and b0 == 0:
        out.append(sc.block_size(bt.size, bt.noscan))
    elif b0 > 0:
        out.append(bucket_array(b0, bt, version).block)
    for b in range(b0 + 1, b_after_inserts(n, hint, version) + 1):
        out.append(bucket_array(b, bt, version).block)
    return out


def bucket_ladder(bt: BucketType, max_bytes: int, version: str | GoVersion | None = None) -> list[int]:
    """Every block size a growing map of this bucket type allocates (single bucket, then B = 1, 2, …)."""
    sc = for_version(version)
    out = [sc.block_size(bt.size, bt.noscan)]
    b = 1
    while True:
        blk = bucket_array(b, bt, version).block
        if blk > max_bytes:
            return out
        out.append(blk)
        b += 1


# ---------------------------------------------------------------------------------------------
# Overflow-bucket accounting: runtime/map.go incrnoverflow, newoverflow, tooManyOverflowBuckets.

# runtime/map.go: incrnoverflow counts every new overflow bucket while h.B < 16 and, from B = 16,
# increments with probability 1/2^(B-15) (``rand() & (1<<(B-15) - 1) == 0``).
NOVERFLOW_EXACT_BELOW_B = 16
# runtime/map.go: tooManyOverflowBuckets caps B at 15 ("if B > 15 { B = 15 }"); noverflow is a uint16.
OVERFLOW_TRIGGER_MAX_B = 15


def noverflow_probability(b: int) -> float:
    """Chance that one new overflow bucket increments ``noverflow`` (``incrnoverflow``)."""
    return 1.0 if b < NOVERFLOW_EXACT_BELOW_B else 1.0 / (1 << (b - 15))


def noverflow_is_exact(b: int) -> bool:
    return b < NOVERFLOW_EXACT_BELOW_B


@dataclass(frozen=True, slots=True)
class NoverflowBand:
    """What ``hmap.noverflow`` should read after ``overflow`` overflow buckets were created since the last grow.

    ``newoverflow`` calls ``incrnoverflow`` once per overflow bucket it hands out (preallocated or
    new) and ``hashGrow``/``mapclear`` reset the count, so below B = 16 ``noverflow`` equals the
    overflow buckets chained from ``h.buckets``. From B = 16 each increment is a Bernoulli trial
    with p = 1/2^(B-15): noverflow ~ Binomial(overflow, p). ``low``/``high`` is mean ± ``sigmas``
    standard deviations, widened to whole numbers and clipped to [0, overflow].
    """

    b: int
    overflow: int
    exact: bool
    probability: float
    expected: float
    stddev: float
    low: int
    high: int
    sigmas: float

    def contains(self, noverflow: int) -> bool:
        return self.low <= noverflow <= self.high


def noverflow_band(b: int, overflow: int, sigmas: float = 6.0) -> NoverflowBand:
    """The ``noverflow`` value (exact, or a binomial band) for ``overflow`` overflow buckets in ``h.buckets`` chains.

    Six sigmas by default: a healthy map falls outside with probability below 1e-8, so a cross-check
    that fails is evidence of a misread rather than bad luck.
    """
    import math

    if overflow < 0:
        raise ValueError("overflow bucket count must be >= 0")
    p = noverflow_probability(b)
    if p == 1.0:
        return NoverflowBand(b, overflow, True, 1.0, float(overflow), 0.0, overflow, overflow, sigmas)
    mean = overflow * p
    sd = math.sqrt(overflow * p * (1 - p))
    low = max(0, math.floor(mean - sigmas * sd))
    high = min(overflow, math.ceil(mean + sigmas * sd))
    return NoverflowBand(b, overflow, False, p, mean, sd, low, high, sigmas)


def overflow_buckets_band(b: int, noverflow: int, sigmas: float = 6.0) -> tuple[int, int]:
    """Inverse of ``noverflow_band``: the smallest and largest overflow-bucket counts whose band
    contains ``noverflow`` (exact below B = 16; from B = 16 about noverflow * 2^(B-15), give or take).

    Solves |n*p - x| <= k*sqrt(n*p*(1-p)) for sqrt(n), then nudges the ends to whole-number bands.
    """
    if noverflow_is_exact(b):
        return noverflow, noverflow
    import math

    p = noverflow_probability(b)
    r = sigmas * math.sqrt(p * (1 - p))
    disc = math.sqrt(r * r + 4 * p * noverflow)
    lo = max(noverflow, math.ceil(((disc - r) / (2 * p)) ** 2))
    hi = math.floor(((disc + r) / (2 * p)) ** 2)
    while hi + 1 > 0 and noverflow_band(b, hi + 1, sigmas).contains(noverflow):
        hi += 1
    while hi > lo and not noverflow_band(b, hi, sigmas).contains(noverflow):
        hi -= 1
    while lo > noverflow and noverflow_band(b, lo - 1, sigmas).contains(noverflow):
        lo -= 1
    while lo < hi and not noverflow_band(b, lo, sigmas).contains(noverflow):
        lo += 1
    return lo, hi


def overflow_trigger(b: int) -> int:
    """``tooManyOverflowBuckets``: the ``noverflow`` at which the next new key starts a same-size grow."""
    return 1 << min(b, OVERFLOW_TRIGGER_MAX_B)


def prealloc_overflow_buckets(b: int, bt: BucketType, version: str | GoVersion | None = None) -> int:
    """Overflow buckets ``makeBucketArray`` puts after the 2^B buckets (handed out by ``newoverflow`` first)."""
    return bucket_array(b, bt, version).prealloc_overflow


# ---------------------------------------------------------------------------------------------
# Growth: runtime/map.go mapassign, hashGrow, growWork, evacuate, advanceEvacuationMark.

def load_threshold(b: int, version: str | GoVersion | None = None) -> int:
    """The largest ``count`` that 2^B buckets hold without ``overLoadFactor`` (at least 8)."""
    return max(BUCKET_COUNT, load_factor_num(version) * ((1 << b) // LOAD_FACTOR_DEN))


def grow_kind(count: int, b: int, noverflow: int, version: str | GoVersion | None = None) -> str | None:
    """What ``mapassign`` does when a *new* key arrives at a map that is not growing: ``"double"``
    (``overLoadFactor(count+1, B)``), ``"same-size"`` (``tooManyOverflowBuckets``; hashGrow sets
    sameSizeGrow only when the map is not over the load factor) or None (no grow)."""
    if over_load_factor(count + 1, b, version):
        return "double"
    if too_many_overflow_buckets(noverflow, b):
        return "same-size"
    return None


def new_keys_until_double(count: int, b: int, version: str | GoVersion | None = None) -> int:
    """How many more distinct keys the map takes before the one that starts a doubling grow
    (the ``n``-th new key after this returns ``n`` triggers ``hashGrow``; 1 means the very next)."""
    return max(1, load_threshold(b, version) - count + 1)


def old_bucket_count(b: int, same_size: bool) -> int:
    """``noldbuckets``: 2^B for a same-size grow, 2^(B-1) for a doubling one."""
    return 1 << (b if same_size else b - 1)


@dataclass(frozen=True, slots=True)
class Evacuation:
    """Progress of an incremental grow and what each further write does.

    Every ``mapassign`` and ``mapdelete`` on a growing map (deletes only when count > 0) calls
    ``growWork``: it evacuates the old bucket the written key hashes to (``bucket & oldbucketmask``)
    and then old bucket ``nevacuate``; ``advanceEvacuationMark`` moves ``nevacuate`` past every
    evacuated bucket (at most 1024 at a time) and ends the grow (oldbuckets = nil) when it reaches
    ``noldbuckets``. So each write evacuates one or two old buckets: with ``u`` old buckets still
    unevacuated, between ``ceil(u/2)`` and ``u`` writes finish the grow. Buckets past ``nevacuate``
    may already be evacuated (a written key's bucket goes first); ``evacuated_ahead`` says how many
    (count the evacuation marks in the old buckets), and when it is unknown the fewest writes is 1.
    Nothing evacuates in the background: a map that is not written stays half-grown forever.
    """

    noldbuckets: int
    nevacuate: int
    same_size: bool
    evacuated_ahead: int | None = None

    @property
    def remaining(self) -> int:
        """Old buckets at or after ``nevacuate`` (some may already be evacuated out of order)."""
        return max(0, self.noldbuckets - self.nevacuate)

    @property
    def fraction_done(self) -> float:
        return self.nevacuate / self.noldbuckets if self.noldbuckets else 1.0

    @property
    def writes_to_finish(self) -> tuple[int, int]:
        """(fewest, most) writes until ``oldbuckets`` is freed."""
        if self.remaining == 0:
            return (0, 0)
        if self.evacuated_ahead is None:
            return (1, self.remaining)
        u = max(1, self.remaining - self.evacuated_ahead)
        return (-(-u // 2), u)


def evacuation(b: int, nevacuate: int, same_size: bool, evacuated_ahead: int | None = None) -> Evacuation:
    return Evacuation(old_bucket_count(b, same_size), nevacuate, same_size, evacuated_ahead)


@dataclass(frozen=True, slots=True)
class NextWrite:
    """What the next write of a new key will do to the map's structure."""

    action: str  # "evacuate" (growing), "grow-double", "grow-same-size", "insert"
    detail: str
    new_keys_until_grow: int | None  # distinct new keys until a doubling grow (None while growing)


def next_write(count: int, b: int, noverflow: int, growing: bool = False, nevacuate: int = 0,
               same_size: bool = False, version: str | GoVersion | None = None) -> NextWrite:
    """``mapassign`` of a new key, step by step: growWork when growing, else maybe hashGrow, else insert."""
    if growing:
        ev = evacuation(b, nevacuate, same_size)
        lo, hi = ev.writes_to_finish
        return NextWrite("evacuate", f"growWork evacuates the key's old bucket and old bucket {nevacuate} "
                         f"of {ev.noldbuckets}; {lo}..{hi} more writes finish the "
                         f"{'same-size' if same_size else 'doubling'} grow", None)
    kind = grow_kind(count, b, noverflow, version)
    if kind == "double":
        return NextWrite("grow-double", f"count {count + 1} > {load_threshold(b, version)} (load factor): "
                         f"hashGrow doubles to B={b + 1} ({1 << (b + 1)} buckets), then evacuates", 1)
    if kind == "same-size":
        return NextWrite("grow-same-size", f"noverflow {noverflow} >= {overflow_trigger(b)}: hashGrow rebuilds "
                         f"the {1 << b} buckets at the same size to drop overflow chains", None)
    n = new_keys_until_double(count, b, version)
    return NextWrite("insert", f"key stored in its bucket (an overflow bucket if its chain is full); "
                     f"the {n}{_nth(n)} new key doubles to B={b + 1}", n)


def _nth(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


# ---------------------------------------------------------------------------------------------
# Memory: what the live entries need vs what the map holds.

def memory(count: int, b: int, bt: BucketType, overflow: int = 0, growing: bool = False, same_size: bool = False,
           version: str | GoVersion | None = None) -> MapMemory:
    """Memory of a classic map with ``count`` live entries, ``2^B`` buckets and ``overflow`` overflow
    buckets chained from them (what a walk of ``h.buckets`` counts).

    Held: the header; the bucket array (``makeBucketArray``); ``mapextra`` once B >= 4 preallocated
    overflow buckets, or once a pointer-free bucket type needed an overflow bucket (``createOverflow``);
    overflow buckets beyond the preallocated ones, one ``newobject(t.Bucket)`` each; for pointer-free
    buckets the ``[]*bmap`` that keeps them alive (``new([]*bmap)`` plus the array ``overflow``
    appends grew); one block per live entry for keys/elems stored indirectly (> 128 bytes). While
    growing, the old bucket array is added (its old overflow buckets are not: a lower bound).
    """
    from goinspect.model import slices

    sc = for_version(version)
    indirect = count * ((sc.block_size(bt.key_size, False) if bt.indirect_key else 0)
                        + (sc.block_size(bt.elem_size, False) if bt.indirect_elem else 0))
    header = header_block(version)
    extra = sc.block_size(MAPEXTRA_SIZE, False)
    arr = bucket_array(b, bt, version)
    held = header + indirect + arr.block
    if b >= PREALLOC_OVERFLOW_MIN_B or (bt.noscan and overflow > 0):
        held += extra
    held += max(0, overflow - arr.prealloc_overflow) * sc.block_size(bt.size, bt.noscan)
    if bt.noscan and overflow > 0:
        held += sc.block_size(3 * PTR_SIZE, False) + slices.append_growths(overflow, PTR_SIZE, False, version)[-1].block
    if growing:
        held += bucket_array(b if same_size else b - 1, bt, version).block
    b_fresh = b_for_hint(count, version)
    rebuilt = header + indirect
    if count > 0:
        fresh = bucket_array(b_fresh, bt, version)
        rebuilt += fresh.block + (extra if fresh.prealloc_overflow else 0)
    return MapMemory(count * (bt.key_size + bt.elem_size), rebuilt, held)
