"""pprof's "(inline)" / "(partial-inline)" row markers, decided the way its report does.

A row is marked when calls *into* it were inlined: pprof looks at the graph's
incoming edges of the node, after the report dropped the nodes it does not
show (an edge then comes from the nearest shown caller) and the edges lighter
than ``edge_fraction`` (0.1%) of the summed flat values. An edge is inline
when every sample that crosses it reaches the node through an inlined frame
(any line of a location but its outermost). "(inline)": all remaining
incoming edges are inline; "(partial-inline)": some are.

Only rows whose node is inlined somewhere can be marked, so the frame pass
here looks at those nodes only.
"""

from __future__ import annotations

import numpy as np

from goinspect.profile.chunks import sample_chunks

DEFAULT_EDGE_FRACTION = 0.001


def inline_labels(agg, shown: list[int], edge_cutoff: int) -> dict[int, str]:
    """Label per shown node index ('' when not inline); the shown nodes are the nodes of pprof's final graph."""
    from goinspect.profile.aggregate import INLINE_NONE

    labels = {i: "" for i in shown}
    cand = np.zeros(len(agg.nodes), dtype=bool)
    cand[[i for i in shown if agg.inline[i] != INLINE_NONE]] = True
    if not cand.any():
        return labels
    in_graph = np.zeros(len(agg.nodes), dtype=bool)
    in_graph[shown] = True
    table, s = agg.table, agg.profile.samples
    w = s.values[:, agg.sample_index]
    n_nodes = len(agg.nodes)
    weight: dict[int, int] = {}
    all_inline: dict[int, bool] = {}
    offsets = s.loc_offsets
    for a, b in sample_chunks(s):
        idx = np.flatnonzero(agg.kept[a:b])
        if not len(idx):
            continue
        f0 = int(offsets[a])
        d = np.diff(offsets[a:b + 1])[idx]
        local_off = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(d, out=local_off[1:])
        gather = np.repeat(offsets[a:b][idx] - f0 - local_off[:-1], d) + np.arange(int(local_off[-1]))
        locs = s.locs[f0:int(offsets[b])][gather]
        cnt = table.count[locs]
        csum = np.cumsum(cnt)
        within = np.arange(int(csum[-1])) - np.repeat(csum - cnt, cnt)  # line index inside its location
        nodes = table.loc_nodes[np.repeat(table.start[locs], cnt) + within]
        outermost = within == np.repeat(cnt - 1, cnt)
        sid = np.repeat(np.repeat(np.arange(len(idx)), d), cnt)
        del gather, csum, within
        graph_pos = np.flatnonzero(in_graph[nodes])
        target = np.flatnonzero(cand[nodes])
        if not len(target):
            continue
        # The caller edge of a frame comes from the nearest frame further from the leaf that is in the graph.
        j = np.searchsorted(graph_pos, target, side="right")
        ok = j < len(graph_pos)
        target, j = target[ok], j[ok]
        parent_pos = graph_pos[j]
        ok = sid[parent_pos] == sid[target]
        target, parent_pos = target[ok], parent_pos[ok]
        child, parent = nodes[target].astype(np.int64), nodes[parent_pos].astype(np.int64)
        ok = child != parent
        target, child, parent = target[ok], child[ok], parent[ok]
        if not len(target):
            continue
        edge = parent * n_nodes + child
        inline = ~outermost[target]
        frame_sample = sid[target]
        # One weight per sample and edge; the edge stays inline only if every crossing is.
        order = np.lexsort((edge, frame_sample))
        edge, inline, frame_sample = edge[order], inline[order], frame_sample[order]
        first = np.ones(len(edge), dtype=bool)
        first[1:] = (edge[1:] != edge[:-1]) | (frame_sample[1:] != frame_sample[:-1])
        wk = w[a:b][idx]
        for e, wt in zip(edge[first].tolist(), wk[frame_sample[first]].tolist()):
            weight[e] = weight.get(e, 0) + wt
        for e, inl in zip(edge.tolist(), inline.tolist()):
            all_inline[e] = all_inline.get(e, True) and inl
    has_inline: dict[int, bool] = {}
    has_call: dict[int, bool] = {}
    for e, wt in weight.items():
        if abs(wt) < edge_cutoff:
            continue
        child = e % n_nodes
        if all_inline[e]:
            has_inline[child] = True
        else:
            has_call[child] = True
    for i in shown:
        if has_inline.get(i):
            labels[i] = "partial-inline" if has_call.get(i) else "inline"
    return labels
