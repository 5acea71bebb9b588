"""Classic (bucketed) Go maps, Go ≤ 1.23 (and 1.24–1.25 built with GOEXPERIMENT=noswissmap).

Mirrors ``runtime/map.go`` (``map_noswiss.go`` in 1.24/1.25) and the bucket type the
compiler builds in ``cmd/compile/internal/reflectdata/reflect.go: MapBucketType``.
Sizes are for 64-bit targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from goinspect.model.sizeclasses import PTR_SIZE, for_version
from goinspect.model.version import GoVersion

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


def b_for_hint(hint: int, version: str | GoVersion | None = None) -> int:
    """``makemap``: the smallest B that holds ``hint`` entries without exceeding the load factor."""
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
