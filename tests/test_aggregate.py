"""Property test of the vectorized aggregation against a plain walk of every sample, pprof's way.

The reference below is ``graph.newGraph`` transcribed loop for loop (walk
each stack from the root, expand inlined lines, add cum once per node per
sample, flat to the leaf). Random profiles with recursion, inlining, zero and
negative values, empty stacks, and chunks of a few frames (so samples fall on
chunk boundaries) must give identical flat and cum per node. The real-profile
agreement with ``go tool pprof`` is in test_agreement.py.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from goinspect.profile import aggregate as agg_mod
from goinspect.profile import chunks
from goinspect.profile.aggregate import GRANULARITIES, aggregate, node_table
from goinspect.profile.filters import NameFilter
from goinspect.profile.model import Function, Line, Location, Mapping, Profile, Samples, ValueType

FUNCS = [Function(i + 1, f"pkg.f{i}", filename=f"/src/{'a' if i % 2 else 'b'}.go", start_line=10 * i)
         for i in range(5)]
MAPPING = Mapping(1, 0, 1 << 20, 0, "/bin/prog")


@st.composite
def profiles(draw):
    n_locs = draw(st.integers(1, 6))
    locations = []
    for i in range(n_locs):
        lines = tuple(Line(draw(st.sampled_from(FUNCS)), draw(st.integers(1, 4)))
                      for _ in range(draw(st.integers(0, 3))))
        locations.append(Location(i + 1, 0x1000 + i, MAPPING, lines))
    n = draw(st.integers(0, 12))
    stacks = [draw(st.lists(st.integers(0, n_locs - 1), max_size=8)) for _ in range(n)]
    values = [[draw(st.integers(-50, 100)), draw(st.sampled_from([0, 1, 7]))] for _ in range(n)]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(s) for s in stacks], out=offsets[1:])
    samples = Samples(values=np.asarray(values, dtype=np.int64).reshape(n, 2), loc_offsets=offsets,
                      locs=np.asarray([x for s in stacks for x in s], dtype=np.uint8))
    return Profile(sample_types=[ValueType("a", "bytes"), ValueType("b", "count")], samples=samples,
                   locations=locations, functions=FUNCS, mappings=[MAPPING])


def reference(profile: Profile, column: int, granularity: str, focus: str | None):
    """pprof's newGraph over plain Python objects: {node: (flat, cum)} plus the total."""
    table = node_table(profile, granularity)
    loc_nodes = [list(table.loc_nodes[table.start[i]:table.start[i] + table.count[i]])
                 for i in range(len(profile.locations))]
    flat: dict[int, int] = defaultdict(int)
    cum: dict[int, int] = defaultdict(int)
    s = profile.samples
    total = int(np.abs(s.values[:, column]).sum())
    for i in range(len(s)):
        w = int(s.values[i, column])
        stack = [int(x) for x in s.stack(i)]
        if focus is not None:
            names = [ln.function.name for x in stack for ln in profile.locations[x].lines]
            files = [ln.function.filename for x in stack for ln in profile.locations[x].lines]
            if not any(focus in t for t in names + files + [MAPPING.file] * bool(stack)):
                continue
        if w == 0:
            continue
        seen = set()
        parent = None
        for loc in reversed(stack):
            for n in reversed(loc_nodes[loc]):
                if n not in seen:
                    seen.add(n)
                    cum[n] += w
                parent = n
        if parent is not None:
            flat[parent] += w
    return {table.nodes[n]: (flat[n], cum[n]) for n in set(flat) | set(cum) if flat[n] or cum[n]}, total


@settings(max_examples=150, deadline=None)
@given(profiles(), st.sampled_from(GRANULARITIES), st.sampled_from([0, 1]),
       st.sampled_from([None, "f1", "a.go"]), st.sampled_from([1, 3, 1 << 20]))
def test_aggregate_matches_a_plain_walk(profile, granularity, column, focus, chunk):
    saved = chunks.sample_chunks.__defaults__
    chunks.sample_chunks.__defaults__ = (chunk,)
    try:
        filters = NameFilter.compile(focus, None)
        a = aggregate(profile, column, granularity, filters)
    finally:
        chunks.sample_chunks.__defaults__ = saved
    want, total = reference(profile, column, granularity, focus)
    got = {a.nodes[i]: (int(a.flat[i]), int(a.cum[i])) for i in a.present()}
    assert got == want
    assert a.total == total


def test_recursion_counts_once_per_sample():
    f, g = FUNCS[0], FUNCS[1]
    locs = [Location(1, 1, MAPPING, (Line(f, 1),)), Location(2, 2, MAPPING, (Line(g, 2), Line(f, 3)))]
    # Stack (leaf first): f, [g inlined in f], f, [g inlined in f]: f and g each appear twice.
    samples = Samples(values=np.array([[5, 1]]), loc_offsets=np.array([0, 4]), locs=np.array([0, 1, 0, 1], np.uint8))
    p = Profile([ValueType("a", "bytes"), ValueType("b", "count")], samples, locs, FUNCS, [MAPPING])
    a = aggregate(p, 0, "functions")
    vals = {a.nodes[i].name: (int(a.flat[i]), int(a.cum[i])) for i in a.present()}
    assert vals == {"pkg.f0": (5, 5), "pkg.f1": (0, 5)}
    assert agg_mod.INLINE_LABELS[int(a.inline[[n.name for n in a.nodes].index("pkg.f1")])] == "inline"
