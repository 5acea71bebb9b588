"""Open a Go executable for symbolization: one clear error if it is not one.

Kept apart from the decoders so callers see a single entry point: a path in,
the ``.gopclntab`` decoder and the ``Mapping`` that profiles attach to their
locations out.
"""

from __future__ import annotations

import os
from functools import lru_cache

from goinspect.errors import InputError
from goinspect.profile.model import Mapping
from goinspect.symbolize.elf import ElfImage
from goinspect.symbolize.pclntab import PcLnTab


def open_executable(path: str) -> tuple[PcLnTab, Mapping]:
    """The pclntab of the Go executable at ``path`` and a mapping covering its text at link-time addresses.

    A position-independent executable runs at a load bias the caller must add (see
    ``table.image.is_pie``).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot open executable {path}: {exc.strerror or exc}") from None
    if not os.path.isfile(path):
        raise InputError(f"executable {path} is not a regular file")
    return _open(os.path.abspath(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _open(path: str, _mtime: int, _size: int) -> tuple[PcLnTab, Mapping]:
    image = ElfImage(path)
    table = PcLnTab(image)
    text = image.section(".text")
    assert text is not None  # PcLnTab checked it
    mapping = Mapping(
        id=1,
        start=text.addr,
        limit=text.addr + text.size,
        offset=text.offset,
        file=path,
        has_functions=True,
        has_filenames=True,
        has_line_numbers=True,
        has_inline_frames=True,
    )
    return table, mapping
