"""gdb, driven over MI: the one place goinspect talks to a debugger (see ``session``)."""
