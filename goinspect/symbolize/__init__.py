"""Symbolization of program counters through a Go executable.

``elf`` reads the executable's sections; ``pclntab`` decodes Go's own
``.gopclntab`` (function table, file/line tables, inline tree), which every Go
binary keeps even when stripped, because the runtime itself needs it for
tracebacks. No DWARF, no external tools.
"""
