"""Derived profiles for export: a diff, samples passing -focus/-ignore, or one sample type only.

Each step returns a new ``Profile`` that ``encode`` writes as a file
``go tool pprof`` opens and reports the same totals for as goinspect.
"""

from __future__ import annotations

from dataclasses import replace

from goinspect.profile.filters import NameFilter, sample_mask
from goinspect.profile.model import Profile


def keep_matching(profile: Profile, filters: NameFilter) -> Profile:
    """Only the samples that pass -focus/-ignore (the profile unchanged without filters)."""
    mask = sample_mask(profile, filters)
    if mask is None:
        return profile
    return replace(profile, samples=profile.samples.select(mask))


def keep_sample_type(profile: Profile, index: int) -> Profile:
    """Only one value column, which also becomes the default sample type."""
    s = profile.samples
    samples = replace(s, values=s.values[:, [index]].copy())
    t = profile.sample_types[index]
    return replace(profile, samples=samples, sample_types=[t], default_sample_type=t.type)
