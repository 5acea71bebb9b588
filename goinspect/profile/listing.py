"""Per-line flat/cum values of the functions a regex names: the data behind ``profile list``.

Like pprof's ``-list``: values at line granularity, grouped by function and
file, shown over the function's source from its first line to five lines
past the last line with samples. Source text comes in through a callable, so
this stays free of I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from goinspect.errors import UsageError
from goinspect.profile.aggregate import Aggregate, go_clean
from goinspect.profile.model import Profile

MARGIN = 5  # lines shown after the last line with samples (pprof's margin)

#: ``read_lines(file) -> list of lines`` or raises OSError.
ReadLines = Callable[[str], list[str]]


@dataclass(slots=True)
class ListedLine:
    line: int
    flat: int
    cum: int
    source: str | None


@dataclass(slots=True)
class ListedFunction:
    function: str
    file: str
    flat: int
    cum: int
    lines: list[ListedLine] = field(default_factory=list)
    source_error: str | None = None  # why the source could not be shown


def start_lines(profile: Profile) -> dict[tuple[str, str], int]:
    """First line of each (function, cleaned file), from the function table."""
    out: dict[tuple[str, str], int] = {}
    for f in profile.functions:
        if f.start_line:
            key = (f.name, go_clean(f.filename) if f.filename else "")
            out[key] = min(out.get(key, f.start_line), f.start_line)
    return out


def listing(profile: Profile, agg: Aggregate, pattern: str, read_lines: ReadLines) -> list[ListedFunction]:
    """Functions matching ``pattern`` (searched in the function name) with their per-line values.

    ``agg`` must be at ``lines`` granularity.
    """
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise UsageError(f"{pattern!r} is not a valid regular expression: {e}") from None
    groups: dict[tuple[str, str], dict[int, tuple[int, int]]] = {}
    for i in agg.present():
        node = agg.nodes[int(i)]
        if not node.name or not rx.search(node.name):
            continue
        per_line = groups.setdefault((node.name, node.file), {})
        f, c = per_line.get(node.line, (0, 0))
        per_line[node.line] = (f + int(agg.flat[i]), c + int(agg.cum[i]))
    if not groups:
        raise UsageError(f"no function matching {pattern!r} has samples of {agg.sample_type.type}")
    starts = start_lines(profile)
    out = []
    for (name, file), per_line in sorted(groups.items()):
        fn = ListedFunction(name, file, sum(f for f, _ in per_line.values()), sum(c for _, c in per_line.values()))
        sampled = sorted(per_line)
        text: list[str] | None = None
        if file:
            try:
                text = read_lines(file)
            except OSError as e:
                fn.source_error = f"cannot read {file}: {e.strerror or e}"
        else:
            fn.source_error = "the profile names no source file"
        if text is None:
            fn.lines = [ListedLine(n, *per_line[n], None) for n in sampled]
        else:
            first = starts.get((name, file)) or max(sampled[0] - MARGIN, 1)
            first = max(min(first, sampled[0]), 1)
            last = min(sampled[-1] + MARGIN, len(text))
            numbers = sorted(set(range(first, last + 1)) | set(sampled))
            fn.lines = [ListedLine(n, *per_line.get(n, (0, 0)), text[n - 1] if n <= len(text) else None)
                        for n in numbers]
        out.append(fn)
    return out
