"""Go's ``math.Exp`` on amd64, bit for bit.

pprof scales every sampled heap value by ``1/(1-exp(-avg/rate))`` and truncates
the product to an integer, so an exp that differs from Go's in the last bit
(libm's does, for about 0.2% of inputs) changes totals by a byte here and
there. This mirrors ``math/exp_amd64.s`` (Shibata's method): argument
reduction by ln 2, a Taylor polynomial on x/16, four squarings. The assembly
takes a fused multiply-add path when the CPU has AVX and FMA
(``math/exp_amd64.go: useFMA``); Python 3.11 has no ``fma``, so that path
computes each fused step exactly with ``Fraction`` and rounds once. Values are
memoized: a heap profile has few distinct block sizes. On other architectures
Go's assembly differs and numpy's exp is used instead.
"""

from __future__ import annotations

import platform
import struct
from fractions import Fraction
from functools import lru_cache

import numpy as np

_LOG2E = 1.4426950408889634073599246810018920
_LN2U = 0.69314718055966295651160180568695068359375
_LN2L = 0.28235290563031577122588448175013436025525412068e-12
_OVERFLOW = 7.09782712893384e02
# exprodata in exp_amd64.s: 1/2, 1, 2, then 1/3! ... 1/8!
_HALF, _ONE, _TWO = 0.5, 1.0, 2.0
_C = [
    2.4801587301587301587e-5,
    1.9841269841269841270e-4,
    1.3888888888888888889e-3,
    8.3333333333333333333e-3,
    4.1666666666666666667e-2,
    1.6666666666666666667e-1,
]


def _fma(a: float, b: float, c: float) -> float:
    """a*b + c rounded once (correct rounding: int/int true division is correctly rounded)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def _bits_to_float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]


def _cpu_has_fma() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "avx" in flags and "fma" in flags
    except OSError:
        pass
    return False


IS_AMD64 = platform.machine().lower() in ("x86_64", "amd64")
USE_FMA = IS_AMD64 and _cpu_has_fma()


@lru_cache(maxsize=1 << 16)
def go_exp(x: float, fma: bool = USE_FMA) -> float:
    """``math.Exp(x)`` as Go computes it on amd64 (finite ``x``)."""
    if x != x or x == float("inf"):
        return x
    if x == float("-inf"):
        return 0.0
    if x > _OVERFLOW:
        return float("inf")
    k = round(x * _LOG2E)  # CVTSD2SL: round half to even, as Python's round
    kf = float(k)
    if fma:
        x = _fma(-kf, _LN2U, x)
        x = _fma(-kf, _LN2L, x)
        x *= 0.0625
        p = _C[0]
        for c in _C[1:] + [_HALF, _ONE]:
            p = _fma(p, x, c)
        x = p * x
        for _ in range(3):
            x = x * (x + _TWO)
        x = _fma(x, x + _TWO, _ONE)
    else:
        x = x - kf * _LN2U
        x = x - kf * _LN2L
        x *= 0.0625
        p = _C[0] * x
        for c in _C[1:] + [_HALF]:
            p = (p + c) * x
        p = p + _ONE
        x = p * x
        for _ in range(4):
            x = x * (x + _TWO)
        x = x + _ONE
    e = k + 0x3FF
    if e >= 0x7FF:
        return float("inf")
    if e <= 0:
        if e < -52:
            return 0.0
        x *= _bits_to_float((e + 0x3FE) << 52)
        e = 1
    return x * _bits_to_float(e << 52)


def exp(values: np.ndarray) -> np.ndarray:
    """Elementwise exp matching Go's on this machine (amd64); numpy's elsewhere."""
    values = np.asarray(values, dtype=np.float64)
    if not IS_AMD64:
        return np.exp(values)
    uniq, inverse = np.unique(values, return_inverse=True)
    out = np.fromiter((go_exp(float(v)) for v in uniq), dtype=np.float64, count=len(uniq))
    return out[inverse].reshape(values.shape)
