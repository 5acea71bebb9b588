"""A Go program to inspect: a live process or a core dump, its memory and its DWARF types.

``open_live(pid)`` / ``open_core(core, exe)`` return a :class:`Target`; the
runtime decoders (``goinspect.runtime``) read through ``Target.memory`` and
``Target.layout``.
"""

from goinspect.target.layouts import FieldLayout, MapType, MissingType, StructLayout
from goinspect.target.memory import Memory, TargetExited, UnreadableMemory
from goinspect.target.open import ContainerPath, GlobalVar, Target, open_core, open_live

__all__ = ["ContainerPath", "FieldLayout", "GlobalVar", "MapType", "Memory", "MissingType", "StructLayout", "Target",
           "TargetExited", "UnreadableMemory", "open_core", "open_live"]
