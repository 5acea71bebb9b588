"""A safe gdb/MI session: the only module that talks to gdb (through pygdbmi).

Safety rules this module enforces, because the inspected process may be a
production service and the inspected binary is untrusted input:

- gdb starts with ``--nx`` (no init files) and ``set auto-load off`` given with
  ``-iex``, i.e. before any file is loaded: a binary's ``.debug_gdb_scripts``
  (or any ``*-gdb.py`` beside it) is never run.
- Every command carries a token and a deadline; a gdb that does not answer in
  time is killed (its whole process group) and the caller gets one sentence.
- A live target is attached only inside :meth:`GdbSession.attached`, which
  always detaches: on success, on error, on timeout, and on SIGINT/SIGTERM
  (the signal is turned into :class:`Interrupted` *after* detaching).
- No command here writes target memory or calls target functions, and while a
  live process is attached :meth:`GdbSession.command` refuses everything but an
  allowlist of reads (``_ALLOWED_WHILE_ATTACHED``): no expression evaluation,
  no ``call``, no ``set var``, no execution control can reach a live target.
- gdb runs in its own session, so a Ctrl-C on the terminal reaches goinspect
  (which detaches) rather than gdb (which would stop mid-command).

``verbose=True`` copies the MI transcript (commands and parsed records) to stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from pygdbmi.IoManager import IoManager

from goinspect.errors import GoinspectError

#: gdb-side helpers (``gdb_scripts/goinspect_gdb.py``), loaded explicitly with ``source``.
def _gdb_script() -> Path:
    """The top-level gdb_scripts/ ships as the package ``goinspect.gdb_scripts`` (pyproject.toml);
    a source checkout on ``sys.path`` (editable install) has only the directory itself."""
    try:
        return Path(str(resources.files("goinspect.gdb_scripts") / "goinspect_gdb.py"))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "gdb_scripts" / "goinspect_gdb.py"


GDB_SCRIPT = _gdb_script()

_START_TIMEOUT_S = 20.0

#: The only MI commands sent while a live process is attached: attaching, reads of memory, DWARF queries, detaching,
#: and gcore (which only reads). Prefix match on the command text.
_ALLOWED_WHILE_ATTACHED = (
    "-target-attach ",
    "-target-detach",
    "-data-read-memory-bytes ",
    "-goinspect-",
    '-interpreter-exec console "gcore ',
    "-gdb-exit",
)


class GdbError(GoinspectError):
    """gdb itself failed: missing, too old, died, or did not answer in time."""


class GdbCommandError(GoinspectError):
    """A command got an ``^error`` record; ``gdb_message`` is gdb's own text, for callers to translate."""

    def __init__(self, message: str, gdb_message: str) -> None:
        super().__init__(message)
        self.gdb_message = gdb_message


class Interrupted(GoinspectError):
    """SIGINT/SIGTERM arrived while a live target was attached; it has been detached."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; the target process was detached and left running.")
        self.exit_code = 128 + signum


class GdbSession:
    """One gdb process driven over MI; use as a context manager (``close`` kills gdb)."""

    def __init__(self, *, verbose: bool = False, timeout: float = 30.0, gdb: str = "gdb") -> None:
        self.verbose = verbose
        self.timeout = timeout
        self._token = 0
        self._attached_pid: int | None = None
        self._detaching = False
        cmd = [gdb, "--nx", "--nh", "-q", "--interpreter=mi3",
               "-iex", "set auto-load off",
               "-iex", "set auto-load safe-path /nonexistent/goinspect-trusts-nothing",
               "-iex", "set debuginfod enabled off",
               "-iex", "set confirm off",
               "-iex", "set pagination off",
               "-iex", "set width 0"]
        self._log("$ " + " ".join(cmd))
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError:
            raise GdbError(f"gdb is not installed (no {gdb!r} on PATH); goinspect needs gdb >= 13 to read processes and cores.") from None
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        self._io = IoManager(self._proc.stdin, self._proc.stdout, self._proc.stderr,
                             time_to_check_for_additional_output_sec=0.0005)
        try:
            self._load_script()
        except BaseException:
            self.close()
            raise

    # -- commands ----------------------------------------------------------------

    def command(self, mi: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Run one MI command; return its ``^done`` payload (or ``{}``).

        Raises :class:`GdbCommandError` on ``^error``; on timeout gdb is killed
        and :class:`GdbError` raised, so a hung gdb never hangs goinspect.
        """
        self._require_running()
        if self._attached_pid is not None and not mi.startswith(_ALLOWED_WHILE_ATTACHED):
            raise GdbError(f"refusing to send '{_short(mi)}' to gdb while process {self._attached_pid} is attached "
                           "(only reads are allowed).")
        self._token += 1
        token = self._token
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._log(f"> {token}{mi}")
        try:
            self._io.write(f"{token}{mi}", read_response=False, timeout_sec=5)
        except (OSError, ValueError):
            raise self._died(mi) from None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise GdbError(f"gdb did not answer '{_short(mi)}' within {self.timeout if timeout is None else timeout:g} s and was stopped.")
            try:
                records = self._io.get_gdb_response(timeout_sec=min(left, 0.5), raise_error_on_timeout=False)
            except (OSError, ValueError):
                raise self._died(mi) from None
            if not records and self._proc.poll() is not None:
                raise self._died(mi)
            for rec in records:
                self._log_record(rec)
                if rec.get("type") != "result" or rec.get("token") != token:
                    continue
                if rec.get("message") == "error":
                    msg = (rec.get("payload") or {}).get("msg", "unknown error")
                    raise GdbCommandError(f"gdb could not run '{_short(mi)}': {msg}", msg)
                payload = rec.get("payload")
                return payload if isinstance(payload, dict) else {}

    def json_command(self, mi: str, *, timeout: float | None = None) -> Any:
        """Run one of the ``-goinspect-*`` commands of ``gdb_scripts/goinspect_gdb.py``; return its JSON answer."""
        import json

        return json.loads(self.command(mi, timeout=timeout)["json"])

    def load_file(self, path: Path | str) -> None:
        """Load an executable's symbols and DWARF (auto-loading is already off)."""
        self.command(f"-file-exec-and-symbols {_quote(str(path))}")

    def load_core(self, core: Path | str) -> None:
        self.command("-interpreter-exec console " + _quote(f"core-file {core}"))

    def read_memory(self, addr: int, size: int) -> bytes | None:
        """Bytes at ``addr`` through ``-data-read-memory-bytes``; None unless all ``size`` bytes were read."""
        try:
            payload = self.command(f"-data-read-memory-bytes {addr:#x} {size}")
        except GdbCommandError:
            return None
        blocks = payload.get("memory") or []
        if len(blocks) != 1:
            return None
        block = blocks[0]
        if int(block.get("begin", "0"), 16) != addr or int(block.get("offset", "0"), 16) != 0:
            return None
        data = bytes.fromhex(block.get("contents", ""))
        return data if len(data) == size else None

    def dump_core(self, path: Path | str, *, timeout: float = 120.0) -> None:
        """Write a core of the attached process (gdb's ``gcore``: it only reads the target's memory)."""
        self.command("-interpreter-exec console " + _quote(f"gcore {path}"), timeout=timeout)

    # -- live targets --------------------------------------------------------------

    @contextmanager
    def attached(self, pid: int) -> Iterator[None]:
        """Attach to ``pid`` (stopping it) for the block; always detach, also on SIGINT/SIGTERM."""
        interrupted: list[int] = []

        def on_signal(signum: int, _frame: Any) -> None:
            interrupted.append(signum)
            if not self._detaching:
                raise Interrupted(signum)

        in_main = _in_main_thread()
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
        try:
            try:
                self._attached_pid = pid  # set first: a signal or timeout mid-attach must still detach
                try:
                    self.command(f"-target-attach {pid}")
                except GdbCommandError:
                    self._attached_pid = None  # gdb says it did not attach: nothing to detach
                    raise
                yield
            finally:
                self._detaching = True
                try:
                    self.detach()
                finally:
                    self._detaching = False
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        if interrupted:
            raise Interrupted(interrupted[0])

    def detach(self) -> None:
        """Detach from the live target if attached; if gdb cannot, kill gdb (the kernel then detaches)."""
        pid, self._attached_pid = self._attached_pid, None
        if pid is None:
            return
        if self._proc.poll() is None:
            try:
                self.command("-target-detach", timeout=10.0)
                return
            except GoinspectError:
                self._kill()
        _resume_if_stopped(pid)

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Detach, then end gdb; idempotent."""
        try:
            self.detach()
        except GoinspectError:
            pass
        if self._proc.poll() is None:
            try:
                self._io.write("-gdb-exit", read_response=False, timeout_sec=1)
                self._proc.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self._kill()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> "GdbSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """gdb's own process id."""
        return self._proc.pid

    @property
    def attached_pid(self) -> int | None:
        """The live process gdb is attached to (stopped), if any."""
        return self._attached_pid

    # -- internals -----------------------------------------------------------------

    def _load_script(self) -> None:
        """Source ``gdb_scripts/goinspect_gdb.py``; its MI commands need gdb >= 13 (``gdb.MICommand``)."""
        try:
            self.command("-interpreter-exec console " + _quote(f"source {GDB_SCRIPT}"), timeout=_START_TIMEOUT_S)
        except GdbCommandError as exc:
            if "MICommand" in exc.gdb_message or "Python scripting is not supported" in exc.gdb_message:
                raise GdbError("this gdb cannot run goinspect's helpers: goinspect needs gdb >= 13 built with Python.") from None
            raise GdbError(f"gdb could not load {GDB_SCRIPT}: {exc.gdb_message}") from None
        probe = self.command("-info-gdb-mi-command goinspect-info", timeout=_START_TIMEOUT_S)
        if (probe.get("command") or {}).get("exists") != "true":
            raise GdbError("this gdb cannot run goinspect's helpers: goinspect needs gdb >= 13 built with Python.")

    def _require_running(self) -> None:
        if self._proc.poll() is not None:
            raise GdbError(f"gdb is not running (it exited with status {self._proc.returncode}).")

    def _died(self, mi: str) -> GdbError:
        status = self._proc.poll()
        err = b""
        try:
            if self._proc.stderr is not None:
                err = self._proc.stderr.read() or b""
        except (OSError, ValueError):
            pass
        detail = err.decode(errors="replace").strip().splitlines()
        why = f": {detail[-1]}" if detail else ""
        self._kill()
        return GdbError(f"gdb exited (status {status}) while running '{_short(mi)}'{why}.")

    def _kill(self) -> None:
        """Kill gdb's process group (gdb and anything it started); the kernel detaches a traced target."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self._proc.kill()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._attached_pid is not None:
            pid, self._attached_pid = self._attached_pid, None
            _resume_if_stopped(pid)

    def _log(self, line: str) -> None:
        if self.verbose:
            print(f"goinspect: gdb {line}", file=sys.stderr, flush=True)

    def _log_record(self, rec: dict[str, Any]) -> None:
        if not self.verbose:
            return
        payload = rec.get("payload")
        text = repr(payload)
        if len(text) > 400:
            text = text[:400] + f"... ({len(text)} chars)"
        token = rec.get("token")
        self._log(f"< {rec.get('type')} {'' if token is None else token} {rec.get('message') or ''} {text}")


def _resume_if_stopped(pid: int) -> None:
    """If a dead tracer left ``pid`` in a group-stop, send SIGCONT so the target keeps running."""
    if process_state(pid) in ("T", "t"):
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass


def process_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` from ``/proc/PID/stat`` (R, S, T, t, Z, ...), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:][:1]


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _quote(text: str) -> str:
    """An MI c-string argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _short(mi: str) -> str:
    return mi if len(mi) <= 80 else mi[:77] + "..."


__all__ = ["GDB_SCRIPT", "GdbCommandError", "GdbError", "GdbSession", "Interrupted", "process_state"]
