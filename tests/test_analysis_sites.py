"""Pure logic of goinspect analyze: which source line feeds which map or slice, and entry turnover."""

from __future__ import annotations

import numpy as np

from goinspect.analysis.report import _downsample, turnover
from goinspect.analysis.sites import feeds

ITEMS = [("main.sessions", "map"), ("main.batch", "slice"), ("main.worker.seen#7", "map"),
         ("main.cfg.index", "map")]


def test_a_map_write_feeds_that_map():
    assert feeds("\t\tsessions[s.id] = s // site: map_growth", ITEMS) == "main.sessions"
    assert feeds("tenants[name] = append(tenants[name], chunk...)", [("main.tenants", "map")]) == "main.tenants"
    assert feeds("seen[k]++", ITEMS) == "main.worker.seen#7"
    assert feeds("c.index[key] = order.PushFront(e)", ITEMS) == "main.cfg.index"
    assert feeds("sessions = make(map[int64]*session, 64)", ITEMS) == "main.sessions"


def test_a_slice_append_feeds_that_slice():
    assert feeds("batch = append(batch, r)", ITEMS) == "main.batch"
    assert feeds("batch = make([]*request, 0, 8)", ITEMS) == "main.batch"


def test_reads_comparisons_and_other_names_feed_nothing():
    assert feeds("if v := sessions[k]; v == nil {", ITEMS) is None  # a read
    assert feeds("ok := sessions[k] == s", ITEMS) is None  # a comparison, not a write
    assert feeds("mysessions[k] = s", ITEMS) is None  # another identifier
    assert feeds("other = append(batch, r)", ITEMS) is None  # appends to batch but keeps it elsewhere
    assert feeds("// sessions[k] = s", ITEMS) is None  # a comment
    assert feeds(None, ITEMS) is None


def test_a_line_naming_two_held_items_is_not_guessed():
    assert feeds("sessions[k] = s; batch = append(batch, s)", ITEMS) is None


def test_turnover_counts_targets_that_were_not_there_before():
    prev = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert turnover(prev, np.array([1, 2, 3, 4], dtype=np.uint64)) == 0.0
    assert turnover(prev, np.array([3, 4, 5, 6], dtype=np.uint64)) == 0.5
    assert turnover(prev, np.array([7, 8], dtype=np.uint64)) == 1.0
    assert turnover(None, prev) is None and turnover(prev, np.zeros(0, np.uint64)) is None


def test_downsampling_keeps_the_totals():
    cells = [[i % 9, 8] for i in range(10_000)]
    small = _downsample(cells)
    assert len(small) == 4096
    assert sum(c[0] for c in small) == sum(c[0] for c in cells) and sum(c[1] for c in small) == 80_000
