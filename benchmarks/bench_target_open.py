"""How long opening a live fleet process takes, piece by piece, and how long it is paused.

    python benchmarks/bench_target_open.py [GO_VERSION ...]   (default: 1.23.9 1.26.6)

Prints gdb start-up, loading the executable, the DWARF queries (cold: no layout
cache; warm: cached per build-id), the globals scan, the whole ``open_live``,
and the pause of one ``paused()`` block that reads a map header.
"""

from __future__ import annotations

import statistics
import struct
import sys
import time
from pathlib import Path

from goinspect.gdb.session import GdbSession
from goinspect.run.build import build_program
from goinspect.run.process import GoService
from goinspect.run.toolchain import ensure_go
from goinspect.target import open_live
from goinspect.target.elf import data_symbols, read_exe
from goinspect.target.layouts import LayoutCache
from goinspect.target.open import RUNTIME_TYPES, _mi_arg

FLEET = Path(__file__).resolve().parent.parent / "testdata" / "fleet"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench(version: str) -> None:
    exe = build_program(ensure_go(version), FLEET, "./cmd/leakmap")
    t = time.perf_counter()
    gdb = GdbSession()
    t_start = time.perf_counter() - t
    t = time.perf_counter()
    gdb.load_file(exe)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    gdb.json_command("-goinspect-info")
    gdb.json_command("-goinspect-layout " + " ".join(_mi_arg(n) for n in RUNTIME_TYPES))
    t_types = time.perf_counter() - t
    t = time.perf_counter()
    symbols = data_symbols(exe)
    t_syms = time.perf_counter() - t
    gdb.close()
    print(f"Go {version}: gdb start-up {ms(t_start)}, load exe {ms(t_load)}, runtime types (cold) {ms(t_types)}, "
          f"ELF data symbols ({len(symbols)}) {ms(t_syms)}")

    with GoService(exe) as svc:
        svc.advance(50)  # 50,000 entries
        LayoutCache.path_for(read_exe(exe).build_id).unlink(missing_ok=True)
        for label in ("cold cache", "warm cache"):
            t = time.perf_counter()
            with open_live(svc.pid) as target:
                t_open = time.perf_counter() - t
                sessions = next(g for g in target.globals() if g.name == "main.sessions")
                header = target.layout(target.map_type(sessions.type_name).header)
                for _ in range(5):
                    with target.paused():
                        addr = struct.unpack("<Q", target.memory.read(sessions.addr, 8))[0]
                        target.memory.read(addr, header.size)
                pauses = target.pauses
            print(f"  open_live ({label}) {ms(t_open)}; pause for a header read: median {ms(statistics.median(pauses))}, "
                  f"max {ms(max(pauses))}")


if __name__ == "__main__":
    for v in sys.argv[1:] or ["1.23.9", "1.26.6"]:
        bench(v)
