"""Field geometry: where everything sits on a printed page, in PDF points.

Origin top-left, y downward, rounded to 0.01 pt in the export. The geometry is
a pure function of (template, page size): the renderer draws exactly these
boxes and the scanner reads exactly these boxes, so both use :func:`page_layouts`.

The page frame (markers, QR code, header, footer) is fixed here; the fields
flow into the content area below the header (:mod:`forms.flow`).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field

from reportlab.pdfbase.pdfmetrics import stringWidth

from forms.errors import TemplateError
from forms.model import CORNERS, Field, Template

__all__ = [
    "MM",
    "PAGE_SIZES",
    "FieldBox",
    "PageLayout",
    "Text",
    "layout",
    "page_layouts",
]

MM = 72 / 25.4
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

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
FONT_ITALIC = "Helvetica-Oblique"
FONT_MONO = "Courier-Bold"

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Text:
    """A printed string: baseline at (x, y); ``align`` left, right or centre."""

    x: float
    y: float
    text: str
    font: str = FONT
    size: float = 8.5
    grey: float = 0.1
    align: str = "left"

    def extent(self) -> Box:
        """Approximate ink box of the string (cap height above, descenders below the baseline)."""
        w = stringWidth(self.text, self.font, self.size)
        x0 = self.x - (w if self.align == "right" else w / 2 if self.align == "centre" else 0)
        return (x0, self.y - 0.75 * self.size, x0 + w, self.y + 0.22 * self.size)


@dataclass
class FieldBox:
    """Where one field sits: its writing area and the parts a reader looks at."""

    field: Field
    bbox: Box
    options: list[tuple[str, Box]] = dc_field(default_factory=list)  # checkbox/choice/scale boxes
    cells: list[Box] = dc_field(default_factory=list)  # digits
    lines: list[Box] = dc_field(default_factory=list)  # text: one box per ruled line; line: one
    rules: list[float] = dc_field(default_factory=list)  # y of each printed writing rule
    carry_bbox: Box | None = None


@dataclass
class PageLayout:
    """One page: frame (markers, QR, header) plus the fields and every static string."""

    number: int
    title: str
    privacy: str
    size: tuple[float, float]
    markers: list[tuple[int, str, Box]]
    qr: Box
    header: dict[str, Box]
    header_cells: dict[str, list[Box]]
    date_order: str
    sheet_id: Box
    content: Box
    fields: list[FieldBox] = dc_field(default_factory=list)
    texts: list[Text] = dc_field(default_factory=list)
    rules: list[tuple[float, float, float]] = dc_field(default_factory=list)  # heading rules (x0, y, x1)


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
    from forms.flow import flow_page  # flow needs the Text/FieldBox types defined above

    if page_size not in PAGE_SIZES:
        raise TemplateError(template.source, "", f"unknown page size '{page_size}' (use {', '.join(PAGE_SIZES)})")
    out = []
    for index, page in enumerate(template.pages):
        pl = _frame(page.number, page.title, page.privacy, page.markers, page_size)
        flow_page(pl, page, index, template.source, page_size)
        out.append(pl)
    return out


def _r(box: Box) -> list[float]:
    return [round(v, 2) for v in box]


def _field_json(fb: FieldBox) -> dict:
    f = fb.field
    d: dict = {"key": f.key, "kind": f.kind, "privacy": f.privacy, "label": f.label, "short": f.title}
    d["bbox"] = _r(fb.bbox)
    if f.privacy == "progress":
        d["sections"] = dict(f.sections or {})
    if f.kind in ("checkbox", "choice", "scale"):
        d["options"] = [{"value": v, "bbox": _r(b)} for v, b in fb.options]
    if f.kind == "choice":
        d["multiple"] = bool(f.multiple)
        labels = {o.value: o.label for o in f.options or ()}
        for o in d["options"]:
            o["label"] = labels[o["value"]]
    if f.kind == "scale":
        d["min"], d["max"] = f.min, f.max
    if f.kind == "digits":
        d["cells"] = [_r(b) for b in fb.cells]
        if f.min is not None or f.max is not None:
            d["min"], d["max"] = f.min, f.max
    if f.kind in ("line", "text"):
        d["lines"] = [_r(b) for b in fb.lines]
        d["baselines"] = [round(y, 2) for y in fb.rules]
    if f.help:
        d["help"] = f.help
    d["carry_forward"] = f.carry_forward
    if fb.carry_bbox is not None:
        d["carry_bbox"] = _r(fb.carry_bbox)
    return d


def layout(template: Template, page_size: str = "letter") -> dict:
    """The geometry export (SPEC section 3): JSON-serialisable, points, origin top-left."""
    pages = []
    for pl in page_layouts(template, page_size):
        pages.append(
            {
                "number": pl.number,
                "title": pl.title,
                "privacy": pl.privacy,
                "markers": [{"id": mid, "corner": c, "bbox": _r(b)} for mid, c, b in pl.markers],
                "qr": _r(pl.qr),
                "header": {k: _r(b) for k, b in pl.header.items()},
                "header_cells": {k: [_r(b) for b in v] for k, v in pl.header_cells.items()},
                "date_order": pl.date_order,
                "sheet_id": _r(pl.sheet_id),
                "fields": [_field_json(fb) for fb in pl.fields],
            }
        )
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
