"""The heap graph's pure half: dominators, retained bytes, reachability and paths, from ``collect``'s arrays.

``HeapGraph(objects)`` takes the ``HeapObjects`` that ``goinspect.runtime.heapgraph.collect``
read while the target was paused; nothing here touches a target.

Retained bytes are the dominator tree's (what would be freed if the item went away):
a synthetic super-root points at every root, ``networkx.immediate_dominators`` runs
from it. A million small objects must not become a million networkx nodes, so every
object with exactly one referrer is first contracted into that referrer (repeatedly:
chains fold into their head). That is exact for everything reported: such an object's
only way in is its referrer, so its immediate dominator is that referrer, and any path
through it passes the referrer first -- dominance between the remaining nodes is
unchanged, and a contracted group's bytes are retained exactly where its head is.
Roots, map headers and slice arrays are never contracted (they are what we report).

Reachable bytes (through an item's values) and the value targets (for turnover) come
from the uncontracted edges, with a numpy breadth-first search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from goinspect.errors import UsageError
from goinspect.render.units import fmt_value
from goinspect.runtime.heapgraph import ARRAY, HEADER, KINDS, ROOT, HeapObjects, Item, distinct, order2, root_label

#: The synthetic node that points at every root (not a heap object; never exported).
SUPER_ROOT = -1
#: Pointer jumping rounds before contraction gives up on a (rootless) cycle of single-referrer objects.
MAX_JUMPS = 64


class HeapGraph:
    """Dominators, retained and reachable bytes, and root paths of the maps and slices ``collect`` read."""

    def __init__(self, objects: HeapObjects):
        self.objects = o = objects.finalize()
        self.n = n = len(o.bases)
        self.sizes = o.sizes.astype(np.int64)
        self.src = np.searchsorted(o.bases, o.src).astype(np.int64)
        self.dst = np.searchsorted(o.bases, o.dst).astype(np.int64)
        order = order2(self.src, self.dst)
        self.src, self.dst = self.src[order], self.dst[order]
        self.indptr = np.searchsorted(self.src, np.arange(n + 1))
        self.items: dict[str, Item] = dict(o.items)
        self._item_index = {name: (int(np.searchsorted(o.bases, it.node)) if it.node else -1)
                            for name, it in self.items.items()}
        self._contract()
        self._dominate()
        self._reachable: dict[str, int] = {}
        self._bfs_parent: dict[int, int] | None = None
        self._witness: dict[tuple[int, int], int] | None = None
        self._all_reachable: int | None = None

    # -- contraction and dominators -----------------------------------------------------------

    def _contract(self) -> None:
        """``rep[i]``: the node that object i is folded into (itself when it is kept)."""
        n, o = self.n, self.objects
        indeg = np.bincount(self.dst, minlength=n)
        protected = np.isin(o.kinds, (ROOT, HEADER, ARRAY))
        protected[[i for i in self._item_index.values() if i >= 0]] = True
        eligible = (indeg == 1) & ~protected
        parent = np.arange(n)
        into = eligible[self.dst]
        parent[self.dst[into]] = self.src[into]
        self.parent = parent.copy()  # the one referrer of every contracted object
        rep = parent
        for _ in range(MAX_JUMPS):
            nxt = rep[rep]
            if np.array_equal(nxt, rep):
                break
            rep = nxt
        else:  # a cycle nothing else points into: keep its members as they are
            still = rep[rep] != rep
            rep[still] = np.flatnonzero(still)
            self.parent[still] = np.flatnonzero(still)
        self.rep = rep
        self.kept = np.flatnonzero(rep == np.arange(n))
        self.group_bytes = np.bincount(rep, weights=self.sizes, minlength=n).astype(np.int64)
        self.group_objects = np.bincount(rep, minlength=n)
        keep_edge = rep[self.dst] == self.dst  # edges into contracted objects are inside their group
        cs, cd = rep[self.src[keep_edge]], self.dst[keep_edge]
        witness = self.src[keep_edge]
        inter = cs != cd
        cs, cd, witness = cs[inter], cd[inter], witness[inter]
        order = order2(cs, cd)
        cs, cd, witness = cs[order], cd[order], witness[order]
        first = np.concatenate(([True], (cs[1:] != cs[:-1]) | (cd[1:] != cd[:-1]))) if len(cs) else \
            np.zeros(0, bool)
        self.csrc, self.cdst, self.cwitness = cs[first], cd[first], witness[first]

    def _dominate(self) -> None:
        g = nx.DiGraph()
        g.add_node(SUPER_ROOT)
        roots = np.flatnonzero(self.objects.kinds == ROOT)
        g.add_nodes_from(self.kept.tolist())
        g.add_edges_from((SUPER_ROOT, r) for r in roots.tolist())
        g.add_edges_from(zip(self.csrc.tolist(), self.cdst.tolist()))
        self.graph = g
        idom = nx.immediate_dominators(g, SUPER_ROOT)
        idom[SUPER_ROOT] = SUPER_ROOT  # networkx >= 3.5 leaves the start node out
        self.idom = idom
        # retained = own group + every group it dominates: accumulate children into parents, deepest first
        children: dict[int, list[int]] = {}
        for v, d in idom.items():
            if v != d:
                children.setdefault(d, []).append(v)
        order = [SUPER_ROOT]
        for v in order:
            order += children.get(v, ())
        retained = {v: int(self.group_bytes[v]) for v in order if v != SUPER_ROOT}
        for v in reversed(order):
            d = idom[v]
            if v != SUPER_ROOT and d != SUPER_ROOT:
                retained[d] += retained[v]
        self.retained = retained
        self.unreachable = int(self.n - sum(int(self.group_objects[v]) for v in order if v != SUPER_ROOT))

    # -- per item --------------------------------------------------------------------------

    def _item(self, name: str) -> Item:
        try:
            return self.items[name]
        except KeyError:
            raise KeyError(f"no map or slice named {name!r} in the heap graph") from None

    def retained_bytes(self, name: str) -> int:
        """Bytes freed if this map/slice were dropped: its structure and every object only it keeps alive."""
        self._item(name)
        i = self._item_index[name]
        return self.retained.get(i, 0) if i >= 0 else 0

    def structure_bytes(self, name: str) -> int:
        """Bytes of the item's own objects (header, bucket/group arrays, tables, ...; the slice array)."""
        it = self._item(name)
        return int(self.sizes[self.objects.index(it.structure)].sum()) if len(it.structure) else 0

    def value_targets(self, name: str) -> np.ndarray:
        """Sorted distinct object bases its value slots point to directly (uint64)."""
        return self._item(name).value_targets

    def reachable_bytes(self, name: str) -> int:
        """Bytes of every object reachable through the item's values/elements, its own structure excluded."""
        if name not in self._reachable:
            it = self._item(name)
            self._reachable[name] = self._reach_bytes(it.value_targets, it.structure)
        return self._reachable[name]

    def _reach_bytes(self, start: np.ndarray, exclude: np.ndarray) -> int:
        if not len(start):
            return 0
        seen = np.zeros(self.n, bool)
        if len(exclude):
            seen[self.objects.index(exclude)] = True
        frontier = distinct(self.objects.index(start))
        frontier = frontier[~seen[frontier]]
        seen[frontier] = True
        total = int(self.sizes[frontier].sum())
        while len(frontier):
            lo, hi = self.indptr[frontier], self.indptr[frontier + 1]
            cnt = hi - lo
            if not cnt.sum():
                break
            pos = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
            nb = distinct(self.dst[pos])
            nb = nb[~seen[nb]]
            seen[nb] = True
            total += int(self.sizes[nb].sum())
            frontier = nb
        return total

    # -- paths ---------------------------------------------------------------------------------

    def node_at(self, addr: int) -> int | None:
        """The node (row) of the object containing ``addr``, or None."""
        o = self.objects
        j = int(np.searchsorted(o.bases, np.uint64(addr), side="right")) - 1
        if j < 0 or o.kinds[j] == ROOT or not (int(o.bases[j]) <= addr < int(o.bases[j]) + int(o.sizes[j])):
            return None
        return j

    def item_node(self, name: str) -> int | None:
        self._item(name)
        i = self._item_index[name]
        return i if i >= 0 else None

    def path_nodes(self, i: int) -> list[int]:
        """Rows from a root to node ``i`` along a shortest path of the contracted graph (unique inside a group)."""
        if self._bfs_parent is None:
            self._bfs_parent = dict(nx.bfs_predecessors(self.graph, SUPER_ROOT))
            self._witness = {(a, b): int(w) for a, b, w in
                             zip(self.csrc.tolist(), self.cdst.tolist(), self.cwitness.tolist())}
        c = int(self.rep[i])
        if c not in self._bfs_parent:
            return []
        chain = [c]
        while self._bfs_parent.get(chain[-1], SUPER_ROOT) != SUPER_ROOT:
            chain.append(self._bfs_parent[chain[-1]])
        chain.reverse()  # root ... c, contracted nodes
        out = [chain[0]]
        for a, b in zip(chain, chain[1:]):
            out += self._inside(a, self._witness[(a, b)])[1:] if self._witness else []  # type: ignore[index]
            out.append(b)
        out += self._inside(c, i)[1:]
        return out

    def _inside(self, head: int, i: int) -> list[int]:
        """head ... i through the unique referrers of a contracted group."""
        seq = [i]
        while seq[-1] != head and len(seq) <= self.n:
            seq.append(int(self.parent[seq[-1]]))
        return seq[::-1]

    def label(self, i: int) -> str:
        o = self.objects
        k = int(o.kinds[i])
        if k == ROOT:
            return root_label(o.roots[int(o.bases[i]) - 1])
        text = f"{KINDS[k]} {int(o.bases[i]):#x}"
        if k != HEADER:
            text += f" ({fmt_value(int(o.sizes[i]), 'bytes')})"
        if o.outside[i]:
            text += " [not in the heap]"
        return text

    def path(self, name: str) -> list[str]:
        """The shortest root -> item path, as readable hops (``global main.cache``, ``map header 0x...``)."""
        i = self.item_node(name)
        if i is None:
            it = self._item(name)
            return [root_label(it.root)]
        return [self.label(j) for j in self.path_nodes(i)]

    def path_to_addr(self, addr: int) -> list[str]:
        i = self.node_at(addr)
        return [] if i is None else [self.label(j) for j in self.path_nodes(i)]

    def retained_by_node(self, i: int) -> int:
        """Bytes freed if node ``i`` went away. Kept nodes answer from the dominator tree; an object folded
        into a group answers as the definition says: bytes reachable from the roots, minus bytes still
        reachable when ``i`` is blocked (one numpy search each; exact)."""
        if int(self.rep[i]) == i:
            return self.retained.get(i, 0)
        roots = self.objects.bases[self.objects.kinds == ROOT]
        if self._all_reachable is None:
            self._all_reachable = self._reach_bytes(roots, np.zeros(0, np.uint64))
        return self._all_reachable - self._reach_bytes(roots, self.objects.bases[[i]])

    # -- export and figures --------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        return {"nodes": int(self.n), "edges": int(len(self.src)), "contracted_nodes": int(len(self.kept)),
                "contracted_edges": int(len(self.csrc)), "objects_folded": int(self.n - len(self.kept)),
                "unreachable": self.unreachable, "bytes": int(self.sizes.sum()),
                "collect": dict(self.objects.stats)}

    def export(self, path: str | Path) -> None:
        """Write the contracted graph (one node per kept object with its group's bytes and object count)
        as GraphML (``.graphml``) or Graphviz (``.dot``)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in (".graphml", ".dot"):
            raise UsageError(f"--graph must end in .graphml or .dot, not {p.name!r}.")
        g = nx.DiGraph()
        for i in self.kept.tolist():
            g.add_node(i, label=self.label(i), kind=KINDS[int(self.objects.kinds[i])],
                       addr=hex(int(self.objects.bases[i])) if self.objects.kinds[i] != ROOT else "",
                       bytes=int(self.group_bytes[i]), objects=int(self.group_objects[i]),
                       retained=int(self.retained.get(i, 0)))
        g.add_edges_from(zip(self.csrc.tolist(), self.cdst.tolist()))
        try:
            if suffix == ".graphml":
                nx.write_graphml(g, p)
            else:
                p.write_text(to_dot(g))
        except OSError as e:
            raise UsageError(f"cannot write {p}: {e.strerror or e}.") from None


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz text for a graph whose nodes carry a ``label`` (other attributes become node attributes)."""
    def q(v: Any) -> str:
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph heap {", "  node [shape=box, fontname=monospace];"]
    for v, attrs in g.nodes(data=True):
        body = ", ".join(f"{k}={q(a)}" for k, a in attrs.items())
        lines.append(f"  n{v} [{body}];")
    for a, b in g.edges():
        lines.append(f"  n{a} -> n{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = ["HeapGraph", "SUPER_ROOT", "to_dot"]
