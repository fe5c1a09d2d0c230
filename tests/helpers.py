"""Small helpers shared by test modules."""

from __future__ import annotations

from typing import Any


def empty_value(f) -> Any:
    """The value of a template field that was left unanswered (what a blank page reads as)."""
    if f.kind == "checkbox":
        return False
    if f.kind == "choice":
        return [] if f.multiple else None
    if f.kind == "scale":
        return None
    return ""
