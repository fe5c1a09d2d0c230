"""Inklock scanner: the application (loading, reading, vault, review, notes, CLI)."""

__version__ = "0.1.0"
