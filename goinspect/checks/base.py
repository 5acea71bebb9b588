"""The result of one named cross-check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # e.g. "classic.count", "swiss.growth_left", "span.buckets"
    passed: bool
    evidence: str  # the figures compared, in one line

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
