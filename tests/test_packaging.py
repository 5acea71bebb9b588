"""The installed package is complete: every package directory is listed in pyproject.toml, and a
real (non-editable) install carries the demo service and the gdb-side script."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "goinspect").rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert "goinspect.gdb_scripts" in listed


def test_wheel_carries_data_files(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # no setuptools in this environment: build it the ordinary way
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                               str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("goinspect-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("goinspect/gdb_scripts/goinspect_gdb.py", "goinspect/demo_service/main.go",
                   "goinspect/demo_service/go.mod", "goinspect/profile/profile_pb2.py", "goinspect/py.typed"):
        assert needed in names, needed
