"""The absolute difference of two profiles, built the way ``pprof -diff_base`` builds it.

pprof labels every base sample ``pprof::base=true``, scales the base by -1 and
merges it with the current profile. Reports then show current minus base per
node, and take their total (the 100% of the percentages) from the base
samples alone (``report.computeTotal``). The merged profile is an ordinary
``Profile``, so ``aggregate`` handles it unchanged and ``encode`` can write it
out for ``go tool pprof`` to open with the same totals.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from goinspect.errors import UsageError
from goinspect.profile.aggregate import DIFF_BASE_LABEL
from goinspect.profile.model import Function, Label, LabelColumn, Line, Location, Mapping, Profile, Samples

_BASE_LABEL = Label(key=DIFF_BASE_LABEL, str="true")


def _smallest_uint(limit: int) -> type:
    for dt in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dt).max:
            return dt
    return np.uint64


def diff_profile(base: Profile, current: Profile) -> Profile:
    """``current`` with ``base``'s samples added negated and labelled as the diff base."""
    types_c = [(t.type, t.unit) for t in current.sample_types]
    types_b = [(t.type, t.unit) for t in base.sample_types]
    if types_c != types_b:
        raise UsageError(f"the profiles cannot be compared: the base has sample types {types_b}, "
                         f"the current profile {types_c}")

    # Functions and mappings of the base join those of the current profile (same identity -> same entry).
    functions = list(current.functions)
    fn_by_key = {(f.name, f.system_name, f.filename, f.start_line): f for f in functions}
    next_fn = max((f.id for f in functions), default=0) + 1
    fn_map: dict[int, Function] = {}
    for f in base.functions:
        key = (f.name, f.system_name, f.filename, f.start_line)
        g = fn_by_key.get(key)
        if g is None:
            g = fn_by_key[key] = replace(f, id=next_fn)
            next_fn += 1
            functions.append(g)
        fn_map[id(f)] = g
    mappings = list(current.mappings)
    map_by_key = {(m.file, m.build_id, m.start, m.limit, m.offset): m for m in mappings}
    next_map = max((m.id for m in mappings), default=0) + 1
    map_map: dict[int, Mapping] = {}
    for m in base.mappings:
        key = (m.file, m.build_id, m.start, m.limit, m.offset)
        g = map_by_key.get(key)
        if g is None:
            g = map_by_key[key] = replace(m, id=next_map)
            next_map += 1
            mappings.append(g)
        map_map[id(m)] = g

    def fn_of(f: Function) -> Function:
        g = fn_map.get(id(f))
        if g is None:  # a function the base's function table does not list (e.g. the 0-id placeholder)
            g = fn_map[id(f)] = f
        return g

    next_loc = max((loc.id for loc in current.locations), default=0) + 1
    base_locations = [
        Location(id=next_loc + i, address=loc.address,
                 mapping=map_map.get(id(loc.mapping), loc.mapping) if loc.mapping is not None else None,
                 lines=tuple(Line(fn_of(ln.function), ln.line, ln.column) for ln in loc.lines),
                 is_folded=loc.is_folded)
        for i, loc in enumerate(base.locations)
    ]
    locations = list(current.locations) + base_locations

    cs, bs = current.samples, base.samples
    n_c, n_b = len(cs), len(bs)
    dtype = _smallest_uint(max(len(locations) - 1, 0))
    locs = np.concatenate((cs.locs.astype(dtype), bs.locs.astype(dtype) + dtype(len(current.locations))))
    offsets = np.concatenate((cs.loc_offsets, bs.loc_offsets[1:] + cs.loc_offsets[-1]))
    values = np.concatenate((cs.values, -bs.values))
    num_labels = {}
    for key in set(cs.num_labels) | set(bs.num_labels):
        cols = []
        unit = ""
        for s, n in ((cs, n_c), (bs, n_b)):
            col = s.num_labels.get(key)
            if col is None:
                cols.append(LabelColumn(np.zeros(n, np.int64), np.zeros(n, bool)))
            else:
                cols.append(col)
                unit = unit or col.unit
        num_labels[key] = LabelColumn(np.concatenate([c.values for c in cols]),
                                      np.concatenate([c.present for c in cols]), unit)
    other = dict(cs.other_labels)
    for i in range(n_b):
        other[n_c + i] = bs.other_labels.get(i, ()) + (_BASE_LABEL,)
    samples = Samples(values=values, loc_offsets=offsets, locs=locs, num_labels=num_labels, other_labels=other)
    return replace(current, samples=samples, locations=locations, functions=functions, mappings=mappings)
