"""Build a Go program once per (Go version, source hash, flags) and keep the binary in the cache.

Tests, benchmarks and the demo all start the same fleet programs many times;
building each once per toolchain keeps a CI run within its time budget. Builds
are hermetic (no network, no cgo, no toolchain switching) and deliberately keep
absolute source paths (no ``-trimpath``): heap profiles and ``profile list``
must be able to find the ``.go`` files the samples point at.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from goinspect.errors import ToolchainError
from goinspect.run.toolchain import Toolchain, cache_dir, file_lock

_BUILD_TIMEOUT_S = 600
#: Binaries kept per (Go version, program name): older ones (other checkouts, old sources) are pruned.
KEEP_PER_PROGRAM = 8
_SOURCE_SUFFIXES = (".go", ".s")
_SOURCE_NAMES = ("go.mod", "go.sum")


def go_env(toolchain: Toolchain, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running ``go`` hermetically: local toolchain only, no proxy, no cgo, caches in goinspect's cache.

    Whatever the user's own GOFLAGS/GOPATH/go.env say is overridden, so a build
    here means the same thing on every machine.
    """
    root = cache_dir()
    env = dict(os.environ)
    env.update(
        GOROOT=str(toolchain.goroot),
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOSUMDB="off",
        GOWORK="off",
        GOENV="off",
        GOTELEMETRY="off",
        CGO_ENABLED="0",
        GOCACHE=str(root / "gocache" / toolchain.version),
        GOPATH=str(root / "gopath"),
        GOMODCACHE=str(root / "gopath" / "pkg" / "mod"),
    )
    env.pop("GOEXPERIMENT", None)
    if extra:
        env.update(extra)
    return env


def source_hash(module_dir: Path) -> str:
    """SHA-256 over the relative path and bytes of every Go source and go.mod/go.sum under ``module_dir``."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in module_dir.rglob("*")
        if p.is_file() and (p.suffix in _SOURCE_SUFFIXES or p.name in _SOURCE_NAMES)
    )
    for path in files:
        rel = path.relative_to(module_dir).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(rel).to_bytes(8, "little") + rel + len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def build_program(
    toolchain: Toolchain,
    module_dir: Path,
    package: str,
    *,
    flags: Sequence[str] = (),
    goexperiment: str | None = None,
) -> Path:
    """Build ``package`` (e.g. ``./cmd/leakmap``) of the module at ``module_dir``; return the cached executable.

    The cache key covers the Go version, the module's absolute path (the binary
    records it in its line tables, and a profile must point at *these* sources,
    not another checkout's), every source file of the module, the build flags
    and GOEXPERIMENT (``noswissmap`` gives Go 1.24/1.25 classic maps), so an
    edited program is rebuilt and an unchanged one never is. The binary is
    written to a temporary name and renamed into place, so a reader never sees a
    half-written file even with parallel builders.
    """
    module_dir = Path(module_dir).resolve()
    if not (module_dir / "go.mod").is_file():
        raise ToolchainError(f"{module_dir} is not a Go module (no go.mod).")
    key = hashlib.sha256(
        "\0".join(
            [toolchain.version, str(module_dir), source_hash(module_dir), package, goexperiment or "", *flags]
        ).encode()
    ).hexdigest()[:20]
    name = package.rstrip("/").rsplit("/", 1)[-1] or "main"
    out_dir = cache_dir() / "build" / toolchain.version
    out = out_dir / f"{name}-{key}"
    if out.is_file():
        _touch(out)
        return out
    with file_lock(out_dir / f"{name}.lock"):
        if out.is_file():
            _touch(out)
            return out
        tmp = out_dir / f".{out.name}.{os.getpid()}.tmp"
        extra = {"GOEXPERIMENT": goexperiment} if goexperiment else None
        cmd = [str(toolchain.go), "build", *flags, "-o", str(tmp), package]
        try:
            proc = subprocess.run(
                cmd,
                cwd=module_dir,
                env=go_env(toolchain, extra),
                capture_output=True,
                text=True,
                timeout=_BUILD_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise ToolchainError(
                f"Building {package} with Go {toolchain.version} took longer than {_BUILD_TIMEOUT_S} s."
            ) from None
        except OSError as exc:
            raise ToolchainError(f"Could not run {toolchain.go} ({exc}).") from None
        if proc.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip() and not ln.startswith("#")]
            detail = " | ".join(lines[:3]) or f"exit status {proc.returncode}"
            raise ToolchainError(f"Building {package} with Go {toolchain.version} failed: {detail}")
        os.replace(tmp, out)
        _prune(out_dir, name, keep=out)
    return out


def _touch(path: Path) -> None:
    """Mark a cached binary as recently used, so pruning keeps it."""
    try:
        os.utime(path)
    except OSError:
        pass


def _prune(out_dir: Path, name: str, keep: Path) -> None:
    """Delete all but the KEEP_PER_PROGRAM most recently used builds of ``name``.

    Every checkout path and every source edit makes a new binary; without this
    the cache would grow by the whole fleet per CI clone. A running program is
    unaffected by its file being unlinked.
    """
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{20}")
    builds = []
    for path in out_dir.glob(f"{name}-*"):
        if path == keep or not pattern.fullmatch(path.name):
            continue
        try:
            builds.append((path.stat().st_mtime, path))
        except OSError:
            continue
    builds.sort(reverse=True)
    for _, path in builds[KEEP_PER_PROGRAM - 1 :]:
        path.unlink(missing_ok=True)
