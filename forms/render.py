"""Render sheets to PDF with ReportLab, drawing exactly the geometry of :mod:`forms.geometry`.

Each template page's static content (markers, guides, labels) is drawn once per
document as a PDF form XObject and stamped on every sheet; only the header
values, sheet id, QR code and carried-forward text are drawn per sheet. That
keeps a 20-client packet well under the 2 s target.

Ink: guides (boxes, bubbles, cells, rules) are light grey so a scanner can
drop them; labels are dark and always outside field boxes; markers and the QR
code are solid black vector squares with at least 8 mm of white around them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Mapping

import cv2
import segno
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from forms.errors import SheetError
from forms.geometry import (
    FONT,
    FONT_BOLD,
    FONT_ITALIC,
    FONT_MONO,
    KEEP,
    MARKER_MARGIN,
    PAGE_SIZES,
    Box,
    PageLayout,
    Text,
    page_layouts,
)
from forms.model import Template, get_template
from forms.payload import PACKET_CREATOR, PACKET_TITLE, encode

__all__ = ["SheetSpec", "render_sheets", "GUIDE_GREY", "RULE_GREY"]

GUIDE_GREY = 0.6  # tick boxes, bubbles, digit cells
RULE_GREY = 0.68  # writing rules
CARRY_FILL = 0.93
CARRY_TEXT = 0.22
GUIDE_WIDTH = 0.9
RULE_WIDTH = 0.6
CARRY_SIZE = 7.5
_DATE_HINT = {"MDY": "MM DD YYYY", "DMY": "DD MM YYYY", "YMD": "YYYY MM DD"}


@dataclass(frozen=True)
class SheetSpec:
    """One sheet to print. ``client`` None makes a blank sheet (header written by hand).

    ``carry`` maps a carry-forward field key to (text, date it was written) from
    the client's last confirmed session. ``notes`` maps a group heading to a
    short line printed at the right of that heading (the last session's risk
    screen beside the risk screen).
    """

    sheet_id: str
    template: Template | str
    client: str | None = None
    date: str | dt.date | None = None
    session: int | None = None
    carry: Mapping[str, tuple[str, str | dt.date | None]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)


def _safe(text: str) -> str:
    """Text the standard PDF fonts can show (they cover Windows-1252 only)."""
    text = " ".join(str(text).split())
    return text.encode("cp1252", "replace").decode("cp1252")


def _nice_date(value: str | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return _safe(str(value))
    # Day and month name: unambiguous on both sides of the Atlantic.
    return value.strftime("%a %d %b %Y")


class _Painter:
    """Draws on a ReportLab canvas in top-left coordinates."""

    def __init__(self, c: Canvas, height: float):
        self.c, self.h = c, height

    def rect(self, b: Box, stroke: float | None = None, fill: float | None = None, width: float = GUIDE_WIDTH) -> None:
        c = self.c
        if stroke is not None:
            c.setStrokeGray(stroke)
            c.setLineWidth(width)
        if fill is not None:
            c.setFillGray(fill)
        c.rect(b[0], self.h - b[3], b[2] - b[0], b[3] - b[1], stroke=int(stroke is not None), fill=int(fill is not None))

    def circle(self, b: Box, grey: float) -> None:
        self.c.setStrokeGray(grey)
        self.c.setLineWidth(GUIDE_WIDTH)
        self.c.circle((b[0] + b[2]) / 2, self.h - (b[1] + b[3]) / 2, (b[2] - b[0]) / 2, stroke=1, fill=0)

    def hline(self, x0: float, y: float, x1: float, grey: float, width: float) -> None:
        self.c.setStrokeGray(grey)
        self.c.setLineWidth(width)
        self.c.line(x0, self.h - y, x1, self.h - y)

    def text(self, t: Text) -> None:
        c = self.c
        c.setFont(t.font, t.size)
        c.setFillGray(t.grey)
        s = _safe(t.text)
        if t.align == "right":
            c.drawRightString(t.x, self.h - t.y, s)
        elif t.align == "centre":
            c.drawCentredString(t.x, self.h - t.y, s)
        else:
            c.drawString(t.x, self.h - t.y, s)

    def bits(self, grid, x0: float, y0: float, cell: float) -> None:
        """Fill the dark cells of a bit grid as one path (no seams between neighbours)."""
        path = self.c.beginPath()
        for r, row in enumerate(grid):
            c0 = None
            for k in range(len(row) + 1):
                dark = k < len(row) and row[k]
                if dark and c0 is None:
                    c0 = k
                elif not dark and c0 is not None:
                    path.rect(x0 + c0 * cell, self.h - (y0 + (r + 1) * cell), (k - c0) * cell, cell)
                    c0 = None
        self.c.setFillGray(0)
        self.c.drawPath(path, stroke=0, fill=1)


_MARKER_BITS: dict[int, list[list[bool]]] = {}


def _marker_bits(marker_id: int) -> list[list[bool]]:
    """The 6x6 bit grid (border included) of an ArUco DICT_4X4_50 marker; True = black."""
    if marker_id not in _MARKER_BITS:
        d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
        img = cv2.aruco.generateImageMarker(d, marker_id, 6, borderBits=1)
        _MARKER_BITS[marker_id] = [[v < 128 for v in row] for row in img]
    return _MARKER_BITS[marker_id]


def _qr_bits(payload: str) -> list[list[bool]]:
    qr = segno.make(payload, error="q", version=2, micro=False, boost_error=False)
    if qr.mode != "alphanumeric":  # the payload grammar guarantees it; a guard against future edits
        raise SheetError(f"QR payload {payload!r} is not in alphanumeric mode")
    return [[bool(v) for v in row] for row in qr.matrix]


def _draw_static(p: _Painter, pl: PageLayout, template: Template) -> None:
    """Everything that is the same on every sheet of this template page."""
    for mid, _corner, b in pl.markers:
        p.bits(_marker_bits(mid), b[0], b[1], (b[2] - b[0]) / 6)
    w, _h = pl.size
    title_x = KEEP
    title_room = pl.sheet_id[0] - 12 - title_x
    title = _fit(template.title, FONT_BOLD, 15, title_room)
    p.text(Text(title_x, MARKER_MARGIN + 12, title, FONT_BOLD, 15, 0.0))
    n = len(template.pages)
    sub = _fit(f"Page {pl.number} of {n}  ·  {pl.title}", FONT_BOLD, 8.5, title_room)
    p.text(Text(title_x, MARKER_MARGIN + 26, sub, FONT_BOLD if pl.privacy == "private" else FONT, 8.5, 0.2))
    for x0, y, x1 in pl.rules:
        p.hline(x0, y, x1, 0.35, 0.7)
    for fb in pl.fields:
        kind = fb.field.kind
        if fb.carry_bbox is not None:
            p.rect(fb.carry_bbox, fill=CARRY_FILL)
        if kind == "scale":
            for _v, b in fb.options:
                p.circle(b, GUIDE_GREY)
        elif kind in ("checkbox", "choice"):
            for _v, b in fb.options:
                p.rect(b, stroke=GUIDE_GREY)
        elif kind == "digits":
            for b in fb.cells:
                p.rect(b, stroke=GUIDE_GREY)
        else:
            for line, y in zip(fb.lines, fb.rules):
                p.hline(line[0], y, line[2], RULE_GREY, RULE_WIDTH)
    for t in pl.texts:
        p.text(t)
    if pl.privacy == "private":
        p.text(Text(w / 2, pl.size[1] - 47, "Private psychotherapy notes: kept apart from the clinical record, "
                    "never used in a progress note.", FONT_ITALIC, 7, 0.3, "centre"))
    if any(fb.field.kind in ("checkbox", "choice", "scale") for fb in pl.fields):
        # How to mark and how to cancel, in the words OMR reads (scanner.ingest.omr: a box blacked out cancels it).
        y = pl.size[1] - (56 if pl.privacy == "private" else 47)
        p.text(Text(w / 2, y, MARK_HOW, FONT_ITALIC, 7, 0.3, "centre"))


MARK_HOW = ("To mark: tick or cross a box, fill a bubble.  To cancel a mark: scribble its box out completely, "
            "then mark the right one.")


def _fit(text: str, font: str, size: float, room: float) -> str:
    """``text`` cut with an ellipsis to fit ``room`` points."""
    text = _safe(text)
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "...", font, size) > room:
        text = text[:-1]
    return text.rstrip() + "..."


def _draw_sheet_page(p: _Painter, pl: PageLayout, template: Template, sheet: SheetSpec) -> None:
    """The per-sheet parts: header values or boxes, sheet id, QR code, carried-forward text."""
    w, h = pl.size
    for key, b in pl.header.items():
        hint = f" ({_DATE_HINT[pl.date_order]})" if key == "date" and sheet.client is None else ""
        p.text(Text(b[0], b[1] - 4, key.upper() + hint, FONT_BOLD, 6.5, 0.3))
    if sheet.client is None:
        p.rect(pl.header["client"], stroke=GUIDE_GREY)
        for b in pl.header_cells["date"] + pl.header_cells["session"]:
            p.rect(b, stroke=GUIDE_GREY)
    else:
        for key, value in (("client", sheet.client), ("date", _nice_date(sheet.date)), ("session", sheet.session)):
            b = pl.header[key]
            room = (pl.header["session"][2] - b[0]) if key == "session" else (b[2] - b[0])
            text = _fit("" if value is None else str(value), FONT_BOLD, 12, room)
            p.text(Text(b[0] + 1, b[3] - 7, text, FONT_BOLD, 12, 0.0))
    sb = pl.sheet_id
    p.text(Text(sb[2], sb[3] - 2, f"SHEET {sheet.sheet_id}", FONT_MONO, 11, 0.0, "right"))
    qr = pl.qr
    bits = _qr_bits(encode(template.code, template.version, sheet.sheet_id, pl.number))
    p.bits(bits, qr[0], qr[1], (qr[2] - qr[0]) / len(bits))
    footer = (f"Inklock  ·  {template.title} ({template.code} v{template.version})"
              f"  ·  sheet {sheet.sheet_id}  ·  page {pl.number} of {len(template.pages)}")
    p.text(Text(w / 2, h - 36, footer, FONT, 7, 0.35, "centre"))
    for fb in pl.fields:
        if fb.carry_bbox is not None:
            _draw_carry(p, fb.carry_bbox, fb.field.key, sheet)
    for t in pl.texts:  # a note at the right of a group heading
        if t.font == FONT_BOLD and t.text in sheet.notes:
            room = pl.content[2] - t.x - stringWidth(t.text, FONT_BOLD, t.size) - 12
            p.text(Text(pl.content[2], t.y, _fit(sheet.notes[t.text], FONT, CARRY_SIZE, room), FONT, CARRY_SIZE,
                        CARRY_TEXT, "right"))


def _draw_carry(p: _Painter, b: Box, key: str, sheet: SheetSpec) -> None:
    if key in sheet.carry:
        text, when = sheet.carry[key]
        head = f"From last time ({_nice_date(when)}): " if when else "From last time: "
        body = _safe(text or "") or "nothing recorded."
    elif sheet.client is None:
        head, body = "From last time: ", "blank sheet; see this client's last session."
    else:
        head, body = "From last time: ", "nothing recorded."
    room = b[2] - b[0] - 8
    lines = simpleSplit(head + body, FONT, CARRY_SIZE, room)
    if len(lines) > 2:
        lines = [lines[0], _fit(" ".join(lines[1:]), FONT, CARRY_SIZE, room)]
        if not lines[1].endswith("..."):
            lines[1] = _fit(lines[1] + " ...", FONT, CARRY_SIZE, room)
    for i, s in enumerate(lines):
        p.text(Text(b[0] + 4, b[1] + 9 + i * 9.5, s, FONT, CARRY_SIZE, CARRY_TEXT))


def _check_sheet(sheet: SheetSpec, template: Template) -> None:
    if not isinstance(sheet.sheet_id, str) or not re.fullmatch(r"[0-9A-Z]{8}", sheet.sheet_id):
        raise SheetError(f"sheet id must be 8 uppercase letters or digits, not {sheet.sheet_id!r}")
    carry_keys = {f.key for f in template.fields if f.carry_forward}
    for key in sheet.carry:
        if key not in carry_keys:
            raise SheetError(f"template '{template.name}' has no carry-forward field '{key}'")


def render_sheets(
    sheets: Iterable[SheetSpec],
    out_path: str | Path | BinaryIO,
    page_size: str = "letter",
    extra_dirs: Iterable[str | Path] = (),
) -> int:
    """Write every page of every sheet to one PDF (a path or a binary file object); returns pages written.

    Raises SheetError for an inconsistent sheet and TemplateError for a template
    that does not lay out on ``page_size``.
    """
    if page_size not in PAGE_SIZES:
        raise SheetError(f"unknown page size '{page_size}' (use {', '.join(PAGE_SIZES)})")
    w, h = PAGE_SIZES[page_size]
    target = str(out_path) if isinstance(out_path, Path) else out_path
    c = Canvas(target, pagesize=(w, h), invariant=1, pageCompression=1)
    c.setTitle(PACKET_TITLE)  # also how ingest knows a packet that was never printed (scanner.ingest.pages)
    c.setCreator(PACKET_CREATOR)
    painter = _Painter(c, h)
    layouts: dict[int, tuple[Template, list[PageLayout]]] = {}
    drawn_forms: set[str] = set()
    pages = 0
    for sheet in sheets:
        template = sheet.template if isinstance(sheet.template, Template) else get_template(sheet.template, extra_dirs)
        _check_sheet(sheet, template)
        entry = layouts.get(id(template))
        if entry is None:
            entry = layouts[id(template)] = (template, page_layouts(template, page_size))
        for pl in entry[1]:
            name = f"{template.code}v{template.version}p{pl.number}"
            if name not in drawn_forms:
                c.beginForm(name)
                _draw_static(painter, pl, template)
                c.endForm()
                drawn_forms.add(name)
            c.doForm(name)
            _draw_sheet_page(painter, pl, template, sheet)
            c.showPage()
            pages += 1
    if pages == 0:
        raise SheetError("no sheets to print")
    c.save()
    return pages
