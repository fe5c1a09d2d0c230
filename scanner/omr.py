"""Optical mark reading: ticks, crosses and filled bubbles by ink fill.

Each box is inset (so its printed outline is not counted) and measured on the
paper-normalised page (1.0 = local paper level), so uneven light does not look
like ink. A fill between the empty and marked levels is *ambiguous*: flagged,
never guessed. A single-choice field with two marks (a crossed-out answer) is
flagged and left without a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scanner.register import to_px

INSET = 0.22  # share of each side left out: the printed outline and a wobbly pen stay out
INK_LEVEL = 0.72  # a pixel darker than 72% of the local paper level is ink
EMPTY_FILL = 0.02  # at or below: empty
MARK_FILL = 0.06  # at or above: marked; between the two: ambiguous
HEAVY_FILL = 0.80  # a tick box blacked out: a fill, or a crossed-out answer


@dataclass
class MarkRead:
    value: Any
    confidence: float
    flags: list[str] = field(default_factory=list)
    fills: dict[str, float] = field(default_factory=dict)


def box_fill(norm: np.ndarray, bbox: list[float], inset: float = INSET) -> float:
    """Share of ink pixels inside the inset box (0 = clean paper, 1 = solid ink)."""
    x0, y0, x1, y1 = to_px(bbox)
    dx, dy = (x1 - x0) * inset, (y1 - y0) * inset
    h, w = norm.shape[:2]
    xa, xb = max(0, int(x0 + dx)), min(w, int(round(x1 - dx)))
    ya, yb = max(0, int(y0 + dy)), min(h, int(round(y1 - dy)))
    region = norm[ya:yb, xa:xb]
    if region.size == 0:
        return 0.0
    return float(np.count_nonzero(region < INK_LEVEL)) / region.size


def _box_state(fill: float) -> tuple[str, float]:
    """'empty' | 'marked' | 'ambiguous' and how sure we are of that state."""
    if fill <= EMPTY_FILL:
        return "empty", 0.99 - 0.14 * (fill / EMPTY_FILL)
    if fill >= MARK_FILL:
        return "marked", 0.85 + 0.14 * min(1.0, (fill - MARK_FILL) / MARK_FILL)
    return "ambiguous", 0.3


def read_marks(norm: np.ndarray, field_layout: dict[str, Any]) -> MarkRead:
    """Read a checkbox, choice or scale field from its option boxes."""
    kind = field_layout["kind"]
    options = field_layout["options"]
    fills = {str(o["value"]): box_fill(norm, o["bbox"]) for o in options}
    states = {v: _box_state(f) for v, f in fills.items()}
    flags: list[str] = []
    confidence = min(c for _s, c in states.values())
    marked = [v for v, (s, _c) in states.items() if s == "marked"]
    if any(s == "ambiguous" for s, _c in states.values()):
        flags.append("ambiguous_mark")
    if kind != "scale" and any(f >= HEAVY_FILL for f in fills.values()):
        flags.append("heavy_mark")  # could be a crossed-out answer: the clinician decides
        confidence = min(confidence, 0.6)

    if kind == "checkbox":
        value: Any = bool(marked)
    elif kind == "choice" and field_layout.get("multiple"):
        value = marked
    else:
        if len(marked) > 1:
            flags.append("multiple_marks")
            return MarkRead(None, 0.0, _unique(flags + ["ambiguous_mark"]), fills)
        value = marked[0] if marked else None
        if kind == "scale" and value is not None:
            value = int(value)
    if "ambiguous_mark" in flags:
        confidence = min(confidence, 0.3)
    return MarkRead(value, round(confidence, 3), _unique(flags), fills)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
