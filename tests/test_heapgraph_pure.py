"""Pure checks of goinspect.analysis.graph on hand-made and random graphs.

The contracted dominator computation is compared with networkx run on the whole,
uncontracted graph (an independent computation of the same definition).
"""

from __future__ import annotations

import numpy as np
import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from goinspect.analysis.graph import HeapGraph, to_dot
from goinspect.runtime.heapgraph import ARRAY, HEADER, OBJECT, ROOT, BUCKETS, HeapObjects, Item
from goinspect.runtime.roots import Root


def make(n_roots: int, nodes: list[tuple[int, int, int]], edges: list[tuple[int, int]],
         items: dict[str, tuple[int, int, list[int], list[int]]]) -> HeapObjects:
    """nodes: (id, size, kind) of non-root nodes; roots are ids 1..n_roots. items: name -> (root id, node id,
    structure ids, value target ids)."""
    ids = list(range(1, n_roots + 1)) + [v for v, _, _ in nodes]
    sizes = [0] * n_roots + [s for _, s, _ in nodes]
    kinds = [ROOT] * n_roots + [k for _, _, k in nodes]
    order = np.argsort(ids)
    bases = np.array(ids, np.uint64)[order]
    roots = [Root(f"main.r{i}", "global", "map", 0x1000 + i, "map[int]*main.T") for i in range(1, n_roots + 1)]
    its = {name: Item(name, "map", roots[r - 1], r, node, np.array(sorted(st_), np.uint64),
                      np.array(sorted(vt), np.uint64)) for name, (r, node, st_, vt) in items.items()}
    e = np.array(sorted(set(edges)), np.uint64).reshape(-1, 2)
    return HeapObjects(bases, np.array(sizes, np.uint64)[order], np.array(kinds, np.int8)[order],
                       np.zeros(len(ids), bool), e[:, 0].copy(), e[:, 1].copy(), roots, its)


def full_retained(ho: HeapObjects) -> dict[int, int]:
    """Retained bytes of every node by networkx on the uncontracted graph (node ids)."""
    g = nx.DiGraph()
    size = dict(zip(ho.bases.tolist(), ho.sizes.tolist()))
    g.add_nodes_from(size)
    g.add_edges_from(("S", int(r)) for r, k in zip(ho.bases.tolist(), ho.kinds.tolist()) if k == ROOT)
    g.add_edges_from(zip(ho.src.tolist(), ho.dst.tolist()))
    idom = nx.immediate_dominators(g, "S")
    tree = nx.DiGraph((d, v) for v, d in idom.items() if v != d)
    return {v: size[v] + sum(size[x] for x in nx.descendants(tree, v)) for v in idom if v != "S"}


def test_chain_and_shared_object():
    # r1 -> H(10) -> A(100) -> B(1000) -> C(5);  r2 -> H2(20) -> C ; C has two referrers
    ho = make(2, [(100, 10, HEADER), (200, 100, BUCKETS), (300, 1000, OBJECT), (400, 5, OBJECT),
                  (500, 20, HEADER)],
              [(1, 100), (100, 200), (200, 300), (300, 400), (2, 500), (500, 400)],
              {"main.r1": (1, 100, [100, 200], [300]), "main.r2": (2, 500, [500], [400])})
    g = HeapGraph(ho)
    assert g.retained_bytes("main.r1") == 10 + 100 + 1000  # C is shared: not retained by either
    assert g.retained_bytes("main.r2") == 20
    assert g.structure_bytes("main.r1") == 110
    assert g.reachable_bytes("main.r1") == 1005
    assert g.reachable_bytes("main.r2") == 5
    assert g.stats["objects_folded"] == 2  # A into H, B into A
    assert g.path("main.r1") == ["global main.r1", "map header 0x64"]
    hops = g.path_to_addr(300 + 7)
    assert hops[0] == "global main.r1" and hops[-1] == "object 0x12c (1000B)" and len(hops) == 4
    assert g.retained_by_node(g.node_at(300)) == 1000  # folded object: blocked-search answer
    assert g.node_at(300 + 1000) is None  # one past the object


def test_cycle_reached_once_is_retained():
    # r1 -> H -> X <-> Y (X also referenced by Y: two referrers, Y one)
    ho = make(1, [(100, 8, HEADER), (200, 16, OBJECT), (300, 32, OBJECT)],
              [(1, 100), (100, 200), (200, 300), (300, 200)], {"main.r1": (1, 100, [100], [200])})
    g = HeapGraph(ho)
    assert g.retained_bytes("main.r1") == 56
    assert full_retained(ho)[100] == 56


@st.composite
def graphs(draw):
    n_roots = draw(st.integers(1, 3))
    n = draw(st.integers(1, 30))
    ids = [100 * (i + 1) for i in range(n)]
    sizes = draw(st.lists(st.integers(0, 4096), min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from([OBJECT, OBJECT, OBJECT, HEADER, ARRAY, BUCKETS]), min_size=n, max_size=n))
    edges = []
    for i, v in enumerate(ids):  # every node reachable: a referrer among roots or earlier nodes
        choices = list(range(1, n_roots + 1)) + ids[:i]
        edges.append((draw(st.sampled_from(choices)), v))
    extra = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=2 * n))
    edges += [(a, b) for a, b in extra if a != b]
    items = {}
    for i, (v, k) in enumerate(zip(ids, kinds)):
        if k in (HEADER, ARRAY):
            items[f"main.x{i}"] = (1, v, [v], sorted({b for a, b in edges if a == v}))
    return make(n_roots, list(zip(ids, sizes, kinds)), edges, items)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_contracted_dominators_equal_networkx_on_the_whole_graph(ho):
    g = HeapGraph(ho)
    want = full_retained(ho)
    for name, it in ho.items.items():
        assert g.retained_bytes(name) == want[it.node], name
    for i, b in enumerate(ho.bases.tolist()):
        if ho.kinds[i] != ROOT:
            assert g.retained_by_node(i) == want[b], hex(b)
            hops = g.path_nodes(i)
            assert hops[-1] == i and ho.kinds[hops[0]] == ROOT
            for a, c in zip(hops, hops[1:]):  # every hop is a real edge
                assert (int(ho.bases[a]), int(ho.bases[c])) in set(zip(ho.src.tolist(), ho.dst.tolist()))


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_reachable_bytes_equal_networkx_descendants(ho):
    g = HeapGraph(ho)
    full = nx.DiGraph()
    full.add_nodes_from(ho.bases.tolist())
    full.add_edges_from(zip(ho.src.tolist(), ho.dst.tolist()))
    size = dict(zip(ho.bases.tolist(), ho.sizes.tolist()))
    for name, it in ho.items.items():
        struct = set(it.structure.tolist())
        sub = full.subgraph(set(full) - struct)
        seen = set()
        for t in it.value_targets.tolist():
            if t not in struct:
                seen |= {t} | nx.descendants(sub, t)
        assert g.reachable_bytes(name) == sum(size[v] for v in seen), name


def test_export_graphml_and_dot(tmp_path):
    ho = make(1, [(100, 10, HEADER), (200, 100, OBJECT), (300, 7, OBJECT)],
              [(1, 100), (100, 200), (100, 300), (200, 300)], {"main.r1": (1, 100, [100], [200, 300])})
    g = HeapGraph(ho)
    g.export(tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert back.number_of_nodes() == g.stats["contracted_nodes"]
    labels = {d["label"] for _, d in back.nodes(data=True)}
    assert "global main.r1" in labels
    g.export(tmp_path / "g.dot")
    text = (tmp_path / "g.dot").read_text()
    assert text.startswith("digraph heap {") and text.rstrip().endswith("}")
    assert text.count("->") == g.stats["contracted_edges"]
    with pytest.raises(Exception, match="graphml or .dot"):
        g.export(tmp_path / "g.png")


def test_dot_quotes():
    g = nx.DiGraph()
    g.add_node(1, label='a "quoted" \\ label')
    assert 'label="a \\"quoted\\" \\\\ label"' in to_dot(g)
