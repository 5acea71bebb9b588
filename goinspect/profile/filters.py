"""Which samples and frames a report looks at: pprof's -focus/-ignore and drop_frames.

Both work per *location* (a Python pass over the location table, which is
small) and are then applied to the sample table with numpy, so the cost on a
profile with millions of frames is a few array operations.

pprof semantics (google/pprof ``profile/filter.go``, ``profile/prune.go``):

- A location matches a regex when the function name or file name of any of
  its (inlined) lines, or its mapping's file, matches (unanchored search).
- ``-focus``: keep a sample if some location matches focus and none matches
  ignore; with only ``-ignore``, every location that does not match it counts
  as focused, so samples with an empty stack are dropped too.
- ``drop_frames``/``keep_frames`` (anchored, matched against the function
  name with its argument list trimmed) cut every frame at and beneath the
  first frame, counted from the root after the first "user" frame, that
  matches drop_frames but not keep_frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from goinspect.errors import ProfileError, UsageError
from goinspect.profile.chunks import any_per_sample
from goinspect.profile.legacy import pprof_view
from goinspect.profile.model import Location, Profile, Samples


def compile_regex(pattern: str | None, option: str) -> re.Pattern[str] | None:
    """Compile a user's regex, or say in one sentence why it is not one."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"--{option} {pattern!r} is not a valid regular expression: {e}") from None


@dataclass(frozen=True, slots=True)
class NameFilter:
    """pprof's -focus and -ignore, compiled."""

    focus: re.Pattern[str] | None = None
    ignore: re.Pattern[str] | None = None

    @classmethod
    def compile(cls, focus: str | None, ignore: str | None) -> NameFilter:
        return cls(compile_regex(focus, "focus"), compile_regex(ignore, "ignore"))

    def __bool__(self) -> bool:
        return self.focus is not None or self.ignore is not None

    def describe(self) -> list[str]:
        """The 'Active filters' lines pprof prints."""
        out = []
        if self.focus is not None:
            out.append(f"focus={self.focus.pattern}")
        if self.ignore is not None:
            out.append(f"ignore={self.ignore.pattern}")
        return out


def location_matches(profile: Profile, regex: re.Pattern[str]) -> np.ndarray:
    """Per location: does any of its function names, file names or its mapping file match?"""
    cache: dict[tuple[str, str], bool] = {}
    out = np.zeros(len(profile.locations), dtype=bool)
    for i, loc in enumerate(profile.locations):
        hit = False
        for line in loc.lines:
            f = line.function
            key = (f.name, f.filename)
            m = cache.get(key)
            if m is None:
                m = cache[key] = bool(regex.search(f.name) or regex.search(f.filename))
            if m:
                hit = True
                break
        if not hit and loc.mapping is not None and regex.search(loc.mapping.file):
            hit = True
        out[i] = hit
    return out


def sample_mask(profile: Profile, names: NameFilter) -> np.ndarray | None:
    """Samples that pass -focus/-ignore (None when no filter is set)."""
    if not names:
        return None
    n_locs = len(profile.locations)
    ignored = location_matches(profile, names.ignore) if names.ignore is not None else np.zeros(n_locs, bool)
    focused = location_matches(profile, names.focus) if names.focus is not None else np.ones(n_locs, bool)
    focused &= ~ignored
    s = profile.samples
    return any_per_sample(s, focused) & ~any_per_sample(s, ignored)


_BRACKET = re.compile(r"\(anonymous namespace\)|operator\(\)|\(")


def _simplify(name: str) -> str:
    """pprof's simplifyFunc: drop a leading '.', and an argument list starting at the first plain '('."""
    name = name.removeprefix(".")
    for m in _BRACKET.finditer(name):
        if m.group(0) == "(":
            return name[: m.start()]
    return name


def prune_frames(profile: Profile) -> Profile:
    """Apply the profile's own drop_frames/keep_frames the way pprof does on load (RemoveUninteresting).

    A symbolized ``?debug=1`` profile is first folded to pprof's view of its frames
    (``legacy.pprof_view``), so that reports agree with ``go tool pprof`` on that form too.
    """
    profile = pprof_view(profile)
    if not profile.drop_frames:
        return profile
    try:
        drop = re.compile(f"^(?:{profile.drop_frames})$")
        keep = re.compile(f"^(?:{profile.keep_frames})$") if profile.keep_frames else None
    except re.error as e:
        raise ProfileError(f"the profile's drop_frames/keep_frames is not a valid regular expression: {e}") from None

    cache: dict[str, bool] = {}

    def pruned(name: str) -> bool:
        r = cache.get(name)
        if r is None:
            simple = _simplify(name)
            r = cache[name] = bool(drop.match(simple)) and not (keep is not None and keep.match(simple))
        return r

    n_locs = len(profile.locations)
    whole = np.zeros(n_locs, dtype=bool)  # the location goes entirely
    beneath = np.zeros(n_locs, dtype=bool)  # frames beneath it go; it may keep its caller lines
    locations: list[Location] = list(profile.locations)
    for i, loc in enumerate(profile.locations):
        lines = loc.lines
        # Scan from the outermost (caller) line inwards; the first match cuts it and its callees.
        for j in range(len(lines) - 1, -1, -1):
            if lines[j].function.name and pruned(lines[j].function.name):
                beneath[i] = True
                if j == len(lines) - 1:
                    whole[i] = True
                else:
                    locations[i] = replace(loc, lines=lines[j + 1 :])
                break
    if not beneath.any():
        return profile

    s = profile.samples
    n = len(s)
    flagged = beneath[s.locs]
    pos = np.arange(len(s.locs), dtype=np.int64)
    starts, ends = s.loc_offsets[:-1], s.loc_offsets[1:]
    nonempty = ends > starts
    # Root-most user (unflagged) frame of each sample: the largest position among unflagged frames.
    user_pos = np.where(~flagged, pos, -1)
    root_user = np.full(n, -1, dtype=np.int64)
    if nonempty.any():
        root_user[nonempty] = np.maximum.reduceat(user_pos, starts[nonempty])
    # The cut: the flagged frame nearest the root that lies leafward of that user frame.
    sample_of = np.repeat(np.arange(n), ends - starts)
    cand = np.where(flagged & (pos < root_user[sample_of]), pos, -1)
    cut = np.full(n, -1, dtype=np.int64)
    if nonempty.any():
        cut[nonempty] = np.maximum.reduceat(cand, starts[nonempty])
    has_cut = cut >= 0
    new_start = starts.copy()
    cut_loc = s.locs[cut[has_cut]]
    new_start[has_cut] = cut[has_cut] + whole[cut_loc].astype(np.int64)
    depth = ends - new_start
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(depth, out=offsets[1:])
    gather = np.repeat(new_start - offsets[:-1], depth) + np.arange(offsets[-1], dtype=np.int64)
    samples = Samples(values=s.values, loc_offsets=offsets, locs=s.locs[gather],
                      num_labels=s.num_labels, other_labels=s.other_labels)
    return replace(profile, samples=samples, locations=locations)
