"""Run a fleet-style Go service as a child process and talk to it over loopback HTTP.

A fleet program prints ``LISTEN 127.0.0.1:PORT`` as its first stdout line, then
serves ``/advance``, ``/truth``, ``/gc`` and ``/debug/pprof/*``. The child gets
its own session (so a Ctrl-C aimed at pytest does not hit it first) and is
always killed *by its PID*: on ``__exit__``, when start-up fails half-way, and
from an ``atexit`` hook for anything still alive. As a last line of defence
its stdin is a pipe from us: the program exits by itself when that pipe closes,
which the kernel does even if this Python process is SIGKILLed.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goinspect.errors import ToolchainError

_LIVE: dict[int, "GoService"] = {}
# Loopback only: never route a request to our own child through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LIVE_LOCK = threading.Lock()
_TERM_GRACE_S = 3.0


def _kill_all_live() -> None:
    """atexit safety net: no child outlives the Python process that started it."""
    with _LIVE_LOCK:
        services = list(_LIVE.values())
    for service in services:
        service.close()


atexit.register(_kill_all_live)


class GoService:
    """A running Go service; use as a context manager so it is always killed.

    ``env`` is added to (not substituted for) the current environment, e.g.
    ``{"GODEBUG": "memprofilerate=1"}``.
    """

    def __init__(
        self,
        exe: Path | str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        start_timeout: float = 30.0,
    ) -> None:
        self.exe = Path(exe)
        self.args = tuple(args)
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.pid: int | None = None
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._stdout_tail: collections.deque[bytes] = collections.deque(maxlen=64)

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> "GoService":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the program and wait for its ``LISTEN`` line; on any failure the child is killed first."""
        if self._proc is not None:
            raise ToolchainError(f"{self.exe.name} was already started (pid {self.pid}).")
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                [str(self.exe), *self.args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        except OSError as exc:
            self._stderr.close()
            raise ToolchainError(f"Could not start {self.exe} ({exc.strerror or exc}).") from None
        self.pid = self._proc.pid
        with _LIVE_LOCK:
            _LIVE[self.pid] = self
        try:
            address = self._read_listen_line()
        except BaseException:
            self.close()
            raise
        self.base_url = f"http://{address}"
        threading.Thread(target=self._drain_stdout, name=f"drain-{self.pid}", daemon=True).start()

    def _read_listen_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ToolchainError(
                        f"{self.exe.name} (pid {self.pid}) printed no LISTEN line within "
                        f"{self.start_timeout:g} s{self._stderr_suffix()}"
                    )
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self._proc.wait(timeout=_TERM_GRACE_S)
                    raise ToolchainError(
                        f"{self.exe.name} exited with status {code} before listening{self._stderr_suffix()}"
                    )
                buf += chunk
        line, _, rest = buf.partition(b"\n")
        if rest:
            self._stdout_tail.append(rest)
        text = line.decode(errors="replace").strip()
        if not text.startswith("LISTEN "):
            raise ToolchainError(
                f"{self.exe.name} printed {text[:80]!r} instead of 'LISTEN host:port'{self._stderr_suffix()}"
            )
        return text.split(None, 1)[1]

    def _drain_stdout(self) -> None:
        """Keep reading stdout so a chatty program can never block on a full pipe."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        try:
            for chunk in iter(lambda: proc.stdout.read1(4096), b""):  # type: ignore[union-attr]
                self._stdout_tail.append(chunk)
        except (OSError, ValueError):
            pass

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` bytes the program wrote to stderr (for error messages)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode(errors="replace")

    def _stderr_suffix(self) -> str:
        tail = " | ".join(line for line in self.stderr_tail(600).strip().splitlines()[-4:] if line.strip())
        return f"; its stderr ends: {tail}" if tail else "."

    def close(self) -> None:
        """Stop the program by PID: close stdin, SIGTERM, then SIGKILL after a grace period; reap it."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                try:
                    if proc.stdin is not None:
                        proc.stdin.close()
                except OSError:
                    pass
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=_TERM_GRACE_S)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=_TERM_GRACE_S * 3)
                except ProcessLookupError:
                    pass
            else:
                proc.wait()
        finally:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
            if self._stderr is not None and not self._stderr.closed:
                self._stderr.close()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    # -- HTTP ----------------------------------------------------------------------

    def get(self, path: str, timeout: float = 60.0) -> bytes:
        """GET ``path`` (e.g. ``/debug/pprof/heap?debug=1``) from the service and return the body."""
        if not self.base_url:
            raise ToolchainError(f"{self.exe.name} is not running; start it before GET {path}.")
        url = self.base_url + path
        try:
            with _OPENER.open(url, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace").strip()[:200]
            raise ToolchainError(f"GET {url} answered HTTP {exc.code}: {body}") from None
        except (urllib.error.URLError, OSError) as exc:
            state = "running" if self.alive else f"exited with status {self.returncode}"
            raise ToolchainError(
                f"GET {url} failed ({getattr(exc, 'reason', exc)}); {self.exe.name} {state}{self._stderr_suffix()}"
            ) from None

    def get_json(self, path: str, timeout: float = 60.0) -> dict[str, Any]:
        data = self.get(path, timeout=timeout)
        try:
            return json.loads(data)
        except ValueError:
            raise ToolchainError(f"GET {path} from {self.exe.name} did not return JSON: {data[:80]!r}") from None

    def advance(self, steps: int = 1, timeout: float = 120.0) -> dict[str, Any]:
        """Run ``steps`` deterministic steps of the program; returns its ground truth afterwards."""
        return self.get_json(f"/advance?steps={int(steps)}", timeout=timeout)

    def truth(self) -> dict[str, Any]:
        """The program's own account of its maps and slices (lengths and runtime headers read via unsafe)."""
        return self.get_json("/truth")

    def gc(self) -> None:
        """Run ``runtime.GC()`` in the program, so in-use heap figures reflect its current state."""
        self.get("/gc")

    def heap_profile(self, debug: int = 0, timeout: float = 120.0) -> bytes:
        """The heap profile (gzip protobuf for ``debug=0``, legacy text for ``debug=1``) after a forced GC."""
        self.gc()
        return self.get(f"/debug/pprof/heap?debug={int(debug)}", timeout=timeout)
