"""Field geometry: where everything sits on a printed page, in PDF points.

Origin top-left, y downward, rounded to 0.01 pt in the export. The geometry is
a pure function of (template, page size): the renderer draws exactly these
boxes and the scanner reads exactly these boxes, so both use :func:`page_layouts`
(the scanner through :mod:`forms.catalog`). The types live in :mod:`forms.boxes`.

The page frame (markers, QR code, header, footer) is fixed here; the fields
flow into the content area below the header (:mod:`forms.flow`).
"""

from __future__ import annotations

from reportlab.pdfbase.pdfmetrics import stringWidth

from forms.boxes import (
    FONT,
    FONT_BOLD,
    FONT_ITALIC,
    FONT_MONO,
    MM,
    Box,
    FieldBox,
    PageLayout,
    Text,
)
from forms.errors import TemplateError
from forms.flow import flow_page
from forms.model import CORNERS, Template

__all__ = [
    "FONT",
    "FONT_BOLD",
    "FONT_ITALIC",
    "FONT_MONO",
    "MM",
    "PAGE_SIZES",
    "Box",
    "FieldBox",
    "PageLayout",
    "Text",
    "layout",
    "page_layouts",
]

PAGE_SIZES = {"letter": (612, 792), "a4": (595.28, 841.89)}
# US paper goes with US dates; everywhere else day first.
DATE_ORDER = {"letter": "MDY", "a4": "DMY"}

MARKER = 11 * MM  # ArUco marker side
MARKER_MARGIN = 9 * MM  # paper edge to marker: printers do not reach the last 5-6 mm
CLEAR = 8 * MM  # nothing else is printed this close to a marker or the QR code
QR_SIZE = 27 * MM  # version 2 (25 modules) -> 1.08 mm modules
SIDE = 14 * MM  # left/right margin of the content
KEEP = MARKER_MARGIN + MARKER + CLEAR  # corner zone kept free of other ink

# Header row (client, date, session): small caps labels above boxes.
HEADER_LABEL_Y = KEEP + 7.5  # baseline of the labels, below the marker keep-out zone
HEADER_BOX_TOP = KEEP + 11
HEADER_BOX_H = 24.0
HEADER_CELL_W = 15.5
HEADER_CELL_GAP = 3.0
HEADER_GROUP_GAP = 6.0
CLIENT_BOX_W = 100.0
HEADER_ITEM_GAP = 16.0
SESSION_CELLS = 3


def _frame(number: int, title: str, privacy: str, markers: tuple[int, ...], page_size: str) -> PageLayout:
    """The fixed parts of a page: markers, QR, header boxes, content area."""
    w, h = PAGE_SIZES[page_size]
    m0, m1 = MARKER_MARGIN, MARKER_MARGIN + MARKER
    corners = {
        "tl": (m0, m0, m1, m1),
        "tr": (w - m1, m0, w - m0, m1),
        "br": (w - m1, h - m1, w - m0, h - m0),
        "bl": (m0, h - m1, m1, h - m0),
    }
    qr = (w - KEEP - QR_SIZE, MARKER_MARGIN, w - KEEP, MARKER_MARGIN + QR_SIZE)
    y0, y1 = HEADER_BOX_TOP, HEADER_BOX_TOP + HEADER_BOX_H
    x = SIDE
    client = (x, y0, x + CLIENT_BOX_W, y1)
    x = client[2] + HEADER_ITEM_GAP
    date_cells = []
    for group in (2, 2, 4) if DATE_ORDER[page_size] != "YMD" else (4, 2, 2):
        for _ in range(group):
            date_cells.append((x, y0, x + HEADER_CELL_W, y1))
            x += HEADER_CELL_W + HEADER_CELL_GAP
        x += HEADER_GROUP_GAP - HEADER_CELL_GAP
    x += HEADER_ITEM_GAP - HEADER_GROUP_GAP
    session_cells = []
    for _ in range(SESSION_CELLS):
        session_cells.append((x, y0, x + HEADER_CELL_W, y1))
        x += HEADER_CELL_W + HEADER_CELL_GAP
    sheet_w = stringWidth("SHEET 00000000", FONT_MONO, 11)
    sheet = (qr[0] - CLEAR - sheet_w, m0 + 6, qr[0] - CLEAR, m0 + 19)
    content_top = max(qr[3] + CLEAR, y1 + 10)
    return PageLayout(
        number=number,
        title=title,
        privacy=privacy,
        size=(w, h),
        markers=[(mid, c, corners[c]) for mid, c in zip(markers, CORNERS)],
        qr=qr,
        header={"client": client, "date": _union(date_cells), "session": _union(session_cells)},
        header_cells={"date": date_cells, "session": session_cells},
        date_order=DATE_ORDER[page_size],
        sheet_id=sheet,
        content=(SIDE, content_top, w - SIDE, h - KEEP),
    )


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def page_layouts(template: Template, page_size: str = "letter") -> list[PageLayout]:
    """Lay out every page of ``template``; raises TemplateError when fields do not fit."""
    if page_size not in PAGE_SIZES:
        raise TemplateError(template.source, "", f"unknown page size '{page_size}' (use {', '.join(PAGE_SIZES)})")
    out = []
    for index, page in enumerate(template.pages):
        assert page.number is not None  # validated templates number their pages
        pl = _frame(page.number, page.title, page.privacy, page.markers, page_size)
        flow_page(pl, page, index, template.source, page_size)
        out.append(pl)
    return out


def layout(template: Template, page_size: str = "letter") -> dict:
    """The geometry export (SPEC section 3): JSON-serialisable, points, origin top-left."""
    pages = [pl.export() for pl in page_layouts(template, page_size)]
    w, h = PAGE_SIZES[page_size]
    return {
        "template": template.name,
        "code": template.code,
        "title": template.title,
        "version": template.version,
        "page_size": page_size,
        "page_size_pt": [w, h],
        "origin": "top-left",
        "pages": pages,
    }
