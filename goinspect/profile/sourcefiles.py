"""Reading the Go source files a profile names (I/O kept out of the pure report code).

Profiles record the build machine's absolute paths; when the file is not here
the callers still report their numbers, only without the text.
"""

from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=256)
def file_lines(path: str, source_dir: str | None = None) -> tuple[str, ...]:
    """The lines of ``path``, else of its trailing path parts under ``source_dir``; OSError if none is readable."""
    candidates = [path]
    if source_dir:
        parts = path.strip("/").split("/")
        candidates += [os.path.join(source_dir, *parts[i:]) for i in range(len(parts))]
    error: OSError | None = None
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as f:
                return tuple(f.read().splitlines())
        except OSError as e:
            error = error or e
    assert error is not None
    raise error


def source_line(path: str, line: int) -> str | None:
    """The text of ``path:line`` if that file exists here."""
    try:
        lines = file_lines(path)
    except OSError:
        return None
    return lines[line - 1] if 1 <= line <= len(lines) else None
