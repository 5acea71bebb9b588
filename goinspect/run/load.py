"""Drive load at a program for ``goinspect ci``: N GET requests to one URL, C at a time.

Plain ``urllib`` on a small thread pool: enough to exercise a service between
snapshots (the point is to make it do its work, not to benchmark it). Requests
never go through an HTTP(S)_PROXY from the environment: the program is ours,
usually on loopback.
"""

from __future__ import annotations

import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from goinspect.run.program import NO_PROXY_OPENER


@dataclass
class LoadStats:
    """What the requests sent so far did; ``first_error`` says what went wrong first, if anything did."""

    url: str
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    per_sample: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"url": self.url, "requests": self.requests, "failures": self.failures,
                "seconds": round(self.seconds, 3), "first_error": self.first_error, "per_sample": self.per_sample}


def spread(total: int, parts: int) -> list[int]:
    """``total`` requests over ``parts`` samples as evenly as whole numbers allow, the extra ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _one(url: str, timeout: float) -> str | None:
    """GET ``url`` and read the whole answer; None on 2xx/3xx, else what went wrong."""
    try:
        with NO_PROXY_OPENER.open(url, timeout=timeout) as resp:
            resp.read()
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def drive(stats: LoadStats, count: int, concurrency: int, timeout: float) -> None:
    """Send ``count`` requests to ``stats.url``, at most ``concurrency`` in flight; adds to ``stats``."""
    stats.per_sample.append(count)
    if count <= 0:
        return
    t0 = time.perf_counter()
    workers = max(1, min(concurrency, count))
    if workers == 1:
        outcomes = [_one(stats.url, timeout) for _ in range(count)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load") as pool:
            outcomes = list(pool.map(lambda _: _one(stats.url, timeout), range(count)))
    stats.seconds += time.perf_counter() - t0
    stats.requests += count
    errors = [o for o in outcomes if o is not None]
    stats.failures += len(errors)
    if errors and stats.first_error is None:
        stats.first_error = errors[0]
