"""Allocation sites over a series of heap profiles, and which map or slice each one feeds.

A site is the allocating source line (``goinspect.profile.attribute``: the
leaf user frame, with what it allocates there). Its in-use and allocated
bytes across the profiles say whether the memory born there stays (growth)
or is freed as fast as it is made (churn). A site is matched to a map or
slice only when its source line names it: ``sessions[id] = s`` feeds the map
whose variable is ``sessions``; ``buf = append(buf, x)`` feeds the slice
``buf``. When the line is not readable here, or names nothing we hold, the site
stays unmatched rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from goinspect.profile.attribute import attribute
from goinspect.profile.model import Profile
from goinspect.profile.trend import classify, series_stats

ReadSource = Callable[[str, int], "str | None"]


@dataclass(slots=True)
class SiteSeries:
    """One allocation site across the profiles (oldest first)."""

    id: int
    function: str
    file: str
    line: int
    kind: str
    text: str | None
    inuse_bytes: list[int] = field(default_factory=list)
    alloc_bytes: list[int] = field(default_factory=list)
    inuse_objects: list[int] = field(default_factory=list)
    alloc_objects: list[int] = field(default_factory=list)
    trend: str = "single profile"
    feeds: str | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "function": self.function, "file": self.file, "line": self.line, "kind": self.kind,
                "text": self.text, "trend": self.trend, "feeds": self.feeds, "inuse_bytes": self.inuse_bytes,
                "alloc_bytes": self.alloc_bytes, "inuse_objects": self.inuse_objects,
                "alloc_objects": self.alloc_objects}


def site_series(profiles: list[Profile], go_version: str, read_source: ReadSource,
                seconds: np.ndarray | None = None) -> list[SiteSeries]:
    """Per-site in-use and allocated figures in every profile; a site missing from a profile counts 0 there."""
    by_key: dict[tuple[str, str, int], SiteSeries] = {}
    n = len(profiles)
    for j, p in enumerate(profiles):
        types = [t.type for t in p.sample_types]
        columns = [("alloc", "alloc_space")] + ([("inuse", "inuse_space")] if "inuse_space" in types else [])
        for prefix, index in columns:
            for s in attribute(p, go_version, read_source=read_source, sample_index=index).sites:
                key = (s.function, s.file, s.line)
                site = by_key.get(key)
                if site is None:
                    site = by_key[key] = SiteSeries(len(by_key), s.function, s.file, s.line, s.kind,
                                                    read_source(s.file, s.line) if s.file and s.line else None,
                                                    [0] * n, [0] * n, [0] * n, [0] * n)
                getattr(site, f"{prefix}_bytes")[j] = s.bytes
                getattr(site, f"{prefix}_objects")[j] = s.objects
                if prefix == "alloc" and s.kind != "other":
                    site.kind = s.kind
    sites = sorted(by_key.values(), key=lambda s: (-s.inuse_bytes[-1], -s.alloc_bytes[-1]))
    if n >= 2:
        for s in sites:
            inuse = series_stats(np.asarray(s.inuse_bytes), seconds)
            alloc = series_stats(np.asarray(s.alloc_bytes), seconds)
            s.trend = classify(inuse, alloc)
    for i, s in enumerate(sites):
        s.id = i
    return sites


def _ident(name: str) -> str:
    """The variable's own identifier: ``main.cache`` -> ``cache``; ``pkg.T.field`` -> ``field``;
    ``main.worker.m#7`` -> ``m``."""
    return name.split("#", 1)[0].rsplit(".", 1)[-1]


def feeds(text: str | None, names: list[tuple[str, str]]) -> str | None:
    """The one map or slice (``(name, kind)``) the source line writes, or None when it names none or several."""
    if not text:
        return None
    code = text.split("//", 1)[0]
    found = []
    for name, kind in names:
        ident = re.escape(_ident(name))
        if kind == "map":
            pattern = rf"(?<!\w){ident}\s*\[[^\]]*\]\s*(=|\+=|-=|\|=|&=|\+\+|--)(?!=)|(?<!\w){ident}\s*=\s*make\("
        else:
            pattern = rf"(?<!\w){ident}\s*=\s*append\(\s*{ident}\b|(?<!\w){ident}\s*=\s*make\("
        if re.search(pattern, code):
            found.append(name)
    return found[0] if len(found) == 1 else None
