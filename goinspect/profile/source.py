"""Read the bytes of a profile from a path, ``-`` (stdin) or an ``http(s)://`` URL.

The result is always the *decompressed* profile: gzip (what Go serves) is
inflated here, incrementally and with a cap on the output, so a gzip bomb
fails with a clear error instead of eating the machine. A URL gets one
overall deadline, not just per-socket timeouts, so a server that accepts and
never answers, or trickles a byte at a time, is cut off all the same.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from goinspect.errors import InputError, ProfileError

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB of decompressed profile
MAX_BYTES_ENV = "GOINSPECT_MAX_PROFILE_BYTES"
_READ_CHUNK = 1 << 20
_INFLATE_CHUNK = 1 << 20


def max_profile_bytes() -> int:
    """The largest decompressed profile goinspect accepts (env ``GOINSPECT_MAX_PROFILE_BYTES``)."""
    raw = os.environ.get(MAX_BYTES_ENV, "")
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{MAX_BYTES_ENV}={raw!r} is not a whole number of bytes") from None
    if value <= 0:
        raise InputError(f"{MAX_BYTES_ENV}={raw!r} must be a positive number of bytes")
    return value


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


@dataclass(frozen=True)
class ProfileStream:
    """A profile as read (gzip'd or plain), decompressed on demand, as often as needed.

    Keeping the *compressed* bytes and inflating chunk by chunk lets the
    decoder build its columns without ever holding the whole uncompressed
    profile (a 70 MB profile is ~6 MB of gzip).
    """

    name: str
    raw: bytes
    limit: int

    @property
    def gzipped(self) -> bool:
        return self.raw.startswith(GZIP_MAGIC)

    def chunks(self) -> Iterator[bytes]:
        """The decompressed profile in pieces of a few MiB (the whole thing if it was not compressed)."""
        if self.gzipped:
            # Small input slices: zlib copies the unconsumed input on every call otherwise.
            view = memoryview(self.raw)
            pieces = (view[i:i + _READ_CHUNK // 4] for i in range(0, len(view), _READ_CHUNK // 4))
            yield from inflate(pieces, name=self.name, limit=self.limit)
        elif self.raw:
            yield self.raw

    def head(self, size: int) -> bytes:
        """The first ``size`` decompressed bytes (fewer if the profile is shorter)."""
        out = b""
        for chunk in self.chunks():
            out += bytes(chunk[: size - len(out)])
            if len(out) >= size:
                break
        return out

    def read(self) -> bytes:
        """The whole decompressed profile; ProfileError if it is empty."""
        if self.gzipped:
            out = bytearray()
            for chunk in self.chunks():
                out += chunk  # bytearray grows in place (realloc), no second full copy
            data = bytes(out) if len(out) < (64 << 20) else _freeze(out)
        else:
            data = self.raw
        if not data:
            raise ProfileError(f"{self.name} is empty: no profile data")
        return data


def open_source(spec: str, timeout: float) -> ProfileStream:
    """Read the profile named by ``spec`` (path, ``-`` or URL) without decompressing it yet."""
    limit = max_profile_bytes()
    raw = _read_raw(spec, timeout, limit)
    return ProfileStream(name="standard input" if spec == "-" else spec, raw=raw, limit=limit)


def read_source(spec: str, timeout: float) -> bytes:
    """The decompressed bytes of the profile named by ``spec`` (path, ``-`` or URL)."""
    return open_source(spec, timeout).read()


def _freeze(buf: bytearray) -> bytes:
    """bytes with the content of a large bytearray, without holding two full copies for long.

    ``bytes(buf)`` would need 2x the memory at once; copying through a list of
    slices while shrinking ``buf`` from the end keeps the overlap to one slice.
    """
    parts: list[bytes] = []
    step = 16 << 20
    while buf:
        cut = max(0, len(buf) - step)
        parts.append(bytes(buf[cut:]))
        del buf[cut:]
    parts.reverse()
    return b"".join(parts)


def inflate(chunks: Iterable[bytes], *, name: str, limit: int) -> Iterator[bytes]:
    """Decompress gzip data (possibly several members) arriving in ``chunks``.

    Yields decompressed pieces of at most a few MiB; raises InputError when
    the output would exceed ``limit`` bytes and ProfileError when the data is
    corrupt or ends before the gzip trailer.
    """
    total = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    member_done = False
    for chunk in chunks:
        pending = chunk
        while pending:
            if member_done:
                if not bytes(pending[:2]).startswith(GZIP_MAGIC[: len(pending)]):
                    return  # trailing garbage after a complete member: ignore it, as gzip(1) does
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                member_done = False
            try:
                out = inflater.decompress(pending, min(_INFLATE_CHUNK, limit - total + 1))
            except zlib.error as e:
                raise ProfileError(f"{name} has corrupt gzip data ({e})") from None
            total += len(out)
            if total > limit:
                raise InputError(
                    f"{name} decompresses to more than {limit} bytes; refusing it "
                    f"(raise {MAX_BYTES_ENV} if the profile is genuinely that large)"
                )
            if out:
                yield out
            if inflater.eof:
                member_done = True
                pending = inflater.unused_data
            else:
                pending = inflater.unconsumed_tail
    if not member_done:
        # Drain what zlib still buffers, then insist on the trailer.
        try:
            out = inflater.flush()
        except zlib.error as e:
            raise ProfileError(f"{name} has corrupt gzip data ({e})") from None
        total += len(out)
        if total > limit:
            raise InputError(f"{name} decompresses to more than {limit} bytes; refusing it")
        if out:
            yield out
        if not inflater.eof:
            raise ProfileError(f"{name} is truncated: the gzip stream ends before its end marker")


def _read_raw(spec: str, timeout: float, limit: int) -> bytes:
    if spec == "-":
        return _read_stream(sys.stdin.buffer, "standard input", limit)
    if is_url(spec):
        return _fetch_url(spec, timeout, limit)
    try:
        with open(spec, "rb") as f:
            return _read_stream(f, spec, limit)
    except FileNotFoundError:
        raise InputError(f"{spec}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{spec} is a directory, not a profile file") from None
    except PermissionError:
        raise InputError(f"{spec}: permission denied") from None
    except OSError as e:
        raise InputError(f"{spec} could not be read: {e.strerror or e}") from None


def _read_stream(f, name: str, limit: int) -> bytes:
    # The raw (possibly compressed) input may not exceed the decompressed cap either.
    data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{name} is larger than {limit} bytes; refusing it (see {MAX_BYTES_ENV})")
    return data


def _fetch_url(url: str, timeout: float, limit: int) -> bytes:
    """GET ``url`` within ``timeout`` seconds overall.

    The request runs on a daemon thread: whatever the server does (hang after
    accept, trickle headers, stall mid-body), the caller gets its answer or an
    error when the deadline passes.
    """
    result: dict[str, object] = {}
    stop = threading.Event()

    def worker() -> None:
        try:
            result["data"] = _get(url, timeout, limit, stop)
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    thread = threading.Thread(target=worker, name="goinspect-fetch", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        stop.set()
        raise InputError(f"{url} did not deliver a profile within {timeout:g} seconds (see --timeout)")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["data"]  # type: ignore[return-value]


def _get(url: str, timeout: float, limit: int, stop: threading.Event) -> bytes:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": "goinspect", "Accept-Encoding": "identity"})
    try:
        with _opener(url).open(request, timeout=max(timeout, 0.001)) as resp:
            parts: list[bytes] = []
            size = 0
            while not stop.is_set() and time.monotonic() < deadline:
                chunk = resp.read1(_READ_CHUNK)
                if not chunk:
                    return b"".join(parts)
                size += len(chunk)
                if size > limit:
                    raise InputError(f"{url} sent more than {limit} bytes; refusing it (see {MAX_BYTES_ENV})")
                parts.append(chunk)
            raise InputError(f"{url} did not deliver a profile within {timeout:g} seconds (see --timeout)")
    except urllib.error.HTTPError as e:
        raise InputError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise InputError(f"{url} could not be fetched: {_reason(e.reason)}") from None
    except (TimeoutError, socket.timeout):
        raise InputError(f"{url} did not deliver a profile within {timeout:g} seconds (see --timeout)") from None
    except (ConnectionError, OSError) as e:
        raise InputError(f"{url} could not be fetched: {_reason(e)}") from None
    except ValueError as e:  # malformed URL
        raise InputError(f"{url} is not a usable URL: {e}") from None


def _opener(url: str) -> urllib.request.OpenerDirector:
    """urllib's usual opener, except that a loopback URL never goes through an environment proxy
    (a proxy cannot reach this machine's 127.0.0.1)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    loopback = host == "localhost" or host == "::1" or host.startswith("127.")
    return urllib.request.build_opener(urllib.request.ProxyHandler({})) if loopback else urllib.request.build_opener()


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the service running and serving net/http/pprof?)"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[0].lower() + reason.strerror[1:]
    return str(reason)
