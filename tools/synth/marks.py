"""Pen marks in tick boxes and bubbles: check, cross, fill, faint, and scribbled-out.

A mark is drawn as a few smooth, jittered pen strokes into a box given in
pixels ``(x0, y0, x1, y1)``; the page (grayscale uint8, white paper) is changed
in place. Strokes may overshoot the box a little, as real ticks do.
"""

from __future__ import annotations

import cv2
import numpy as np

from .handwriting import blend_ink

__all__ = ["MARK_STYLES", "draw_mark", "pen_width_px"]

# What a reader should accept as "marked". "scribble" (a box heavily scribbled
# over to cancel it) is drawn only as part of a crossed-out answer.
MARK_STYLES = ("check", "cross", "fill", "faint")
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel stroke positions


def pen_width_px(dpi: float, rng: np.random.Generator, mm: tuple[float, float] = (0.35, 0.7)) -> float:
    """A ballpoint or fine felt-tip stroke width at ``dpi``."""
    return float(rng.uniform(*mm)) / 25.4 * dpi


def _smooth(points: np.ndarray, n: int = 24) -> np.ndarray:
    """A Catmull-Rom curve through ``points`` (k x 2), ``n`` samples per segment."""
    p = np.vstack([points[0], points, points[-1]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        out.append(
            0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    out.append(points[-1:])
    return np.vstack(out)


def _strokes(canvas: np.ndarray, strokes: list[np.ndarray], width: float, ink: int, pressure: float) -> None:
    """Draw polylines (pixel coordinates) with an anti-aliased pen of ``width`` pixels."""
    allp = np.vstack(strokes)
    pad = int(width) + 3
    x0, y0 = int(np.floor(allp[:, 0].min())) - pad, int(np.floor(allp[:, 1].min())) - pad
    x1, y1 = int(np.ceil(allp[:, 0].max())) + pad, int(np.ceil(allp[:, 1].max())) + pad
    layer = np.zeros((y1 - y0, x1 - x0), np.uint8)
    thick = max(1, int(round(width)))
    for s in strokes:
        pts = np.round((s - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(layer, [pts], False, 255, thick, cv2.LINE_AA, _SHIFT)
    blend_ink(canvas, layer.astype(np.float32) / 255.0 * pressure, x0, y0, ink)


def _check(box, rng) -> list[np.ndarray]:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    j = lambda s: rng.normal(0, s)  # noqa: E731 - jitter in box units
    a = (x0 + w * (0.15 + j(0.05)), y0 + h * (0.5 + j(0.07)))
    b = (x0 + w * (0.4 + j(0.05)), y0 + h * (0.85 + j(0.05)))
    c = (x0 + w * (0.95 + j(0.1)), y0 + h * (0.0 + j(0.12)))
    mid = ((b[0] + c[0]) / 2 + j(0.04) * w, (b[1] + c[1]) / 2 + j(0.04) * h)
    return [_smooth(np.array([a, b, mid, c]))]


def _cross(box, rng) -> list[np.ndarray]:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    over = rng.uniform(-0.05, 0.15)

    def diag(sx, sy, ex, ey):
        start = (x0 + w * (sx + rng.normal(0, 0.05)), y0 + h * (sy + rng.normal(0, 0.05)))
        end = (x0 + w * (ex + rng.normal(0, 0.05)), y0 + h * (ey + rng.normal(0, 0.05)))
        mid = ((start[0] + end[0]) / 2 + rng.normal(0, 0.03 * w), (start[1] + end[1]) / 2 + rng.normal(0, 0.03 * h))
        return _smooth(np.array([start, mid, end]))

    return [diag(0.1 - over, 0.1 - over, 0.9 + over, 0.9 + over), diag(0.9 + over, 0.1 - over, 0.1 - over, 0.9 + over)]


def _zigzag(box, rng, passes: int, cover: float) -> list[np.ndarray]:
    """Back-and-forth strokes over ``cover`` of the box (a fill, or a scribble-out)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    m = (1 - cover) / 2
    pts = []
    for i in range(passes):
        t = (i + 0.5) / passes
        y = y0 + h * (m + cover * t) + rng.normal(0, 0.03 * h)
        left, right = x0 + w * (m + rng.normal(0, 0.04)), x1 - w * (m + rng.normal(0, 0.04))
        drop = y + h * cover / passes * 0.5
        pts += [(left, y), (right, drop)] if i % 2 == 0 else [(right, y), (left, drop)]
    return [np.array(pts, dtype=float)]  # sharp turns: a scribbling pen barely rounds them


def draw_mark(
    canvas: np.ndarray,
    box: tuple[float, float, float, float],
    style: str,
    rng: np.random.Generator,
    dpi: float = 300,
    ink: int = 40,
) -> None:
    """Mark one tick box or bubble (pixels) in ``style``: check, cross, fill, faint or scribble.

    ``faint`` is a thin, light check or cross (a hesitant pencil or a dry pen);
    ``scribble`` covers the box densely, overshooting it, to cancel an answer.
    """
    width = pen_width_px(dpi, rng)
    pressure = float(rng.uniform(0.85, 1.0))
    if style == "check":
        strokes = _check(box, rng)
    elif style == "cross":
        strokes = _cross(box, rng)
    elif style == "fill":
        side = box[3] - box[1]
        passes = max(4, int(side / (width * 1.1)))
        strokes = _zigzag(box, rng, passes, cover=rng.uniform(0.7, 0.9))
    elif style == "faint":
        strokes = _check(box, rng) if rng.random() < 0.6 else _cross(box, rng)
        width = pen_width_px(dpi, rng, (0.15, 0.25))
        ink = int(rng.integers(150, 190))
        pressure = float(rng.uniform(0.5, 0.8))
    elif style == "scribble":
        side = box[3] - box[1]
        grown = (box[0] - 0.1 * side, box[1] - 0.1 * side, box[2] + 0.1 * side, box[3] + 0.1 * side)
        strokes = _zigzag(grown, rng, max(6, int(side / (width * 0.6))), cover=0.95)
        strokes += _zigzag(grown, rng, max(5, int(side / width)), cover=0.9)
        width *= 1.3
    else:
        raise ValueError(f"unknown mark style {style!r} (use {', '.join(MARK_STYLES + ('scribble',))})")
    _strokes(canvas, strokes, width, ink, pressure)
