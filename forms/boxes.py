"""What a laid-out page is made of: printed strings, field boxes, whole pages.

:mod:`forms.geometry` builds the page frame, :mod:`forms.flow` places the
fields; both fill these types, the renderer draws them and the scanner reads
them (through :mod:`forms.catalog`). Coordinates are PDF points, origin
top-left, y downward.

:meth:`FieldBox.export` and :meth:`PageLayout.export` give the geometry export
(SPEC section 3, rounded to 0.01 pt). Both types are also read-only mappings of
that export (``fb["bbox"]``, ``pl["fields"]``): a bridge for code that still
reads the old dict; new code reads attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import Any

from reportlab.pdfbase.pdfmetrics import stringWidth

from forms.model import Field

__all__ = ["FONT", "FONT_BOLD", "FONT_ITALIC", "FONT_MONO", "MM", "Box", "FieldBox", "PageLayout", "Text"]

MM = 72 / 25.4

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
FONT_ITALIC = "Helvetica-Oblique"
FONT_MONO = "Courier-Bold"

Box = tuple[float, float, float, float]


def _r(box: Box) -> list[float]:
    return [round(v, 2) for v in box]


def _rb(box: Box) -> Box:
    x0, y0, x1, y1 = (round(v, 2) for v in box)
    return (x0, y0, x1, y1)


class ExportView(Mapping[str, Any]):
    """A read-only mapping of the object's geometry export (computed once, on first use)."""

    def export(self) -> dict[str, Any]:
        raise NotImplementedError

    def _view(self) -> dict[str, Any]:
        cached = self.__dict__.get("_export")
        if cached is None:
            cached = self.__dict__["_export"] = self.export()
        return cached

    def __getitem__(self, key: str) -> Any:
        return self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())


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


@dataclass(eq=False)
class FieldBox(ExportView):
    """Where one field sits: its writing area and the parts a reader looks at."""

    field: Field
    bbox: Box
    options: list[tuple[str, Box]] = dc_field(default_factory=list)  # checkbox/choice/scale boxes
    cells: list[Box] = dc_field(default_factory=list)  # digits
    lines: list[Box] = dc_field(default_factory=list)  # text: one box per ruled line; line: one
    rules: list[float] = dc_field(default_factory=list)  # y of each printed writing rule
    carry_bbox: Box | None = None

    @property
    def key(self) -> str:
        return self.field.key

    @property
    def kind(self) -> str:
        return self.field.kind

    def rounded(self) -> FieldBox:
        """A copy with every coordinate rounded to 0.01 pt, as in the export (what the scanner reads)."""
        return replace(
            self,
            bbox=_rb(self.bbox),
            options=[(v, _rb(b)) for v, b in self.options],
            cells=[_rb(b) for b in self.cells],
            lines=[_rb(b) for b in self.lines],
            rules=[round(y, 2) for y in self.rules],
            carry_bbox=None if self.carry_bbox is None else _rb(self.carry_bbox),
        )

    def export(self) -> dict[str, Any]:
        """This field in the geometry export (SPEC section 3)."""
        f = self.field
        d: dict[str, Any] = {"key": f.key, "kind": f.kind, "privacy": f.privacy, "label": f.label, "short": f.title}
        d["bbox"] = _r(self.bbox)
        if f.privacy == "progress":
            d["sections"] = dict(f.sections or {})
        if f.kind in ("checkbox", "choice", "scale"):
            d["options"] = [{"value": v, "bbox": _r(b)} for v, b in self.options]
        if f.kind == "choice":
            d["multiple"] = bool(f.multiple)
            labels = {o.value: o.label for o in f.options or ()}
            for o in d["options"]:
                o["label"] = labels[o["value"]]
        if f.kind == "scale":
            d["min"], d["max"] = f.min, f.max
        if f.kind == "digits":
            d["cells"] = [_r(b) for b in self.cells]
            if f.min is not None or f.max is not None:
                d["min"], d["max"] = f.min, f.max
        if f.kind in ("line", "text"):
            d["lines"] = [_r(b) for b in self.lines]
            d["baselines"] = [round(y, 2) for y in self.rules]
        if f.help:
            d["help"] = f.help
        d["carry_forward"] = f.carry_forward
        if self.carry_bbox is not None:
            d["carry_bbox"] = _r(self.carry_bbox)
        return d


@dataclass(eq=False)
class PageLayout(ExportView):
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

    def field(self, key: str) -> FieldBox | None:
        """The box of field ``key`` on this page (None when it is on another page)."""
        return next((fb for fb in self.fields if fb.field.key == key), None)

    def marker_box(self, marker_id: int) -> Box:
        """Where marker ``marker_id`` sits (KeyError when it is not on this page)."""
        for mid, _corner, box in self.markers:
            if mid == marker_id:
                return box
        raise KeyError(marker_id)

    def rounded(self) -> PageLayout:
        """A copy with every coordinate rounded to 0.01 pt, as in the export (what the scanner reads)."""
        return replace(
            self,
            markers=[(mid, c, _rb(b)) for mid, c, b in self.markers],
            qr=_rb(self.qr),
            header={k: _rb(b) for k, b in self.header.items()},
            header_cells={k: [_rb(b) for b in v] for k, v in self.header_cells.items()},
            sheet_id=_rb(self.sheet_id),
            content=_rb(self.content),
            fields=[fb.rounded() for fb in self.fields],
        )

    def export(self) -> dict[str, Any]:
        """This page in the geometry export (SPEC section 3)."""
        return {
            "number": self.number,
            "title": self.title,
            "privacy": self.privacy,
            "markers": [{"id": mid, "corner": c, "bbox": _r(b)} for mid, c, b in self.markers],
            "qr": _r(self.qr),
            "header": {k: _r(b) for k, b in self.header.items()},
            "header_cells": {k: [_r(b) for b in v] for k, v in self.header_cells.items()},
            "date_order": self.date_order,
            "sheet_id": _r(self.sheet_id),
            "fields": [fb.export() for fb in self.fields],
        }
