"""Turn a profile named by the user (path, '-' or URL) into a ``Profile``.

The one place that decides between the two encodings: gzip'd or raw
``profile.proto``, and the legacy ``?debug=1`` text form. The proto form is
decoded as a stream from the compressed bytes, so the uncompressed profile is
never held whole.
"""

from __future__ import annotations

from goinspect.profile import decode, legacy, source
from goinspect.profile.model import Profile

DEFAULT_TIMEOUT = 30.0


def load_profile(spec: str, *, exe: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Profile:
    stream = source.open_source(spec, timeout=timeout)
    if legacy.looks_like_text(stream.head(256)):
        return legacy.parse(stream.read(), exe=exe, name=spec)
    return decode.decode_stream(stream, name=spec)
