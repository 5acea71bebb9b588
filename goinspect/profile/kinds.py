"""Per-sample allocation kinds (map buckets, slice growth, ...) for the report columns.

A thin adapter over ``goinspect.profile.attribute``: the reports only need a
small integer per sample and the kinds' names, to split flat/cum by kind and
name the dominant kind of each row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goinspect.profile.attribute import KINDS, ReadSource, attribute
from goinspect.profile.model import Profile


@dataclass(frozen=True, slots=True)
class SampleKinds:
    codes: np.ndarray  # (samples,) int8 index into names
    names: list[str]
    version_note: str = ""


def sample_kinds(profile: Profile, go_version: str | None = None,
                 read_source: ReadSource | None = None) -> SampleKinds:
    result = attribute(profile, go_version, read_source)
    return SampleKinds(np.asarray(result.codes, dtype=np.int8), list(KINDS), result.version_note)
