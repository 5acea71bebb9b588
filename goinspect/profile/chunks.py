"""Walk a sample table in slices of whole samples, a few million frames at a time.

Per-frame temporaries (node ids, sort keys) are then bounded by the chunk,
not the profile: peak memory stays near the profile's own size.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from goinspect.profile.model import Samples

CHUNK_FRAMES = 1 << 18


def sample_chunks(samples: Samples, max_frames: int = CHUNK_FRAMES) -> Iterator[tuple[int, int]]:
    """Yield ``(first, end)`` sample ranges whose stacks hold about ``max_frames`` frames in all.

    A single sample deeper than ``max_frames`` gets a chunk of its own.
    """
    n = len(samples)
    offsets = samples.loc_offsets
    first = 0
    while first < n:
        end = int(np.searchsorted(offsets, offsets[first] + max_frames, side="right")) - 1
        end = min(max(end, first + 1), n)
        yield first, end
        first = end


def any_per_sample(samples: Samples, loc_flag: np.ndarray) -> np.ndarray:
    """For each sample, whether any of its locations has ``loc_flag`` set."""
    out = np.zeros(len(samples), dtype=bool)
    if not loc_flag.any():
        return out
    offsets = samples.loc_offsets
    for a, b in sample_chunks(samples):
        f0, f1 = int(offsets[a]), int(offsets[b])
        hits = np.zeros(f1 - f0 + 1, dtype=np.int64)
        np.cumsum(loc_flag[samples.locs[f0:f1]], out=hits[1:])
        rel = offsets[a : b + 1] - f0
        out[a:b] = hits[rel[1:]] > hits[rel[:-1]]
    return out
