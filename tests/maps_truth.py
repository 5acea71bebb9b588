"""Comparing what ``goinspect maps/slices --json`` read with a fleet program's own ``/truth``.

``/truth`` (testdata/fleet/internal/fleetkit) is the program reading its own maps
through ``unsafe``: header fields, a walk of buckets or tables, and slice headers.
Every figure it reports must equal ours, field by field.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from typing import Any

from goinspect.commands.check import COMMAND as CHECK
from goinspect.commands.map import COMMAND as MAP
from goinspect.commands.maps import COMMAND as MAPS
from goinspect.commands.slices import COMMAND as SLICES
from goinspect.commands.why import COMMAND as WHY

COMMANDS = {"maps": MAPS, "map": MAP, "slices": SLICES, "check": CHECK, "why": WHY}


def run_json(command: str, *argv: str) -> dict[str, Any]:
    """Run ``goinspect COMMAND ARGV --json`` in-process (the subcommand object cli.py registers) and parse stdout."""
    cmd = COMMANDS[command]
    parser = argparse.ArgumentParser(prog=f"goinspect {command}")
    cmd.prepare_parser(parser)
    args = parser.parse_args([*argv, "--json"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cmd.run(args)
    assert rc == 0
    return json.loads(out.getvalue())


def reflect_name(dwarf_name: str) -> str:
    """DWARF spells types with the full import path (``*container/list.Element``); reflect with the
    package name only (``*list.Element``)."""
    return re.sub(r"(?:[\w.-]+/)+", "", dwarf_name)


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in items}


def assert_map_matches(ours: dict[str, Any], truth: dict[str, Any]) -> None:
    """Every header field, walk count and (Swiss) table figure of /truth equals ours."""
    name = ours["name"]
    assert ours["count"] == truth["len"], name
    assert ours["addr"] == truth["addr"], name
    assert (reflect_name(ours["key_type"]), reflect_name(ours["elem_type"])) == (truth["key"], truth["elem"]), name
    assert ours["memory"]["live_bytes"] == truth["len"] * (truth["key_size"] + truth["elem_size"]), name
    if ours["impl"] == "hmap":
        h = ours["hmap"]
        theader = dict(truth["header"])
        textra = theader.pop("mapextra", None)
        assert h["header"] == {**h["header"], **theader}, name
        if textra is not None:
            assert {k: h["mapextra"][k] for k in textra} == textra, name
        assert {k: h["walk"][k] for k in truth["walk"]} == truth["walk"], name
        assert h["walk"]["live"] == truth["len"], name
        assert h["walk"]["unreadable_buckets"] == 0, name
    else:
        s = ours["swiss"]
        present = {k: v for k, v in truth["header"].items() if v is not None}
        assert s["header"] == {**s["header"], **present}, name
        # Fields this release's Map lacks (tombstonePossible before 1.25): DWARF has none, nor do we.
        assert not (set(truth["header"]) - set(present)) & set(s["header"]), name
        assert {k: s["walk"][k] for k in truth["walk"]} == truth["walk"], name
        assert len(s["tables"]) == len(truth["tables"]), name
        for mine, theirs in zip(s["tables"], truth["tables"]):
            assert {k: mine[k] for k in theirs} == theirs, (name, theirs["addr"])
        assert s["walk"]["live"] == truth["len"] and s["walk"]["unreadable_tables"] == 0, name
    assert ours["memory"]["structure_bytes"] >= ours["memory"]["live_bytes"], name


def assert_slice_matches(ours: dict[str, Any], truth: dict[str, Any]) -> None:
    name = ours["name"]
    assert (ours["len"], ours["cap"], ours["elem_size"], ours["array_addr"]) == \
        (truth["len"], truth["cap"], truth["elem_size"], truth["array"]), name
    if ours["alloc_base"] is not None:
        base, array = int(ours["alloc_base"], 16), int(ours["array_addr"], 16)
        assert base <= array and array + ours["cap_bytes"] <= base + ours["alloc_size_bytes"], name
