"""The registered page in pixels: the one conversion from PDF points, and the stored field crops.

Templates place everything in PDF points; the reader straightens each page to
``WORK_DPI`` (:mod:`scanner.ingest.register`) and keeps each field's crop with
a margin of ``CROP_MARGIN_PT`` around its box (:mod:`scanner.ingest.read`).
Whoever reads a stored crop back (the clinician's hand, :mod:`scanner.hand`)
finds the field's ruled lines in it with :func:`line_boxes`, the same way the
page worker does. Pure: no image and no vault here, so every stage may use it.
"""

from __future__ import annotations

from collections.abc import Sequence

WORK_DPI = 200.0
PX_PER_PT = WORK_DPI / 72.0
# The stored crop of a field reaches this far beyond its box.
CROP_MARGIN_PT = 3.0

Box = tuple[int, int, int, int]


def to_px(bbox: Sequence[float]) -> Box:
    """A bbox in PDF points to integer pixel bounds on the registered page."""
    x0, y0, x1, y1 = (v * PX_PER_PT for v in bbox)
    return round(x0), round(y0), round(x1), round(y1)


def line_boxes(bbox: Sequence[float], lines: Sequence[Sequence[float]] | None,
               margin_pt: float = 0.0) -> list[Box] | None:
    """A field's ruled ``lines`` (points), in pixels of its crop: its ``bbox`` with ``margin_pt`` around.

    ``margin_pt=0`` is the box itself (what OCR reads); ``CROP_MARGIN_PT`` is the
    stored crop. None when the field has no ruled lines.
    """
    if not lines or not isinstance(lines[0], (list, tuple)) or len(lines[0]) != 4:
        return None
    x0, y0, _x1, _y1 = to_px([bbox[0] - margin_pt, bbox[1] - margin_pt, 0, 0])
    x0, y0 = max(x0, 0), max(y0, 0)  # a crop stops at the page's edge
    boxes = []
    for lb in lines:
        a, b, c, d = to_px(lb)
        boxes.append((a - x0, b - y0, c - x0, d - y0))
    return boxes
