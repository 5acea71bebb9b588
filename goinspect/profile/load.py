"""Turn a profile named by the user (path, '-' or URL) into a ``Profile``.

The one place that decides between the two encodings: gzip'd or raw
``profile.proto``, and the legacy ``?debug=1`` text form.
"""

from __future__ import annotations

from goinspect.profile import decode, legacy, source
from goinspect.profile.model import Profile

DEFAULT_TIMEOUT = 30.0


def load_profile(spec: str, *, exe: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Profile:
    data = source.read_source(spec, timeout=timeout)
    if legacy.looks_like_text(data):
        return legacy.parse(data, exe=exe, name=spec)
    return decode.decode(data, name=spec)
