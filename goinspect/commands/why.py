"""goinspect why NAME|ADDR: what keeps a map, a slice or an object alive.

Reads every map and slice root and the heap objects reachable through them in one
pause (``goinspect.runtime.heapgraph.collect``), then, with the target resumed,
builds the dominator tree (``goinspect.analysis.graph``) and prints the shortest
path from a root to the named map/slice -- or to the object containing ADDR -- and
the bytes that would be freed without it.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from goinspect.analysis.graph import HeapGraph
from goinspect.commands.common import add_json_option, print_json
from goinspect.commands.maps import MHEAP, RUNTIME_PREFIXES, add_target_options, opened
from goinspect.errors import InputError, UsageError
from goinspect.render.units import fmt_value
from goinspect.runtime.census import Census
from goinspect.runtime.heapgraph import KINDS, ScanPlan, collect
from goinspect.runtime.spans import SpanIndex

_ADDR = re.compile(r"0x[0-9a-fA-F]+")


@dataclass
class GraphReading:
    """One pause's heap graph and what it cost."""

    graph: HeapGraph
    go_version: str
    pause_seconds: float | None
    read_seconds: float
    graph_seconds: float


def read_graph(args: argparse.Namespace) -> GraphReading:
    """Open the target named by ``args`` (``add_target_options``), collect the heap graph of every map and
    slice root in one pause, and analyse it after the target is resumed."""
    from goinspect.runtime.roots import gather_roots, global_container_types, prepare_roots

    with opened(args) as target:
        globals_ = target.globals()
        mheap = next((g for g in globals_ if g.name == MHEAP), None)
        if mheap is None:
            raise InputError("the target has no runtime.mheap_ variable, so its heap cannot be walked.")
        user = [g for g in globals_ if args.runtime or not g.name.startswith(RUNTIME_PREFIXES)]
        census = Census(target, None)
        types = global_container_types(user)
        census.prepare(types)
        stack_types = prepare_roots(target, census, runtime=args.runtime)
        plan = ScanPlan(target)
        plan.prepare(types | stack_types)
        with target.paused():
            t0 = time.perf_counter()
            census.spans = SpanIndex(target.memory, target, mheap.addr, go_version=target.go_version)
            roots = gather_roots(target, user, target.memory, runtime=args.runtime)
            census.prepare({r.type_name for r in roots})
            objects = collect(target, census, roots, plan=plan)
            read = time.perf_counter() - t0
        pauses = getattr(target, "pauses", None)
        t1 = time.perf_counter()
        graph = HeapGraph(objects)
        return GraphReading(graph, target.go_version, pauses[-1] if (pauses and target.pid) else None, read,
                            time.perf_counter() - t1)


def explain(g: HeapGraph, what: str) -> dict[str, Any]:
    """The answer for NAME or ADDR as JSON-able data (InputError when the graph holds neither)."""
    if what in g.items:
        it = g.items[what]
        i = g.item_node(what)
        return {"name": what, "kind": it.kind, "type": it.root.type_name, "root": it.root.root,
                "addr": hex(it.node) if it.node else None, "path": g.path(what),
                "retained_bytes": g.retained_bytes(what), "structure_bytes": g.structure_bytes(what),
                "reachable_bytes": g.reachable_bytes(what), "value_objects": int(len(g.value_targets(what))),
                "object": None if i is None else _object(g, i), "error": it.error}
    if _ADDR.fullmatch(what):
        addr = int(what, 16)
        i = g.node_at(addr)
        if i is None:
            raise InputError(f"{addr:#x} is in no object reachable from a map or slice root of the target.")
        return {"addr": hex(addr), "object": _object(g, i), "path": [g.label(j) for j in g.path_nodes(i)],
                "retained_bytes": g.retained_by_node(i)}
    close = [n for n in g.items if n.endswith("." + what) or what in n][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else " (see goinspect maps / goinspect slices)"
    raise InputError(f"no map or slice named {what!r} and not an address{hint}.")


def _object(g: HeapGraph, i: int) -> dict[str, Any]:
    o = g.objects
    return {"base": hex(int(o.bases[i])), "size": int(o.sizes[i]), "kind": KINDS[int(o.kinds[i])],
            "in_heap": not bool(o.outside[i])}


def print_answer(ans: dict[str, Any], r: GraphReading) -> None:
    if "name" in ans:
        print(f"{ans['name']}  {ans['type']}  ({ans['root']} {ans['kind']})")
        if ans["addr"] is None:
            print("  nil or empty: it holds nothing" + (f" ({ans['error']})" if ans.get("error") else ""))
        print(f"  retained {fmt_value(ans['retained_bytes'], 'bytes')}: structure {fmt_value(ans['structure_bytes'], 'bytes')}, "
              f"reachable through its values {fmt_value(ans['reachable_bytes'], 'bytes')} "
              f"({ans['value_objects']} objects pointed to directly)")
    else:
        ob = ans["object"]
        print(f"{ans['addr']} is in {ob['kind']} {ob['base']} ({fmt_value(ob['size'], 'bytes')})")
        print(f"  retained {fmt_value(ans['retained_bytes'], 'bytes')}")
    print("path from a root:")
    for k, hop in enumerate(ans["path"]):
        print(("  " if k == 0 else "  -> ") + hop)
    sys.stdout.flush()  # the footer goes to stderr: after the answer, also when both go to one terminal/file
    st = r.graph.stats
    pause = f", target paused {r.pause_seconds * 1000:.0f} ms" if r.pause_seconds is not None else ""
    print(f"(Go {r.go_version}; {st['nodes']} objects, {st['edges']} edges, {st['contracted_nodes']} after folding "
          f"single-referrer objects; read {r.read_seconds * 1000:.0f} ms{pause}, "
          f"analysed {r.graph_seconds * 1000:.0f} ms)", file=sys.stderr)


class WhyCommand:
    """Why is this map, slice or object alive: the shortest path from a root, and the bytes it retains."""

    name = "why"
    help = "the shortest path from a root to a map/slice (NAME) or to the object holding ADDR, and its retained bytes"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("what", metavar="NAME|ADDR", help="a map or slice (e.g. main.cache) or a hex address")
        add_target_options(parser)
        add_json_option(parser)
        parser.add_argument("--graph", metavar="FILE", help="also write the heap graph (.graphml or .dot)")

    def run(self, args: argparse.Namespace) -> int:
        if args.graph and not args.graph.lower().endswith((".graphml", ".dot")):
            raise UsageError(f"--graph must end in .graphml or .dot, not {args.graph!r}.")
        r = read_graph(args)
        ans = explain(r.graph, args.what)
        if args.graph:
            r.graph.export(args.graph)
        if args.json:
            print_json({**ans, "go_version": r.go_version, "pause_seconds": r.pause_seconds,
                        "read_seconds": round(r.read_seconds, 6), "graph_seconds": round(r.graph_seconds, 6),
                        "graph": {k: v for k, v in r.graph.stats.items() if k != "collect"}})
        else:
            print_answer(ans, r)
        return 0


COMMAND = WhyCommand()
