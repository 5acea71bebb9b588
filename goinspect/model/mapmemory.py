"""What a map holds against what its live entries need: the figure behind "maps never shrink"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MapMemory:
    """Bytes of a map: ``payload`` (entries * (key + elem)), ``rebuilt`` (a map freshly made for the
    live entries: ``make(map, n)`` then the inserts, header and all), ``held`` (what it holds now)."""

    payload: int
    rebuilt: int
    held: int

    @property
    def reclaimable(self) -> int:
        """What copying the live entries into a fresh map would give back."""
        return max(0, self.held - self.rebuilt)
