"""Run a user's program for ``goinspect ci``: start it, wait until it is ready, kill it — group and all.

Unlike ``GoService`` (the test fleet's harness, which knows the fleet's
``LISTEN`` line), this runs *any* program: readiness is a regular expression
on its output lines and/or a URL that must answer. The program gets its own
process group and session, so the group can be killed as a whole (helpers it
forked included) and a Ctrl-C at the terminal reaches goinspect first, which
then kills it. Exit paths covered: normal end, errors, Ctrl-C, SIGTERM/SIGHUP
(turned into KeyboardInterrupt by ``signals_interrupt``) and, as a last resort,
goinspect itself being SIGKILLed (``PR_SET_PDEATHSIG`` in the child). The
leader is never reaped before the group is swept, so its pid (= the group id)
cannot be reused by an unrelated process in between.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from goinspect.errors import InputError, ToolchainError

# Loopback/readiness checks never go through an HTTP(S)_PROXY from the environment.
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_PR_SET_PDEATHSIG = 1
_PR_SET_PTRACER = 0x59616D61  # Yama: let this pid (and its descendants, e.g. our gdb) ptrace the child
_TERM_GRACE_S = 3.0
_POLL_S = 0.02
_MAX_LINE = 1 << 16


@dataclass(frozen=True)
class Readiness:
    """When a started program counts as ready: a matching output line, then a URL that answers (either optional).

    ``url`` may name the line's regex groups as ``{group}`` (e.g. ``http://{addr}/healthz``),
    filled from the line that matched.
    """

    line: re.Pattern[str] | None = None
    url: str | None = None
    timeout: float = 30.0


def check_executable(exe: str) -> Path:
    """The program path, or InputError saying why it cannot be run."""
    path = Path(exe)
    if not path.exists():
        raise InputError(f"{exe}: no such file")
    if path.is_dir():
        raise InputError(f"{exe} is a directory, not a program")
    if not os.access(path, os.X_OK):
        raise InputError(f"{exe} is not executable (chmod +x it)")
    return path.absolute()  # a bare name ("server") means the file here, not one found on $PATH


def _child_setup(parent: int, prctl) -> None:  # runs in the child between fork and exec
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # goinspect died before the death signal was armed
        os._exit(1)
    prctl(_PR_SET_PTRACER, parent, 0, 0, 0)  # EINVAL without Yama: harmless


class Program:
    """A started program; use as a context manager (``with Program(...) as p: p.wait_ready()``) so it is always killed.

    ``log`` receives the program's stdout and stderr lines as they come
    (None: only the last lines are kept, for error messages).
    """

    def __init__(self, exe: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 log: BinaryIO | None = None, readiness: Readiness = Readiness()) -> None:
        self.exe = Path(exe)
        self.args = tuple(args)
        self.env = dict(env or {})
        self.log = log
        self.readiness = readiness
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()
        self._matched: re.Match[str] | None = None
        self._ready = threading.Event()
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> "Program":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Start the program in its own session (process group = its pid); output is read by two threads."""
        prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
        parent = os.getpid()
        try:
            self._proc = subprocess.Popen(
                [str(self.exe), *self.args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, **self.env}, start_new_session=True,
                preexec_fn=(lambda: _child_setup(parent, prctl)) if prctl else None,
            )
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                raise InputError(f"{self.exe} is not a program this machine can run (no #! line, or "
                                 f"another architecture).") from None
            raise ToolchainError(f"could not start {self.exe} ({exc.strerror or exc}).") from None
        self.pid = self._proc.pid
        for stream in (self._proc.stdout, self._proc.stderr):
            t = threading.Thread(target=self._read, args=(stream,), name=f"output-{self.pid}", daemon=True)
            t.start()
            self._readers.append(t)

    def _read(self, stream: BinaryIO) -> None:
        """Copy the program's lines to the log, keep the last few, and watch for the ready line."""
        try:
            for raw in iter(lambda: stream.readline(_MAX_LINE), b""):  # a line without end is cut, not hoarded
                text = raw.decode(errors="replace").rstrip("\r\n")
                with self._lock:
                    self._tail.append(text[:400])
                    if self.log is not None:
                        try:
                            self.log.write(raw if raw.endswith(b"\n") else raw + b"\n")
                            self.log.flush()
                        except (OSError, ValueError):
                            self.log = None
                    if self.readiness.line is not None and self._matched is None:
                        m = self.readiness.line.search(text)
                        if m is not None:
                            self._matched = m
                            self._ready.set()
        except (OSError, ValueError):
            pass

    def exit_status(self) -> int | None:
        """The program's exit status (negative: killed by that signal), None while it runs."""
        return None if self._proc is None else _status(self._proc)

    def wait_ready(self) -> dict[str, str]:
        """Block until the program is ready; returns the ready line's named groups. Errors name the cause."""
        readiness = self.readiness
        deadline = time.monotonic() + readiness.timeout
        groups: dict[str, str] = {}
        if readiness.line is not None:
            while not self._ready.wait(_POLL_S * 5):
                self._check_alive("printed a line matching --ready-line")
                if time.monotonic() > deadline:
                    raise ToolchainError(
                        f"{self.exe.name} (pid {self.pid}) printed no line matching {readiness.line.pattern!r} "
                        f"within {readiness.timeout:g} s{self.output_suffix()}")
            assert self._matched is not None
            groups = {k: v for k, v in self._matched.groupdict().items() if v is not None}
        if readiness.url is not None:
            url = fill_placeholders(readiness.url, groups, "--ready-url")
            wait_for_url(url, deadline, readiness.timeout, alive=lambda: self._check_alive(f"answered {url}"))
        return groups

    def _check_alive(self, what: str) -> None:
        status = self.exit_status()
        if status is not None:
            # Let the readers take the last lines, which usually say why it stopped.
            for t in self._readers:
                t.join(timeout=0.5)
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            raise ToolchainError(f"{self.exe.name} (pid {self.pid}) {how} before it {what}{self.output_suffix()}")

    def output_suffix(self) -> str:
        """'; its output ends: ...' with the program's last lines, for error messages (one line)."""
        with self._lock:
            lines = [line.strip() for line in self._tail if line.strip()][-4:]
        return f"; its output ends: {' | '.join(lines)[-400:]}" if lines else "."

    def close(self) -> None:
        """SIGTERM the whole group, SIGKILL it after a grace period (and any member left), then reap the leader."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        with _signals_held():
            self._stop(proc)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        pgid = proc.pid  # start_new_session: the leader's pid is the group id
        try:
            if _status(proc) is None:
                _signal_group(pgid, signal.SIGTERM)
                deadline = time.monotonic() + _TERM_GRACE_S
                while _status(proc) is None and time.monotonic() < deadline:
                    time.sleep(_POLL_S)
            # The leader is not reaped yet, so pgid still names this group only: sweep every member.
            _signal_group(pgid, signal.SIGKILL)
        finally:
            proc.wait()
            for t in self._readers:
                t.join(timeout=1.0)
            for stream in (proc.stdout, proc.stderr):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass


def _status(proc: subprocess.Popen[bytes]) -> int | None:
    """Exit status of ``proc`` (negative: its signal), None while it runs -- without reaping it (WNOWAIT)."""
    if proc.returncode is not None:
        return proc.returncode
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def fill_placeholders(template: str, groups: Mapping[str, str], option: str) -> str:
    """``template`` with each ``{name}`` replaced by the ready line's named group of that name."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in groups:
            raise InputError(f"{option} uses {{{name}}}, but the --ready-line match has no group {name!r}")
        return groups[name]
    return _PLACEHOLDER.sub(repl, template)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str | None) -> set[str]:
    """The ``{name}`` placeholders in a URL template."""
    return set(_PLACEHOLDER.findall(template or ""))


def wait_for_url(url: str, deadline: float, timeout: float, alive=lambda: None) -> None:
    """Poll ``url`` until it answers 2xx/3xx; ``alive()`` raises if the program died meanwhile."""
    last = "no answer"
    while True:
        alive()
        left = deadline - time.monotonic()
        if left <= 0:
            raise ToolchainError(f"{url} did not answer within {timeout:g} s ({last}).")
        try:
            with NO_PROXY_OPENER.open(url, timeout=min(2.0, max(0.1, left))) as resp:
                resp.read()
                return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _signals_held() -> Iterator[None]:
    """A Ctrl-C or SIGTERM arriving during the block is held until its end, so a clean-up is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append(signum)) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if arrived:
        raise KeyboardInterrupt


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt for the block, so a cancelled CI job runs the cleanups.

    SIGINT too: a process started in the background by a non-interactive shell inherits it ignored,
    and Python then installs no handler of its own.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
