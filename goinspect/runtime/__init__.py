"""Pure decoders of Go runtime structures read out of a target's memory.

Nothing here does I/O of its own: every decoder takes a ``Memory`` (anything with
``read(addr, size) -> bytes``) and the struct layouts the binary's DWARF gives
(anything with ``layout(type_name)`` and ``type_size(type_name)``), so the same
code reads a live process, a core, or bytes a test made up. Walks are bounded and
treat unreadable pointers as data ("unreadable"), never as a reason to stop.
"""
