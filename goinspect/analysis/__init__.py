"""Leak or false alarm: snapshots over time, the heap graph, verdicts (issue 6)."""
