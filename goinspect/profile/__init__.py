"""Heap profiles: the data model, decoding and encoding, and the reports built on it."""
