"""Which Go release's rules apply: parsing versions and the features that changed between them."""

from __future__ import annotations

from dataclasses import dataclass

from goinspect.errors import UsageError
from goinspect.model._sizeclasses_data import VERSIONS as _GENERATED


@dataclass(frozen=True, order=True, slots=True)
class GoVersion:
    major: int
    minor: int
    patch: int = -1  # -1: not given ("1.23"); the runtime rules modelled change only between minor releases
    noswissmap: bool = False  # built with GOEXPERIMENT=noswissmap (1.24 and 1.25 only): classic maps

    @classmethod
    def parse(cls, text: str | GoVersion | None) -> GoVersion:
        """``"1.23"``, ``"1.23.9"`` or ``"go1.23.9"``, optionally ``+noswissmap`` (GOEXPERIMENT, 1.24/1.25);
        ``None`` means the newest modelled release."""
        if isinstance(text, GoVersion):
            return text
        if text is None:
            return NEWEST
        base, plus, experiment = str(text).strip().partition("+")
        if plus and experiment != "noswissmap":
            raise UsageError(f"unknown Go experiment {experiment!r} in {text!r} (only +noswissmap changes what is modelled)")
        parts = base.removeprefix("go").split(".")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"not a Go version: {text!r} (expected e.g. 1.23 or 1.23.9)") from None
        if len(nums) not in (2, 3) or nums[0] != 1:
            raise UsageError(f"not a Go version: {text!r} (expected e.g. 1.23 or 1.23.9)")
        v = cls(*nums, noswissmap=bool(plus))
        if v.noswissmap and not (1, 24) <= (v.major, v.minor) <= (1, 25):
            raise UsageError(f"GOEXPERIMENT=noswissmap exists only in Go 1.24 and 1.25, not {base}")
        return v

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch >= 0 else "")
        return text + ("+noswissmap" if self.noswissmap else "")

    @property
    def malloc_headers(self) -> bool:
        """Go 1.22 put an 8-byte type header in pointerful objects over 512 bytes (runtime/mbitmap.go)."""
        return (self.major, self.minor) >= (1, 22)

    @property
    def swiss_maps(self) -> bool:
        """Go 1.24 made Swiss tables (internal/runtime/maps) the default map layout; 1.26 removed the classic one."""
        return (self.major, self.minor) >= (1, 24) and not self.noswissmap

    @property
    def append_stack_buffer(self) -> bool:
        """Go 1.26's compiler backs non-escaping appends with a 32-byte stack buffer (``growsliceBuf``)."""
        return (self.major, self.minor) >= (1, 26)

    @property
    def drops_internal_runtime_frames(self) -> bool:
        """Since Go 1.24 runtime/pprof also drops leading ``internal/runtime/`` frames from heap samples."""
        return (self.major, self.minor) >= (1, 24)


MODELLED = tuple(sorted(GoVersion.parse(v) for v in _GENERATED))
NEWEST = MODELLED[-1]
MIN_MODELLED = MODELLED[0]


def generated_release(v: GoVersion) -> str:
    """The generated toolchain version whose tables stand for ``v`` (same minor release, else the nearest older)."""
    same_minor = [m for m in MODELLED if (m.major, m.minor) == (v.major, v.minor)]
    if same_minor:
        return str(same_minor[-1])
    older = [m for m in MODELLED if m <= v]
    if not older:
        raise UsageError(f"Go {v} is older than the oldest modelled release {MIN_MODELLED}")
    return str(older[-1])
