"""Aligned plain-text tables: numbers right-aligned, the last (name) column left-aligned."""

from __future__ import annotations


def render_table(header: list[str], rows: list[list[str]], left: set[int] | None = None) -> list[str]:
    """Lines of a table; columns in ``left`` (default: the last one) are left-aligned."""
    if left is None:
        left = {len(header) - 1}
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            if i in left:
                out.append(cell if last else cell.ljust(widths[i]))
            else:
                out.append(cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    return [line(header)] + [line(r) for r in rows]
