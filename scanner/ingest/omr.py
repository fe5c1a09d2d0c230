"""Optical mark reading: ticks, crosses and filled bubbles by ink fill.

Each box is measured against the paper level around it (so uneven light and a
grey scan do not look like ink), on a lightly blurred copy (so scanner noise
does not either), inside an inset (so the printed outline is not counted).
Two ink levels are measured: firm ink and light ink. A box with firm ink is
marked; a box with only light ink holds a *faint* mark (read as marked, but
flagged); anything in between the clear bands is *ambiguous*: flagged, never
guessed. A single-choice field with two marks (a crossed-out answer) is
flagged and left without a value -- unless one of the two is blacked out and
the other is not: that is the cancel mark the printed sheet describes
("scribble a box out completely to cancel it"), so the other mark is the
answer, read and flagged ``cancelled_mark`` for a look in review (never silent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from scanner.ingest.register import to_px

INSET = 0.22  # share of each side left out: the printed outline and a wobbly box edge
FIRM_DARKNESS = 0.28  # 28% darker than the paper around the box: pen ink
LIGHT_DARKNESS = 0.08  # 8% darker (about 20 grey levels): a faint pencil or dry pen
EMPTY_FIRM = 0.02  # firm-ink share at or below which a box may be empty ...
EMPTY_LIGHT = 0.015  # ... when its light-ink share is also at or below this
MARK_FIRM = 0.06  # firm-ink share at or above which a box is marked
FAINT_LIGHT = 0.05  # light-ink share at or above which a box without firm ink holds a faint mark
HEAVY_FIRM = 0.85  # a tick box blacked out: a fill, or a crossed-out answer
FAINT_CONFIDENCE = 0.55
# A trace: a box that passes as empty by the two levels above yet has this share of its
# inset at least TRACE_DARKNESS darker than the paper. A thin, light tick seen at 150-200
# dpi or in a photo blurs below LIGHT_DARKNESS: such ticks were read as "no answer" at 0.99
# (10 of 52 faint ticks on 30 generated pages, scans at 150-300 dpi and phone photos).
# Chosen on those pages; on 30 others (seeds of their own) it caught 8 of the 8 faint
# ticks read as empty there, and 19 of 1,679 empty boxes (1.1%) were flagged for it.
# Most traces are thus paper noise: a trace is ambiguous (flagged, never part of the value).
TRACE_DARKNESS = 0.04
TRACE_SHARE = 0.05


@dataclass
class BoxInk:
    firm: float
    light: float
    trace: float = 0.0


@dataclass
class MarkRead:
    value: Any
    confidence: float
    flags: list[str] = field(default_factory=list)
    fills: dict[str, float] = field(default_factory=dict)


def box_ink(page: np.ndarray, bbox: Sequence[float], inset: float = INSET) -> BoxInk:
    """Firm and light ink shares inside the inset box, relative to the paper around it."""
    x0, y0, x1, y1 = to_px(bbox)
    w, h = x1 - x0, y1 - y0
    ph, pw = page.shape[:2]
    ring = page[max(0, int(y0 - 0.6 * h)):min(ph, int(y1 + 0.6 * h)), max(0, int(x0 - 0.6 * w)):min(pw, int(x1 + 0.6 * w))]
    inner = page[max(0, int(y0 + inset * h)):min(ph, int(round(y1 - inset * h))),
                 max(0, int(x0 + inset * w)):min(pw, int(round(x1 - inset * w)))]
    if inner.size == 0 or ring.size == 0:
        return BoxInk(0.0, 0.0)
    paper = max(float(np.percentile(ring, 90)), 32.0)
    darkness = (paper - cv2.GaussianBlur(inner.astype(np.float32), (0, 0), 1.0)) / paper
    return BoxInk(float(np.mean(darkness > FIRM_DARKNESS)), float(np.mean(darkness > LIGHT_DARKNESS)),
                  float(np.mean(darkness > TRACE_DARKNESS)))


def box_state(ink: BoxInk) -> tuple[str, float]:
    """'empty' | 'marked' | 'faint' | 'ambiguous', and how sure we are of it."""
    if ink.firm >= MARK_FIRM:
        return "marked", 0.85 + 0.14 * min(1.0, (ink.firm - MARK_FIRM) / MARK_FIRM)
    if ink.firm <= EMPTY_FIRM and ink.light <= EMPTY_LIGHT:
        if ink.trace >= TRACE_SHARE:
            return "ambiguous", 0.3  # a trace: a faint tick or the paper's noise; never read as either
        return "empty", 0.99 - 0.14 * max(ink.firm / EMPTY_FIRM, ink.light / EMPTY_LIGHT)
    if ink.firm <= EMPTY_FIRM and ink.light >= FAINT_LIGHT:
        return "faint", FAINT_CONFIDENCE
    return "ambiguous", 0.3


def read_marks(page: np.ndarray, kind: str, options: Sequence[tuple[str, Sequence[float]]],
               multiple: bool = False) -> MarkRead:
    """Read a checkbox, choice or scale field from its option boxes (value, bbox in points) on the registered page."""
    inks = {str(value): box_ink(page, bbox) for value, bbox in options}
    states = {v: box_state(ink) for v, ink in inks.items()}
    fills = {v: round(ink.firm, 4) for v, ink in inks.items()}
    flags: list[str] = []
    confidence = min(c for _s, c in states.values())
    marked = [v for v, (s, _c) in states.items() if s in ("marked", "faint")]
    single = kind == "scale" or (kind == "choice" and not multiple)
    if any(s == "ambiguous" for s, _c in states.values()):
        flags.append("ambiguous_mark")
    if any(s == "faint" for s, _c in states.values()):
        flags.append("faint_mark")
    if not single and any(ink.firm >= HEAVY_FIRM for ink in inks.values()):
        # Blacked out: a fill, or an answer crossed out. Only the clinician can tell.
        flags.append("heavy_mark")
        confidence = min(confidence, 0.6)

    if kind == "checkbox":
        value: Any = bool(marked)
    elif not single:
        value = marked
    else:
        heavy = [v for v in marked if inks[v].firm >= HEAVY_FIRM]
        if len(marked) == 2 and len(heavy) == 1:
            # One answer cancelled by blacking it out, the other one kept.
            value = next(v for v in marked if v not in heavy)
            if kind == "scale":
                value = int(value)
            return MarkRead(value, round(min(confidence, 0.6), 3), _unique(flags + ["cancelled_mark"]), fills)
        if len(marked) > 1:
            flags.append("multiple_marks")
            return MarkRead(None, 0.0, _unique(flags + ["ambiguous_mark"]), fills)
        value = marked[0] if marked else None
        if kind == "choice" and heavy:
            # A box blacked out with no other mark: the sheet asks for a tick or a cross
            # in a box and calls a box scribbled out cancelled (a bubble is filled to mark it).
            flags.append("heavy_mark")
            confidence = min(confidence, 0.6)
        if kind == "scale" and value is not None:
            value = int(value)
    if "ambiguous_mark" in flags:
        confidence = min(confidence, 0.3)
    return MarkRead(value, round(confidence, 3), _unique(flags), fills)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
