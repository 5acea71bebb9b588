"""Per-sample allocation kinds (map buckets, slice growth, ...) for the report columns.

A thin adapter over ``goinspect.profile.attribute`` (helper "attribution"):
the reports only need a small integer per sample and the kinds' names.
Returns None while attribution is unavailable, and the reports then omit
the kind column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goinspect.profile.model import Profile


@dataclass(frozen=True, slots=True)
class SampleKinds:
    codes: np.ndarray  # (samples,) int8 index into names
    names: list[str]


def sample_kinds(profile: Profile) -> SampleKinds | None:
    return None
