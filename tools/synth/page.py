"""A printed sheet page filled in by a synthetic hand: the printed form plus ink.

The printed page comes from the real renderer (:func:`forms.render.render_sheets`,
rasterised by poppler in memory), so tests see exactly what the clinician's
printer would give. Ink is drawn at the layout's boxes (PDF points, origin
top-left, y down; pixels = points x dpi / 72).
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import numpy as np

from forms.geometry import layout
from forms.model import Template, get_template
from forms.render import SheetSpec, render_sheets

from .handwriting import Writer, as_written, random_writer, write_digits, write_line
from .marks import draw_mark
from .values import plan_marks, random_values

__all__ = ["fill_page", "make_sheet_page", "printed_pages", "to_px", "write_header"]


def to_px(box: list[float] | tuple[float, ...], dpi: float) -> tuple[float, float, float, float]:
    """A box in PDF points (top-left origin) as pixels at ``dpi``."""
    k = dpi / 72.0
    return (box[0] * k, box[1] * k, box[2] * k, box[3] * k)


def printed_pages(sheets: list[SheetSpec], dpi: float = 300, page_size: str = "letter") -> list[np.ndarray]:
    """Every page of ``sheets`` as printed, rasterised to grayscale at ``dpi`` (nothing touches disk).

    poppler's ``pdftoppm`` reads the PDF from a pipe and writes the pages as
    concatenated binary PGMs (pdf2image would spool the PDF to a temp file).
    """
    buf = io.BytesIO()
    render_sheets(sheets, buf, page_size=page_size)
    run = subprocess.run(["pdftoppm", "-gray", "-r", f"{dpi:g}", "-"], input=buf.getvalue(), capture_output=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"pdftoppm failed: {run.stderr.decode(errors='replace').strip()}")
    return _read_pgms(run.stdout)


def _read_pgms(data: bytes) -> list[np.ndarray]:
    """Split concatenated binary PGMs (P5, 8 bit, whitespace-separated header) into arrays."""
    pages, pos = [], 0
    while data[pos:].strip():
        fields: list[bytes] = []
        while len(fields) < 4:  # magic, width, height, maxval
            while data[pos : pos + 1].isspace():
                pos += 1
            end = pos
            while not data[end : end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        pos += 1  # the single whitespace after maxval
        width, height = int(fields[1]), int(fields[2])
        pages.append(np.frombuffer(data, np.uint8, width * height, pos).reshape(height, width).copy())
        pos += width * height
    return pages


def _written(text: str, writer: Writer) -> str:
    return "\n".join(as_written(line, writer) for line in text.split("\n")) if text else text


def fill_page(
    gray: np.ndarray,
    layout_page: dict,
    values: dict,
    rng: np.random.Generator,
    dpi: float = 300,
    writer: Writer | None = None,
    plan: dict | None = None,
) -> dict:
    """Write ``values`` onto a printed page image in place; returns what a reader should find.

    The result holds ``values`` (as written: capitals for a caps-only hand),
    ``expected_flags`` (per field, the flags a reader may raise instead of being
    wrong: ``crossed_out``, ``faint``), ``marks`` (style per tick field) and
    ``writer`` (the font family).
    """
    writer = writer or random_writer(rng)
    plan = plan if plan is not None else plan_marks(layout_page, values, rng)
    expected = dict(values)
    flags: dict[str, list[str]] = {}
    for f in layout_page["fields"]:
        key, kind = f["key"], f["kind"]
        value = values.get(key)
        if kind in ("checkbox", "choice", "scale"):
            boxes = {o["value"]: to_px(o["bbox"], dpi) for o in f["options"]}
            if kind == "checkbox":
                chosen = ["yes"] if value else []
            elif isinstance(value, list):
                chosen = value
            else:
                chosen = [] if value is None else [str(value)]
            entry = plan.get(key, {"style": "check", "crossed_out": None})
            if entry.get("crossed_out"):
                wrong = boxes[entry["crossed_out"]]
                draw_mark(gray, wrong, "check", rng, dpi, writer.ink)
                draw_mark(gray, wrong, "scribble", rng, dpi, writer.ink)
                flags.setdefault(key, []).append("crossed_out")
            for v in chosen:
                draw_mark(gray, boxes[v], entry["style"], rng, dpi, writer.ink)
            if chosen and entry["style"] == "faint":
                flags.setdefault(key, []).append("faint")
        elif kind == "digits" and value:
            write_digits(gray, value, [to_px(c, dpi) for c in f["cells"]], writer, rng)
        elif kind in ("line", "text") and value:
            lines = value.split("\n")
            line_boxes = [to_px(b, dpi) for b in f.get("lines") or [f["bbox"]]]
            bases = [y * dpi / 72.0 for y in f.get("baselines", [])]
            for i, (text, box) in enumerate(zip(lines, line_boxes)):
                # Writers sit their letters on the printed rule, a hair above it.
                base = bases[i] - 0.004 * dpi if i < len(bases) else None
                write_line(gray, text, box, writer, rng, baseline=base)
            expected[key] = _written(value, writer)
    return {"values": expected, "expected_flags": flags, "marks": {k: e["style"] for k, e in plan.items()},
            "writer": writer.font.family}


def write_header(gray: np.ndarray, layout_page: dict, header: dict, writer: Writer, rng: np.random.Generator,
                 dpi: float = 300) -> dict:
    """Handwrite client code, date and session into a blank sheet's header; returns them as written."""
    client = as_written(header["client"], writer)
    write_line(gray, client, to_px(layout_page["header"]["client"], dpi), writer, rng)
    date = header["date"] if isinstance(header["date"], dt.date) else dt.date.fromisoformat(header["date"])
    parts = {"D": f"{date.day:02d}", "M": f"{date.month:02d}", "Y": f"{date.year:04d}"}
    digits = "".join(parts[c] for c in layout_page.get("date_order", "MDY"))
    write_digits(gray, digits, [to_px(c, dpi) for c in layout_page["header_cells"]["date"]], writer, rng)
    cells = layout_page["header_cells"]["session"]
    write_digits(gray, str(header["session"]).zfill(len(cells)), [to_px(c, dpi) for c in cells], writer, rng)
    return {"client": client, "date": date.isoformat(), "session": int(header["session"])}


def make_sheet_page(
    template: Template | str,
    sheet_spec: SheetSpec,
    page_number: int,
    values: dict | None,
    rng: np.random.Generator,
    dpi: float = 300,
    page_size: str = "letter",
    header: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """One page of a sheet, printed and filled in: ``(gray image, expected)``.

    ``values`` None draws random ones (:func:`random_values`). ``header``
    ({"client", "date", "session"}) is handwritten into a blank sheet's header.
    ``expected`` holds sheet_id, template, page, values, expected_flags, marks,
    writer (and header when written).
    """
    template = template if isinstance(template, Template) else get_template(template)
    page_layout = layout(template, page_size)["pages"][page_number - 1]
    gray = printed_pages([sheet_spec], dpi, page_size)[page_number - 1]
    if values is None:
        values = random_values(page_layout, rng)
    writer = random_writer(rng)
    expected = {"sheet_id": sheet_spec.sheet_id, "template": template.name, "page": page_number}
    expected.update(fill_page(gray, page_layout, values, rng, dpi, writer))
    if header is not None:
        expected["header"] = write_header(gray, page_layout, header, writer, rng, dpi)
    return gray, expected
