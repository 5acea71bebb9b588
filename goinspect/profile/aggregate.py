"""Flat and cumulative values per report node, computed the way pprof's graph does.

A *node* is what one row of ``pprof -top`` shows. Its identity follows
google/pprof (``internal/graph.nodeInfo`` after ``Profile.Aggregate``):

- ``functions``: the function name;
- ``lines``: function name, cleaned file name and line number;
- ``files``: cleaned file name, plus the function's start line and the
  mapping's file (pprof keys file nodes that way, so one file can show as
  several rows: one per function start line).

Every location contributes one node per inlined line, callee first. A
sample's value goes to the *flat* of its leaf node and, once per sample even
under recursion, to the *cum* of every distinct node on its stack. Samples
whose chosen value is zero are skipped; the total is the sum of absolute
values over all samples before -focus/-ignore (or, for a diff, over the base
samples only), as ``report.computeTotal`` does.

The frame-level work is done in numpy, chunk by chunk (see ``chunks``), so a
profile with tens of millions of frames aggregates in well under a second
with small temporaries.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import numpy as np

from goinspect.errors import UsageError
from goinspect.profile.chunks import sample_chunks
from goinspect.profile.filters import NameFilter, prune_frames, sample_mask
from goinspect.profile.model import Profile, ValueType

GRANULARITIES = ("functions", "lines", "files")

# The label pprof puts on the base profile's (negated) samples in a -diff_base merge.
DIFF_BASE_LABEL = "pprof::base"

# Inline markers pprof appends to a row's name.
INLINE_NONE, INLINE_ALL, INLINE_PARTIAL = 0, 1, 2
INLINE_LABELS = {INLINE_NONE: "", INLINE_ALL: "inline", INLINE_PARTIAL: "partial-inline"}


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix paths (used by pprof on every file name)."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What makes two frames the same row (pprof's ``graph.NodeInfo`` without addresses)."""

    name: str = ""
    file: str = ""
    line: int = 0
    start_line: int = 0
    objfile: str = ""

    @property
    def printable(self) -> str:
        """The row label pprof prints (``NodeInfo.PrintableName``)."""
        parts = [self.name] if self.name else []
        if self.line:
            parts.append(f"{self.file}:{self.line}")
        elif self.file:
            parts.append(self.file)
        elif self.name:
            pass
        elif self.objfile:
            parts.append(f"[{posixpath.basename(self.objfile)}]")
        else:
            parts.append("<unknown>")
        return " ".join(parts)

    def go_repr(self) -> str:
        """``fmt.Sprint`` of pprof's NodeInfo: its last-resort sort key."""
        return f"{{{self.name}  0 {self.file} {self.start_line} {self.line} 0 {self.objfile}}}"


@dataclass(slots=True)
class Aggregate:
    """Per-node values of one sample type; nodes with zero flat and cum are still listed here."""

    granularity: str
    sample_type: ValueType
    sample_index: int
    total: int
    nodes: list[NodeInfo]
    flat: np.ndarray  # (nodes,) int64
    cum: np.ndarray  # (nodes,) int64
    # (nodes,) int8: how calls into the node appear in the location table (INLINE_NONE: never inlined);
    # the markers pprof prints also depend on the report's trimming (see ``inline``).
    inline: np.ndarray
    kept: np.ndarray  # (samples,) bool: samples that contributed (filters passed, value non-zero, stack non-empty)
    leaf: np.ndarray  # (samples,) int32: leaf node per sample, -1 where none
    filters: NameFilter = field(default_factory=NameFilter)
    # Per node and sample kind (when the caller passes kinds): flat and cum split by kind.
    flat_by_kind: np.ndarray | None = None
    cum_by_kind: np.ndarray | None = None
    # What the values were computed from (after drop_frames), for later passes such as inline markers.
    profile: Profile | None = None
    table: NodeTable | None = None

    def present(self) -> np.ndarray:
        """Indexes of nodes pprof would put in its graph (non-zero flat or cum)."""
        return np.flatnonzero((self.flat != 0) | (self.cum != 0))


@dataclass(slots=True)
class NodeTable:
    """Each location's nodes, callee first, as flat arrays."""

    nodes: list[NodeInfo]
    start: np.ndarray  # (locations,) int64: first entry in ``loc_nodes``
    count: np.ndarray  # (locations,) int64: nodes of the location (>= 1)
    loc_nodes: np.ndarray  # (sum count,) int32

    @property
    def first(self) -> np.ndarray:
        """The leaf-most node of each location."""
        return self.loc_nodes[self.start]


def node_table(profile: Profile, granularity: str) -> NodeTable:
    """Map every location to its nodes at ``granularity`` (one Python pass over the location table)."""
    if granularity not in GRANULARITIES:
        raise UsageError(f"unknown granularity {granularity!r}: choose one of {', '.join(GRANULARITIES)}")
    keep_name = granularity != "files"
    keep_file = granularity != "functions"
    keep_line = granularity == "lines"
    index: dict[NodeInfo, int] = {}
    nodes: list[NodeInfo] = []
    flat_ids: list[int] = []
    count = np.empty(len(profile.locations), dtype=np.int64)
    clean_cache: dict[str, str] = {}

    def node_id(info: NodeInfo) -> int:
        i = index.get(info)
        if i is None:
            i = index[info] = len(nodes)
            nodes.append(info)
        return i

    for li, loc in enumerate(profile.locations):
        objfile = loc.mapping.file if loc.mapping is not None else ""
        if not loc.lines:
            flat_ids.append(node_id(NodeInfo(objfile=objfile)))
            count[li] = 1
            continue
        for line in loc.lines:
            f = line.function
            name = f.name if keep_name else ""
            file = ""
            if keep_file and f.filename:
                file = clean_cache.get(f.filename) or clean_cache.setdefault(f.filename, go_clean(f.filename))
            if name:
                info = NodeInfo(name, file, line.line if keep_line else 0)
            else:
                info = NodeInfo(name, file, line.line if keep_line else 0, f.start_line, objfile)
            flat_ids.append(node_id(info))
        count[li] = len(loc.lines)
    start = np.zeros(len(count), dtype=np.int64)
    if len(count):
        np.cumsum(count[:-1], out=start[1:])
    return NodeTable(nodes, start, count, np.asarray(flat_ids, dtype=np.int32))


def diff_base_mask(profile: Profile) -> np.ndarray | None:
    """Samples labelled as coming from a -diff_base profile, or None if there are none."""
    labelled = [i for i, labels in profile.samples.other_labels.items()
                if any(lb.key == DIFF_BASE_LABEL and lb.str == "true" for lb in labels)]
    if not labelled:
        return None
    mask = np.zeros(len(profile.samples), dtype=bool)
    mask[labelled] = True
    return mask


def report_total(profile: Profile, sample_index: int) -> int:
    """pprof's report total: the sum of absolute values, over the diff base samples if present."""
    w = np.abs(profile.samples.values[:, sample_index])
    base = diff_base_mask(profile)
    if base is not None:
        base_total = int(w[base].sum())
        if base_total > 0:
            return base_total
    return int(w.sum())


def aggregate(profile: Profile, sample_index: int, granularity: str = "functions",
              filters: NameFilter | None = None, sample_kinds: np.ndarray | None = None,
              n_kinds: int = 0) -> Aggregate:
    """Flat and cum per node for one sample type, pprof's way (see the module docstring).

    ``sample_kinds`` (small ints per sample, < ``n_kinds``) additionally splits
    flat and cum by kind, e.g. map buckets vs slice growth.
    """
    filters = filters or NameFilter()
    profile = prune_frames(profile)
    table = node_table(profile, granularity)
    s = profile.samples
    n_samples, n_nodes = len(s), len(table.nodes)
    total = report_total(profile, sample_index)

    w = np.ascontiguousarray(s.values[:, sample_index])
    depth = np.diff(s.loc_offsets)
    kept = (w != 0) & (depth > 0)
    mask = sample_mask(profile, filters)
    if mask is not None:
        kept &= mask

    flat = np.zeros(n_nodes, dtype=np.int64)
    cum = np.zeros(n_nodes, dtype=np.int64)
    leaf = np.full(n_samples, -1, dtype=np.int32)
    by_kind = sample_kinds is not None and n_kinds > 0
    flat_k = np.zeros((n_nodes, n_kinds), dtype=np.int64) if by_kind else None
    cum_k = np.zeros((n_nodes, n_kinds), dtype=np.int64) if by_kind else None
    first = table.first
    multi_loc = table.count > 1
    any_multi = bool(multi_loc.any())
    loc_frames = np.zeros(len(profile.locations), dtype=np.int64)  # frames per location (only with inlining)
    loc_roots = np.zeros(len(profile.locations), dtype=np.int64)  # ... of which root-most frames
    # (sample, node) pairs are packed into one integer key: sample << shift | node.
    shift = max(int(n_nodes - 1).bit_length(), 1)
    node_mask = (1 << shift) - 1
    offsets = s.loc_offsets
    for a, b in sample_chunks(s):
        idx = np.flatnonzero(kept[a:b])
        if not len(idx):
            continue
        f0, f1 = int(offsets[a]), int(offsets[b])
        d = depth[a:b][idx]
        local_off = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(d, out=local_off[1:])
        n_frames = int(local_off[-1])
        if n_frames == f1 - f0:
            locs = s.locs[f0:f1]
        else:
            gather = np.repeat(offsets[a:b][idx] - f0 - local_off[:-1], d) + np.arange(n_frames, dtype=np.int64)
            locs = s.locs[f0:f1][gather]
            del gather
        wk = w[a:b][idx]
        leaf_nodes = first[locs[local_off[:-1]]]
        leaf[a + idx] = leaf_nodes
        _add(flat, leaf_nodes, wk, n_nodes)

        key_type = np.uint32 if (len(idx) << shift) < (1 << 32) else np.uint64
        keys = np.repeat(np.arange(len(idx), dtype=key_type) << key_type(shift), d)
        keys |= first[locs].astype(key_type)
        if any_multi:
            loc_frames += np.bincount(locs, minlength=len(loc_frames))
            loc_roots += np.bincount(locs[local_off[1:] - 1], minlength=len(loc_roots))
            # Inlined callers: the 2nd..nth line of locations with several lines.
            fm = np.flatnonzero(multi_loc[locs])
            if len(fm):
                ml = locs[fm]
                extra = table.count[ml] - 1
                csum = np.cumsum(extra)
                pos = np.repeat(table.start[ml] + 1 - (csum - extra), extra) + np.arange(int(csum[-1]))
                fsample = np.searchsorted(local_off, fm, side="right") - 1
                more = np.repeat(fsample.astype(key_type) << key_type(shift), extra)
                more |= table.loc_nodes[pos].astype(key_type)
                keys = np.concatenate((keys, more))
                del fm, ml, extra, csum, pos, fsample, more
        del locs
        # Distinct (sample, node) pairs: recursion counts once per sample.
        keys.sort()
        distinct = np.empty(len(keys), dtype=bool)
        distinct[0] = True
        np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
        keys = keys[distinct]
        del distinct
        ks = (keys >> key_type(shift)).astype(np.int64)
        kn = (keys & key_type(node_mask)).astype(np.int64)
        del keys
        _add(cum, kn, wk[ks], n_nodes)
        if by_kind:
            kind = sample_kinds[a:b][idx].astype(np.int64)
            _add(flat_k.reshape(-1), leaf_nodes.astype(np.int64) * n_kinds + kind, wk, n_nodes * n_kinds)
            _add(cum_k.reshape(-1), kn * n_kinds + kind[ks], wk[ks], n_nodes * n_kinds)

    inline = _inline_flags(table, loc_frames > 0, loc_frames > loc_roots)
    return Aggregate(granularity=granularity, sample_type=profile.sample_types[sample_index],
                     sample_index=sample_index, total=total, nodes=table.nodes, flat=flat, cum=cum,
                     inline=inline, kept=kept, leaf=leaf, filters=filters,
                     flat_by_kind=flat_k, cum_by_kind=cum_k, profile=profile, table=table)


_EXACT = float(1 << 52)


def _add(acc: np.ndarray, index: np.ndarray, weights: np.ndarray, size: int) -> None:
    """``acc[index] += weights`` with int64 exactness (bincount's float sums are exact below 2**52)."""
    if not len(index):
        return
    if float(np.abs(weights).sum(dtype=np.float64)) < _EXACT:
        acc += np.rint(np.bincount(index, weights=weights, minlength=size)).astype(np.int64)
    else:
        np.add.at(acc, index, weights)


def _inline_flags(table: NodeTable, loc_used: np.ndarray, loc_called: np.ndarray) -> np.ndarray:
    """pprof's "(inline)" marker: a node reached only through inlined calls, "(partial-inline)" if both.

    Within a location, line j+1 calls line j inline; a location's outermost
    line is reached by a real call from the frame above it.
    """
    n = len(table.nodes)
    inlined = np.zeros(n, dtype=bool)
    called = np.zeros(n, dtype=bool)
    multi = np.flatnonzero(loc_used & (table.count > 1))
    for li in multi:
        st, c = int(table.start[li]), int(table.count[li])
        ns = table.loc_nodes[st : st + c]
        inner = ns[:-1][ns[:-1] != ns[1:]]
        inlined[inner] = True
    outer = np.flatnonzero(loc_called)
    called[table.loc_nodes[table.start[outer] + table.count[outer] - 1]] = True
    out = np.zeros(n, dtype=np.int8)
    out[inlined & ~called] = INLINE_ALL
    out[inlined & called] = INLINE_PARTIAL
    return out


def flat_all_types(profile: Profile, granularity: str = "lines", filters: NameFilter | None = None,
                   sample_kinds: np.ndarray | None = None, n_kinds: int = 0, kind_column: int = 0
                   ) -> tuple[list[NodeInfo], np.ndarray, np.ndarray | None]:
    """Flat value of every sample type per node: ``(nodes, values[node, sample type], by_kind)``.

    The allocation-site view (the leaf frame of each sample) without the cum
    pass, for comparing sites across snapshots. With ``sample_kinds``,
    ``by_kind[node, kind]`` splits the flat of ``kind_column`` by kind.
    """
    profile = prune_frames(profile)
    table = node_table(profile, granularity)
    s = profile.samples
    depth = np.diff(s.loc_offsets)
    kept = depth > 0
    mask = sample_mask(profile, filters or NameFilter())
    if mask is not None:
        kept &= mask
    idx = np.flatnonzero(kept)
    leaf = table.first[s.locs[s.loc_offsets[idx]]]
    n_nodes = len(table.nodes)
    out = np.zeros((n_nodes, len(profile.sample_types)), dtype=np.int64)
    for t in range(len(profile.sample_types)):
        _add(out[:, t], leaf, s.values[idx, t], n_nodes)
    by_kind = None
    if sample_kinds is not None and n_kinds > 0:
        by_kind = np.zeros((n_nodes, n_kinds), dtype=np.int64)
        keys = leaf.astype(np.int64) * n_kinds + sample_kinds[idx].astype(np.int64)
        _add(by_kind.reshape(-1), keys, s.values[idx, kind_column], n_nodes * n_kinds)
    return table.nodes, out, by_kind
