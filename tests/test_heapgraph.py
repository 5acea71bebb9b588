"""The heap graph on real fleet programs (Go 1.23 classic maps, 1.26 Swiss tables), against what
each program knows about itself (/truth) and Go's own size-class table.

- leakmap: the map's values point to exactly len(map) distinct session objects, each one block
  of the size class of the program's own ``unsafe.Sizeof(session{})``; nothing else refers to
  them, so the map retains its structure plus all of them; later snapshots only add targets.
- valueleak: bytes reachable through the values are the sum of the value slices' capacities
  the program reports (noscan []byte arrays are exactly one block of cap bytes), and grow with it.
- slicepin: the 16-element tail retains the whole 64 MiB array; the copied tail only its own block.
- lru: values behind an interface (scanned conservatively) add up exactly, and the list a global
  holds keeps every entry alive, so the map retains only its structure.
- churn: a sliding window (recent = append(recent[1:], r)) reaches exactly its len requests and
  their payloads through its values, though the array's stale prefix keeps more alive.
- stuckgrow from a core; benchmarks/scale (the 1M-entry benchmark's program) at 50,000 entries.
- ``goinspect why``: the path starts at the right root (global, or a goroutine's stack), ADDR
  finds the object holding it; --graph writes GraphML networkx reads back and sane Graphviz text.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

from conftest import FLEET_PROGRAMS
from goinspect.analysis.graph import HeapGraph
from goinspect.commands.why import COMMAND as WHY, read_graph
from goinspect.model.sizeclasses import block_size


def graph_of(pid: int) -> HeapGraph:
    args = argparse.Namespace(pid=pid, core=None, exe=None, timeout=60.0, verbose=False, runtime=False)
    return read_graph(args).graph


def why_json(*argv: str) -> dict[str, Any]:
    """``goinspect why ARGV --json`` in-process, as cli.py runs it."""
    parser = argparse.ArgumentParser(prog="goinspect why")
    WHY.prepare_parser(parser)
    args = parser.parse_args([*argv, "--json"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert WHY.run(args) == 0
    return json.loads(out.getvalue())


def test_leakmap_values_are_the_sessions(go_version, fleet_service):
    with fleet_service("leakmap") as svc:
        svc.advance(3)
        truth = svc.truth()
        g = graph_of(svc.pid)
        svc.advance(2)
        truth2 = svc.truth()
        g2 = graph_of(svc.pid)
    name = "main.sessions"
    n, n2 = truth["maps"][name]["len"], truth2["maps"][name]["len"]
    block = block_size(int(truth["extra"]["session_size"]), True, go_version)  # no pointers: a noscan block
    targets = g.value_targets(name)
    assert len(targets) == n == 3 * truth["extra"]["per_step"]
    sizes = g.objects.sizes[g.objects.index(targets)]
    assert (sizes == block).all()
    assert g.reachable_bytes(name) == n * block
    # each session is referred to by its bucket/group only: the map retains it all
    assert g.retained_bytes(name) == g.structure_bytes(name) + n * block
    assert g.path(name)[0] == "global main.sessions"
    assert g.path(name)[1] == f"map header {truth['maps'][name]['addr']}"
    # a later snapshot: entries only added, so every earlier target is still there (turnover 0)
    t2 = g2.value_targets(name)
    assert len(t2) == n2 == n + 2 * truth["extra"]["per_step"]
    assert len(np.intersect1d(targets, t2)) == n
    assert g2.reachable_bytes(name) == n2 * block
    assert g2.stats["unreachable"] == 0


def test_valueleak_reachable_bytes_follow_value_capacities(go_version, fleet_service):
    with fleet_service("valueleak") as svc:
        svc.advance(2)
        t1 = svc.truth()
        g1 = graph_of(svc.pid)
        svc.advance(6)
        t2 = svc.truth()
        g2 = graph_of(svc.pid)
    name = "main.tenants"
    for t, g in ((t1, g1), (t2, g2)):
        assert len(g.value_targets(name)) == t["maps"][name]["len"]
        assert g.reachable_bytes(name) == t["extra"]["value_cap_total"]
        assert g.retained_bytes(name) >= g.structure_bytes(name) + t["extra"]["value_cap_total"]
    assert g2.reachable_bytes(name) > g1.reachable_bytes(name)
    # the names slice points to the same key strings the map holds: shared, so retained by neither
    names = g2.value_targets("main.names")
    assert len(names) == t2["slices"]["main.names"]["len"]
    assert g2.retained_bytes("main.names") == g2.structure_bytes("main.names")


def test_sliding_window_values_are_its_len_elements(go_version, fleet_service):
    """The popped requests a sliding window's prefix still holds are retained by its array (the GC scans it
    all) but are no values of the slice: reachable through its values is exactly len requests and payloads."""
    with fleet_service("churn") as svc:
        svc.advance(2)
        truth = svc.truth()
        g = graph_of(svc.pid)
    n, payload = truth["extra"]["recent_len"], truth["extra"]["payload_size"]
    assert truth["slices"]["main.recent"]["len"] == n
    targets = g.value_targets("main.recent")
    assert len(targets) == n  # every element a distinct request
    per_request = block_size(32, False, go_version) + block_size(payload, True, go_version)  # {int64, []byte}
    assert g.reachable_bytes("main.recent") == n * per_request


def test_slicepin_tail_retains_the_whole_array(go_version, fleet_service):
    with fleet_service("slicepin") as svc:
        svc.advance(2)
        truth = svc.truth()
        g = graph_of(svc.pid)
    big = truth["extra"]["big_bytes"]
    assert g.structure_bytes("main.tail") == big  # the 128-byte tail's allocation is the whole array
    assert g.retained_bytes("main.tail") == big
    assert g.reachable_bytes("main.tail") == 0  # int64 elements point nowhere
    head = truth["extra"]["buf_bytes"]  # buf[:64]: its cap reaches the whole buffer, all of it retained
    assert g.structure_bytes("main.head") == g.retained_bytes("main.head") == head
    copied = truth["slices"]["main.copied"]
    assert g.retained_bytes("main.copied") == block_size(copied["cap"] * copied["elem_size"], True, go_version)
    assert g.path("main.tail") == ["global main.tail", f"slice array {hex(g.items['main.tail'].node)} (64MB)"]
    assert g.items["main.tail"].node <= int(truth["slices"]["main.tail"]["array"], 16) < g.items["main.tail"].node + big


def test_why_name_addr_and_graph_export(go_version, fleet_service, tmp_path):
    with fleet_service("leakmap") as svc:
        svc.advance(1)
        truth = svc.truth()
        gml = tmp_path / "heap.graphml"
        dot = tmp_path / "heap.dot"
        by_name = why_json("main.sessions", "--pid", str(svc.pid), "--graph", str(gml))
        some = int(by_name["addr"], 16)
        g = graph_of(svc.pid)
        target = int(g.value_targets("main.sessions")[7])
        by_addr = why_json(hex(target + 8), "--pid", str(svc.pid), "--graph", str(dot))
    assert by_name["path"][:2] == ["global main.sessions", f"map header {truth['maps']['main.sessions']['addr']}"]
    assert some == int(truth["maps"]["main.sessions"]["addr"], 16)
    assert by_name["value_objects"] == truth["maps"]["main.sessions"]["len"]
    block = block_size(int(truth["extra"]["session_size"]), True, go_version)
    assert by_addr["object"] == {"base": hex(target), "size": block, "kind": "object", "in_heap": True}
    assert by_addr["path"][0] == "global main.sessions"
    assert by_addr["path"][-1] == f"object {hex(target)} ({block}B)"
    assert by_addr["retained_bytes"] == block
    # GraphML: networkx reads it back, the contracted graph as the JSON counted it
    back = nx.read_graphml(gml)
    assert back.number_of_nodes() == by_name["graph"]["contracted_nodes"]
    assert back.number_of_edges() == by_name["graph"]["contracted_edges"]
    roots = [d for _, d in back.nodes(data=True) if d["label"] == "global main.sessions"]
    assert len(roots) == 1
    # DOT: one statement per node and edge, every edge between declared nodes, balanced braces
    text = dot.read_text()
    assert text.startswith("digraph heap {\n") and text.endswith("}\n")
    declared = set(re.findall(r"^  (n-?\d+) \[", text, re.M))
    edges = re.findall(r"^  (n-?\d+) -> (n-?\d+);$", text, re.M)
    assert len(declared) == by_addr["graph"]["contracted_nodes"]
    assert len(edges) == by_addr["graph"]["contracted_edges"]
    assert all(a in declared and b in declared for a, b in edges)
    assert text.count("{") == text.count("}")


def test_why_errors_are_one_line(go_version, fleet_service, capsys):
    from goinspect.cli import main

    with fleet_service("leakmap") as svc:
        assert main(["why", "main.nosuch", "--pid", str(svc.pid)]) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("goinspect: error: no map or slice named 'main.nosuch'")
        assert main(["why", "0x10", "--pid", str(svc.pid)]) == 3
        assert "in no object reachable" in capsys.readouterr().err
    assert main(["why", "main.sessions", "--pid", "1", "--graph", "out.png"]) == 2


@pytest.mark.skipif("stackmap" not in FLEET_PROGRAMS, reason="the stackmap fleet program is not in this checkout")
def test_why_stack_root(go_version, fleet_service):
    with fleet_service("stackmap") as svc:
        svc.advance(2)
        truth = svc.truth()
        ans = why_json("main.owner.pending", "--pid", str(svc.pid))
        g = graph_of(svc.pid)
    assert ans["root"] == "stack"
    assert ans["path"][0].startswith("stack main.owner.pending (goroutine ")
    assert ans["path"][1] == f"map header {truth['maps']['main.owner.pending']['addr']}"
    assert ans["value_objects"] == truth["maps"]["main.owner.pending"]["len"]
    assert g.path("main.owner.history")[0].startswith("stack main.owner.history")


def test_why_on_a_core(go_version, stuckgrow_core):
    """The same reading from a core: the stuck map's path and header, and -- its int64 entries pointing
    nowhere -- retained bytes equal to its own structure, every structure object a heap block."""
    case = stuckgrow_core
    ans = why_json("main.stuck", "--core", str(case.core), "--exe", str(case.exe))
    t = case.truth["maps"]["main.stuck"]
    assert ans["path"] == ["global main.stuck", f"map header {t['addr']}"]
    assert ans["pause_seconds"] is None
    assert ans["reachable_bytes"] == 0 and ans["value_objects"] == 0
    assert ans["retained_bytes"] == ans["structure_bytes"] > 0
    assert ans["object"]["in_heap"] and ans["object"]["kind"] == "map header"


def test_lru_entries_are_held_by_the_list_too(go_version, fleet_service):
    """lru's map values are *list.Element whose Value is an interface: the entry behind it is found
    conservatively, its []byte through the entry. Every element is also on the list a global
    (``main.order``, neither map nor slice) points to, so dropping the map would free none of them:
    the map retains only its own structure."""
    with fleet_service("lru") as svc:
        svc.advance(4)
        truth = svc.truth()
        g = graph_of(svc.pid)
    name = "main.index"
    sz = truth["extra"]["object_sizes"]
    n = truth["maps"][name]["len"]
    assert n == truth["extra"]["list_len"]
    per_entry = (block_size(sz["element"], False, go_version) + block_size(sz["entry"], False, go_version)
                 + block_size(sz["value"], True, go_version))
    assert g.reachable_bytes(name) == n * per_entry + block_size(sz["list"], False, go_version)
    assert len(g.value_targets(name)) == n
    assert g.retained_bytes(name) == g.structure_bytes(name)
    assert "main.order" in {r.name for r in g.objects.roots if r.kind == "pointer"}


def test_scale_program_small(go_version, toolchain):
    """benchmarks/scale (the 1M-entry benchmark's target) at 50,000 entries: it builds, and the graph
    finds one value object per entry, each one block of the program's own item size."""
    import subprocess

    from goinspect.run.build import build_program

    exe = build_program(toolchain, Path(__file__).resolve().parent.parent / "benchmarks" / "scale", ".")
    proc = subprocess.Popen([str(exe), "50000"], stdout=subprocess.PIPE, text=True)
    try:
        _, count, _, item_size = proc.stdout.readline().split()  # type: ignore[union-attr]
        g = graph_of(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert len(g.value_targets("main.index")) == int(count) == 50_000
    assert g.reachable_bytes("main.index") == 50_000 * block_size(int(item_size), True, go_version)
    assert g.retained_bytes("main.index") == g.structure_bytes("main.index") + g.reachable_bytes("main.index")
