"""Small helpers shared by test modules."""

from __future__ import annotations

from typing import Any

import numpy as np


def empty_value(f) -> Any:
    """The value of a template field that was left unanswered (what a blank page reads as)."""
    if f.kind == "checkbox":
        return False
    if f.kind == "choice":
        return [] if f.multiple else None
    if f.kind == "scale":
        return None
    return ""


def ctc_frames(text: str, chars: list[str], sure: float = 0.99) -> np.ndarray:
    """Line-recogniser output reading ``text`` one character every other frame (a blank between), each at ``sure``."""
    index = {c: i for i, c in enumerate(chars)}
    rows = []
    for c in text:
        for k in (index[c], 0):
            row = np.full(len(chars), (1 - sure) / (len(chars) - 1))
            row[k] = sure
            rows.append(row)
    return np.array(rows)
