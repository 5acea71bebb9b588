"""Malloc size classes: what block a request of n bytes really gets.

Mirrors ``runtime/msize.go: roundupsize`` and the size decisions of
``runtime/malloc.go: mallocgc``; the tables come from each release's
``sizeclasses.go`` (``runtime/`` up to 1.24, ``internal/runtime/gc/`` after),
generated into ``_sizeclasses_data.py`` by ``scripts/gen_sizeclasses.py``.
"""

from __future__ import annotations

import bisect
from functools import lru_cache

from goinspect.model._sizeclasses_data import TABLES, VERSIONS
from goinspect.model.version import GoVersion, generated_release

# runtime/mbitmap.go (1.22–1.24), internal/runtime/gc/malloc.go (1.25+): mallocHeaderSize = 8,
# minSizeForMallocHeader = PtrSize * ptrBits = 8 * 64 on 64-bit.
MALLOC_HEADER_SIZE = 8
MIN_SIZE_FOR_MALLOC_HEADER = 512
# runtime/malloc.go: maxTinySize = 16 (the tiny allocator packs noscan objects smaller than this).
MAX_TINY_SIZE = 16
PTR_SIZE = 8  # linux/amd64 and arm64
# runtime/malloc.go: maxAlloc = (1 << heapAddrBits) - (1-_64bit)*1, heapAddrBits = 48 on 64-bit Linux.
MAX_ALLOC = 1 << 48


class SizeClasses:
    """One release's size-class table."""

    def __init__(self, version: GoVersion):
        self.version = version
        self.release = generated_release(version)
        index, self.source = VERSIONS[self.release]
        t = TABLES[index]
        self.class_to_size: tuple[int, ...] = t["class_to_size"]
        self.class_to_npages: tuple[int, ...] = t["class_to_npages"]
        self.max_small_size: int = t["max_small_size"]
        self.page_size: int = t["page_size"]
        self.headers = version.malloc_headers

    def size_class(self, size: int) -> int:
        """The smallest class whose size is >= ``size`` (what size_to_class8/128 compute)."""
        return bisect.bisect_left(self.class_to_size, size, lo=1)

    def _small_limit(self) -> int:
        # mallocgc: objects up to maxSmallSize-mallocHeaderSize are small from 1.22 on (msize.go);
        # 1.21's roundupsize: size < _MaxSmallSize, mallocgc: size <= maxSmallSize.
        return self.max_small_size - MALLOC_HEADER_SIZE if self.headers else self.max_small_size

    def has_header(self, size: int, noscan: bool) -> bool:
        """Whether a small object of ``size`` bytes carries a malloc header (1.22+: pointerful and > 512 bytes)."""
        return self.headers and not noscan and size > MIN_SIZE_FOR_MALLOC_HEADER and size <= self._small_limit()

    def roundupsize(self, size: int, noscan: bool) -> int:
        """``runtime.roundupsize``: usable bytes of the block a request of ``size`` gets (header excluded)."""
        if size <= self._small_limit():
            req = size + (MALLOC_HEADER_SIZE if self.has_header(size, noscan) else 0)
            return self.class_to_size[self.size_class(req)] - (req - size)
        return -(-size // self.page_size) * self.page_size

    def block_size(self, size: int, noscan: bool) -> int:
        """The whole block ``mallocgc(size)`` takes: span elemsize, the ``bytes`` label of a heap profile sample.

        Tiny noscan requests (< 16 bytes) share a 16-byte block; a pointerful object with a malloc
        header is 8 bytes bigger than what ``roundupsize`` reports usable; large objects get whole pages.
        Zero-byte requests return 0 (they point at ``runtime.zerobase``, nothing is allocated).
        """
        if size == 0:
            return 0
        if noscan and size < MAX_TINY_SIZE:
            return MAX_TINY_SIZE
        if size <= self._small_limit():
            req = size + (MALLOC_HEADER_SIZE if self.has_header(size, noscan) else 0)
            return self.class_to_size[self.size_class(req)]
        return -(-size // self.page_size) * self.page_size

    def is_block_size(self, n: int) -> bool:
        """Whether ``n`` can be a block size at all (a class size or a page multiple)."""
        return n in self.class_to_size[1:] or (n > self.max_small_size and n % self.page_size == 0)


@lru_cache(maxsize=None)
def for_version(version: str | GoVersion | None = None) -> SizeClasses:
    return SizeClasses(GoVersion.parse(version))


def roundupsize(size: int, noscan: bool, version: str | GoVersion | None = None) -> int:
    """``runtime.roundupsize(size, noscan)`` of the given Go release."""
    return for_version(version).roundupsize(size, noscan)


def block_size(size: int, noscan: bool, version: str | GoVersion | None = None) -> int:
    """The block (span elemsize) ``mallocgc(size)`` allocates in the given Go release."""
    return for_version(version).block_size(size, noscan)
