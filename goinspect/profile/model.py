"""The in-memory heap profile: pprof's data model, with samples stored as columns.

Mirrors ``profile.proto`` (and google/pprof's ``profile`` package) but keeps
the sample table in numpy arrays: a 250k-sample profile is a handful of
arrays rather than a million Python objects, which is what makes whole-profile
reports fast and keeps memory near the size of the encoded profile.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from goinspect.errors import UsageError


@dataclass(frozen=True, slots=True)
class ValueType:
    type: str
    unit: str


@dataclass(frozen=True, slots=True)
class Mapping:
    id: int
    start: int
    limit: int
    offset: int
    file: str
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False


@dataclass(frozen=True, slots=True)
class Function:
    id: int
    name: str
    system_name: str = ""
    filename: str = ""
    start_line: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    function: Function
    line: int
    column: int = 0


@dataclass(frozen=True, slots=True)
class Location:
    """One program counter. ``lines`` lists inlined frames callee first, as profile.proto does."""

    id: int
    address: int = 0
    mapping: Mapping | None = None
    lines: tuple[Line, ...] = ()
    is_folded: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    """A label that does not fit a numeric column: a string label, or a repeated numeric key."""

    key: str
    str: str = ""
    num: int = 0
    num_unit: str = ""


@dataclass(slots=True)
class LabelColumn:
    """One numeric label key across all samples (the heap profile's ``bytes`` is one)."""

    values: np.ndarray  # (n,) int64; meaningful where ``present``
    present: np.ndarray  # (n,) bool
    unit: str = ""


@dataclass(slots=True)
class Samples:
    """The sample table, column-wise.

    Sample ``i`` has values ``values[i]`` and the stack
    ``locs[loc_offsets[i]:loc_offsets[i + 1]]``: indexes into
    ``Profile.locations``, leaf first.
    """

    values: np.ndarray  # (n, len(sample_types)) int64
    loc_offsets: np.ndarray  # (n + 1,) int64
    locs: np.ndarray  # (total frames,) unsigned int, smallest dtype that fits
    num_labels: dict[str, LabelColumn] = field(default_factory=dict)
    other_labels: dict[int, tuple[Label, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def stack(self, i: int) -> np.ndarray:
        return self.locs[self.loc_offsets[i] : self.loc_offsets[i + 1]]

    def depths(self) -> np.ndarray:
        return np.diff(self.loc_offsets)

    def select(self, mask: np.ndarray) -> Samples:
        """The samples where ``mask`` is true, stacks and labels kept."""
        idx = np.flatnonzero(mask)
        depth = self.depths()[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(depth, out=offsets[1:])
        if len(idx):
            starts = self.loc_offsets[idx]
            # Position of every kept frame in the old ``locs``: each sample's start plus 0..depth-1.
            gather = np.repeat(starts - offsets[:-1], depth) + np.arange(offsets[-1], dtype=np.int64)
            locs = self.locs[gather]
        else:
            locs = self.locs[:0]
        new_pos = {int(old): new for new, old in enumerate(idx) if int(old) in self.other_labels}
        return Samples(
            values=self.values[idx],
            loc_offsets=offsets,
            locs=locs,
            num_labels={
                k: LabelColumn(c.values[idx], c.present[idx], c.unit) for k, c in self.num_labels.items()
            },
            other_labels={new_pos[o]: labels for o, labels in self.other_labels.items() if o in new_pos},
        )


@dataclass(slots=True)
class Profile:
    sample_types: list[ValueType]
    samples: Samples
    locations: list[Location]
    functions: list[Function] = field(default_factory=list)
    mappings: list[Mapping] = field(default_factory=list)
    period_type: ValueType | None = None
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    comments: list[str] = field(default_factory=list)
    drop_frames: str = ""
    keep_frames: str = ""
    default_sample_type: str = ""
    #: Set for ``?debug=1`` text profiles symbolized through the executable. ``go tool pprof``
    #: symbolizes that form with debug/gosym, which names a PC by its physical function and the
    #: innermost file:line, with no inlined frames. Reports that must agree with pprof read a
    #: location as ONE frame: ``lines[-1].function`` at ``lines[0]``'s file and line.
    fold_inlined: bool = False

    def sample_index(self, name: str | None) -> int:
        """Resolve a sample type name (or a number) the way ``pprof -sample_index`` does.

        With no name, pprof uses ``default_sample_type`` if set, else the last type.
        """
        types = [t.type for t in self.sample_types]
        if name is None or name == "":
            if self.default_sample_type in types:
                return types.index(self.default_sample_type)
            return len(types) - 1
        if name.isdigit():
            i = int(name)
            if i < len(types):
                return i
            raise UsageError(f"sample index {i} is out of range: this profile has {len(types)} sample types ({', '.join(types)})")
        if name in types:
            return types.index(name)
        raise UsageError(f"unknown sample index {name!r}: this profile has {', '.join(types)}")

    def frames(self, i: int) -> Iterator[Line]:
        """All frames of sample ``i``, leaf first, inlined frames expanded."""
        for loc in self.samples.stack(i):
            yield from self.locations[int(loc)].lines
