"""The consistency rules of profile.proto, checked the way pprof checks them.

google/pprof rejects a profile at decode time when a string index is out of
range or a referenced id does not exist, and in ``CheckValid`` when ids are
zero or repeated or a sample's value count differs from the number of sample
types. goinspect applies the same rules and names the exact defect
("sample 17 has 3 values but the profile has 4 sample types"), so a user can
tell a truncated download from a buggy profile writer.

``decode`` uses the table helpers while it resolves references;
``check_profile`` checks an in-memory ``Profile`` built any other way
(the legacy text parser, a filtered or diffed profile before export).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from goinspect.errors import ProfileError
from goinspect.profile.model import Profile


def check_string_table(strings: Sequence[str], name: str) -> None:
    if not strings:
        raise ProfileError(f"{name}: not a pprof profile: it has no string table")
    if strings[0] != "":
        raise ProfileError(f"{name}: string_table[0] must be the empty string, found {strings[0][:40]!r}")


def string_at(strings: Sequence[str], index: int, what: str, name: str) -> str:
    """``strings[index]``, or a ProfileError naming ``what`` carried the bad index."""
    if 0 <= index < len(strings):
        return strings[index]
    raise ProfileError(f"{name}: {what} has string index {index}, but the string table has {len(strings)} entries")


def check_string_indexes(indexes: np.ndarray, n_strings: int, what: str, name: str) -> None:
    """Vectorized ``string_at`` range check over many indexes (e.g. every sample label)."""
    bad = np.flatnonzero((indexes < 0) | (indexes >= n_strings))
    if len(bad):
        raise ProfileError(
            f"{name}: {what} {int(bad[0])} has string index {int(indexes[bad[0]])}, "
            f"but the string table has {n_strings} entries"
        )


def index_ids(kind: str, ids: Iterable[int], name: str) -> dict[int, int]:
    """Map each id to its position; ids must be non-zero and unique (pprof's CheckValid)."""
    positions: dict[int, int] = {}
    for pos, ident in enumerate(ids):
        if ident == 0:
            raise ProfileError(f"{name}: {kind} #{pos} has id 0, which is reserved")
        if ident in positions:
            raise ProfileError(f"{name}: two {kind}s have id {ident}")
        positions[ident] = pos
    return positions


def check_value_counts(counts: np.ndarray, n_types: int, name: str) -> None:
    """Every sample carries exactly one value per sample type."""
    bad = np.flatnonzero(counts != n_types)
    if len(bad):
        i = int(bad[0])
        raise ProfileError(
            f"{name}: sample {i} has {int(counts[i])} values but the profile has {n_types} sample types"
        )


def check_profile(profile: Profile, name: str = "profile") -> None:
    """pprof's CheckValid for a ``Profile`` built in memory; raises ProfileError on the first defect."""
    samples = profile.samples
    n_types = len(profile.sample_types)
    if len(samples) and n_types == 0:
        raise ProfileError(f"{name}: it has samples but no sample types")
    if samples.values.ndim != 2 or samples.values.shape[1] != n_types:
        raise ProfileError(
            f"{name}: samples have {samples.values.shape[-1] if samples.values.ndim else 0} values each "
            f"but the profile has {n_types} sample types"
        )
    offsets = samples.loc_offsets
    if len(offsets) != len(samples) + 1 or (len(offsets) and (offsets[0] != 0 or offsets[-1] != len(samples.locs))):
        raise ProfileError(f"{name}: the sample stack offsets do not cover the location list")
    if len(offsets) > 1 and np.any(np.diff(offsets) < 0):
        raise ProfileError(f"{name}: the sample stack offsets are not increasing")
    if len(samples.locs) and int(samples.locs.max()) >= len(profile.locations):
        i = int(np.searchsorted(offsets, int(np.argmax(samples.locs >= len(profile.locations))), side="right")) - 1
        raise ProfileError(f"{name}: sample {i} refers to a location that does not exist")
    for key, col in samples.num_labels.items():
        if len(col.values) != len(samples) or len(col.present) != len(samples):
            raise ProfileError(f"{name}: label column {key!r} has the wrong length")
    for i in samples.other_labels:
        if not 0 <= i < len(samples):
            raise ProfileError(f"{name}: labels recorded for sample {i}, which does not exist")
    mappings = index_ids("mapping", (m.id for m in profile.mappings), name)
    functions = index_ids("function", (f.id for f in profile.functions), name)
    index_ids("location", (loc.id for loc in profile.locations), name)
    for loc in profile.locations:
        if loc.mapping is not None and loc.mapping.id not in mappings:
            raise ProfileError(f"{name}: location {loc.id} refers to mapping {loc.mapping.id}, which is not in the profile")
        for line in loc.lines:
            if line.function.id != 0 and line.function.id not in functions:
                raise ProfileError(
                    f"{name}: location {loc.id} refers to function {line.function.id}, which is not in the profile"
                )
