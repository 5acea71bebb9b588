"""Reading many small objects at once: coalesced reads and bytes-as-numpy views.

Pointer-chasing one ``read`` per bucket is what makes debugger map dumps slow.
Here the addresses of a whole level (every overflow bucket one step down every
chain, every table of a directory) are sorted and read in few large reads that
cover neighbours together; a read that fails is retried per object so one bad
pointer only marks that object unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from goinspect.runtime.types import Memory

#: Neighbouring objects closer than this are fetched by one read (the gap is read and dropped).
MAX_GAP = 64 * 1024
#: No single coalesced read is larger than this.
MAX_RUN = 16 * 1024 * 1024


def read_or_none(mem: Memory, addr: int, size: int) -> bytes | None:
    """``mem.read`` that answers None for memory the target does not have (garbage pointers are normal)."""
    if addr <= 0 or size < 0:
        return None
    try:
        data = mem.read(addr, size)
    except (OSError, ValueError, LookupError, _unreadable()):
        return None
    return data if len(data) == size else None


def _unreadable() -> type[Exception]:
    try:
        from goinspect.target.memory import UnreadableMemory
    except ImportError:  # the memory backends are optional for the pure decoders
        return OSError
    return UnreadableMemory


def u64(data: bytes | np.ndarray, offset: int = 0) -> int:
    return int.from_bytes(bytes(data[offset:offset + 8]), "little")


def uint_at(data: bytes, offset: int, size: int) -> int:
    return int.from_bytes(data[offset:offset + size], "little")


def gather(mem: Memory, addrs: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read ``size`` bytes at each address: (rows uint8[n, size], ok bool[n]) in the order given.

    Unreadable objects get a zero row and ``ok`` False.
    """
    addrs = np.asarray(addrs, dtype=np.uint64)
    n = len(addrs)
    rows = np.zeros((n, size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    if n == 0 or size == 0:
        ok[:] = size == 0
        return rows, ok
    order = np.argsort(addrs, kind="stable")
    sa = addrs[order].astype(np.int64)
    # Start a new run where the gap to the previous object is too big.
    breaks = np.flatnonzero(sa[1:] - (sa[:-1] + size) > MAX_GAP) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [n]))
    for s, e in zip(starts.tolist(), ends.tolist()):
        while s < e:
            # Cap the run length; the remainder becomes the next run.
            lo = int(sa[s])
            e2 = s + int(np.searchsorted(sa[s:e], lo + MAX_RUN - size, side="right"))
            e2 = max(e2, s + 1)
            hi = int(sa[e2 - 1]) + size
            idx = order[s:e2]
            data = read_or_none(mem, lo, hi - lo)
            if data is not None:
                windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(data, dtype=np.uint8), size)
                rows[idx] = windows[sa[s:e2] - lo]  # one copy per object, no index matrix
                ok[idx] = True
            else:
                for j, a in zip(idx.tolist(), sa[s:e2].tolist()):
                    one = read_or_none(mem, a, size)
                    if one is not None:
                        rows[j] = np.frombuffer(one, dtype=np.uint8)
                        ok[j] = True
            s = e2
    return rows, ok


def words(rows: np.ndarray, offset: int) -> np.ndarray:
    """The little-endian uint64 at ``offset`` of every row."""
    return np.ascontiguousarray(rows[:, offset:offset + 8]).view("<u8").ravel()


def uints(rows: np.ndarray, offset: int, size: int) -> np.ndarray:
    """The little-endian unsigned integer of ``size`` bytes at ``offset`` of every row, as uint64."""
    dt = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[size]
    return np.ascontiguousarray(rows[:, offset:offset + size]).view(dt).ravel().astype(np.uint64)


@dataclass(slots=True)
class KeptRows:
    """Bucket/group rows kept for ``--entries``: only until they hold ``want`` live slots,
    so decoding a few entries of a huge map does not hold the whole map in memory."""

    want: int
    rows: list[np.ndarray] = field(default_factory=list)
    live: int = 0

    def offer(self, rows: np.ndarray, live: int) -> None:
        if self.live < self.want and live:
            self.rows.append(rows)
            self.live += live
