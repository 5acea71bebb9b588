"""Values and percentages formatted the way pprof prints them (``internal/measurement``).

Byte counts scale through B, kB, MB, ... (powers of 1024, pprof's names);
counts print as plain integers.
"""

from __future__ import annotations

_BYTE_UNITS = (("B", 1), ("kB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("PB", 1 << 50))
_BYTE_ALIASES = {"b", "byte", "bytes"}


def is_bytes(unit: str) -> bool:
    return unit.lower() in _BYTE_ALIASES


def auto_unit(value: int, unit: str) -> str:
    """The unit pprof's "minimum"/"auto" scaling picks for ``value`` ('' for counts)."""
    if not is_bytes(unit):
        return ""
    best = "B"
    for name, factor in _BYTE_UNITS:
        if abs(value) / factor >= 1.0:
            best = name
    return best


def output_unit(values: list[int], total: int, unit: str) -> str:
    """One unit for a whole table, chosen like pprof's ``selectOutputUnit``."""
    if not is_bytes(unit):
        return ""
    nonzero = [abs(v) for v in values if v]
    lo = min(nonzero) if nonzero else abs(total)
    hi = abs(total)
    lo_unit, hi_unit = auto_unit(lo, unit), auto_unit(hi, unit)
    if lo_unit != hi_unit and lo * 100 < hi:
        return auto_unit(100 * lo, unit)
    return lo_unit


def fmt_value(value: int, unit: str, out_unit: str | None = None, signed: bool = False) -> str:
    """``value`` in ``out_unit`` (default: auto-scaled) with at most two decimals, like pprof's ScaledLabel."""
    if not is_bytes(unit):
        s = f"{value:d}"
    else:
        out_unit = out_unit or auto_unit(value, unit)
        factor = dict(_BYTE_UNITS)[out_unit]
        s = f"{value / factor:.2f}".removesuffix(".00")
        s = "0" if s in ("0", "-0") else s + out_unit
    if signed and value > 0:
        s = "+" + s
    return s


def fmt_pct(value: int, total: int) -> str:
    """pprof's Percentage: absolute ratio, two decimals, '100%' near one hundred, %.2g below one."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "100%"
    if ratio >= 1.0:
        return f"{ratio:.2f}%"
    return f"{ratio:.2g}%"


def pct(value: int, total: int) -> float:
    """A percentage for JSON: signed, unrounded."""
    return value / total * 100 if total else 0.0
