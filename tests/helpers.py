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


def paint_over(gray: np.ndarray, keys: tuple[str, ...] = ("qr", "sheet_id"), fill: int = 255) -> np.ndarray:
    """The page with parts of its layout (its QR code and the sheet id printed beside it, by default)
    painted over where they sit on the scan, through the inverse of its registration."""
    import cv2

    from scanner.ingest import register as reg
    from scanner.ingest.pipeline import build_registry

    registry, _codes = build_registry()
    registration = reg.register(gray, registry)
    assert registration is not None
    layout = registry.page_layout(registration.template, registration.page, registration.page_size)
    out = gray.copy()
    for key in keys:
        x0, y0, x1, y1 = (v * reg.PX_PER_PT for v in layout[key])
        corners = np.array([[[x0 - 4, y0 - 4]], [[x1 + 4, y0 - 4]], [[x1 + 4, y1 + 4]], [[x0 - 4, y1 + 4]]],
                           np.float32)
        polygon = cv2.perspectiveTransform(corners, np.linalg.inv(registration.homography)).astype(np.int32)
        cv2.fillConvexPoly(out, polygon, fill)
    return out
