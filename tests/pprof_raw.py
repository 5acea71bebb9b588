"""Reference readings of a profile by ``go tool pprof`` itself (the ground truth for decode tests).

``go tool pprof -raw`` prints google/pprof's own parse of a profile: every
sample with its values, location ids and labels, then every location with
its address and (inlined) functions. Parsing that text gives goinspect's
decoder an answer it cannot influence.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_SAMPLE = re.compile(r"^\s*(-?\d+(?:\s+-?\d+)*):((?:\s+\d+)*)\s*$")
_LABEL_LINE = re.compile(r"^\s+\S+?:\[.*\]\s*$")
_LABEL = re.compile(r"(\S+?):\[(.*?)\]")
_LOCATION = re.compile(r"^\s*(\d+): (0x[0-9a-f]+)(?: M=(\d+))?(?: (.*?))?\s*$")
# "name file:line:col s=start(system name)": names may hold spaces; pprof prints a shortened name
# (go.shape type arguments simplified) followed by the system name in parentheses when they differ.
_FRAME = re.compile(r"^(.*?) (\S+:\d+(?::\d+)?)(?: s=\d+(?:\((.*)\))?)?$")


def _function_name(frame: str) -> str:
    """The function's full (system) name as written in the profile."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return m.group(3) or m.group(1)


@dataclass
class RawSample:
    values: list[int]
    location_ids: list[int]
    labels: dict[str, str] = field(default_factory=dict)  # key -> what pprof prints inside [...]


@dataclass
class RawProfile:
    sample_types: list[str]  # "alloc_space/bytes"
    samples: list[RawSample]
    locations: dict[int, tuple[int, list[str]]]  # id -> (address, function names callee first)

    def totals(self) -> list[int]:
        return [sum(s.values[i] for s in self.samples) for i in range(len(self.sample_types))]


def go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0",
            "PPROF_TMPDIR": os.environ.get("TMPDIR", "/tmp")}


def pprof(go: Path, *args: str, timeout: float = 300) -> str:
    """Output of ``go tool pprof ARGS`` (the toolchain's own pprof)."""
    res = subprocess.run([str(go), "tool", "pprof", *args], capture_output=True, text=True, env=go_env(),
                         timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(f"go tool pprof {' '.join(args)} failed: {res.stderr[-2000:]}")
    return res.stdout


def pprof_raw(go: Path, path: Path) -> RawProfile:
    text = pprof(go, "-raw", str(path))
    lines = text.splitlines()
    i = lines.index("Samples:")
    sample_types = lines[i + 1].split()
    samples: list[RawSample] = []
    locations: dict[int, tuple[int, list[str]]] = {}
    section = "samples"
    current_loc: list[str] | None = None
    for line in lines[i + 2:]:
        if line.startswith("Locations"):
            section = "locations"
            continue
        if line.startswith("Mappings"):
            break
        if section == "samples":
            m = _SAMPLE.match(line)
            if m:
                samples.append(RawSample([int(v) for v in m.group(1).split()], [int(v) for v in m.group(2).split()]))
                continue
            if _LABEL_LINE.match(line) and samples:
                for key, value in _LABEL.findall(line):
                    samples[-1].labels[key] = value
                continue
            raise AssertionError(f"unexpected line in pprof -raw samples: {line!r}")
        m = _LOCATION.match(line)
        if m:
            current_loc = []
            locations[int(m.group(1))] = (int(m.group(2), 16), current_loc)
            if m.group(4):
                current_loc.append(_function_name(m.group(4)))
        elif line.strip() and current_loc is not None:
            current_loc.append(_function_name(line))  # an inlined frame, on its own line
    return RawProfile(sample_types, samples, locations)
