"""A pure model of the Go runtime's memory layout, per Go version.

No I/O: every function computes from the Go sources' own formulas, and every
constant names the Go file it mirrors. ``version`` picks the rules of a Go
release; ``sizeclasses`` is malloc; ``slices``, ``classicmap`` and
``swissmap`` are the growth rules of slices and the two map layouts (sizes, when
they grow, noverflow's sampling, evacuation, tombstones, memory held vs needed);
``heaparena`` is page and arena arithmetic; ``gotypes`` sizes Go types by name.
"""
