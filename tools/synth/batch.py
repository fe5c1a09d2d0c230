"""A day's batch as a scanner would deliver it: filled pages, degraded, shuffled, one PDF.

Each PDF page is one embedded grayscale JPEG, sized from its resolution, the
way sheet-fed scanners write PDFs (what ``scanner/pages.py`` takes out as is).
Duplex backs are blank pages. The expected values come out with the PDF.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pikepdf

from forms.geometry import PAGE_SIZES, layout
from forms.model import Template, get_template
from forms.payload import SHEET_ID_ALPHABET, SHEET_ID_LENGTH
from forms.render import SheetSpec

from .degrade import add_noise, blur, degrade
from .handwriting import random_writer
from .page import fill_page, printed_pages, write_header
from .values import random_values

__all__ = ["blank_page", "encode_jpeg", "make_batch", "pages_to_pdf", "random_sheets", "seeded_sheet_id"]


def encode_jpeg(gray: np.ndarray, quality: int) -> bytes:
    """A grayscale image as baseline JPEG bytes."""
    ok, data = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def pages_to_pdf(pages: Sequence[tuple[bytes, int, int, float]]) -> bytes:
    """One PDF page per ``(jpeg bytes, width px, height px, dpi)``, each a single full-page image."""
    pdf = pikepdf.new()
    for data, w, h, dpi in pages:
        image = pikepdf.Stream(pdf, data)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = w, h, 8
        image.ColorSpace, image.Filter = pikepdf.Name.DeviceGray, pikepdf.Name.DCTDecode
        pw, ph = w * 72.0 / dpi, h * 72.0 / dpi
        content = pikepdf.Stream(pdf, f"q {pw:.3f} 0 0 {ph:.3f} 0 0 cm /Im0 Do Q".encode())
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, round(pw, 3), round(ph, 3)],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
            Contents=content,
        )
        pdf.pages.append(pikepdf.Page(page))
    buf = io.BytesIO()
    pdf.save(buf, deterministic_id=True)
    return buf.getvalue()


def blank_page(rng: np.random.Generator, dpi: float = 300, page_size: str = "letter") -> np.ndarray:
    """The back of a sheet: paper white with faint fibre texture and a little show-through."""
    w, h = (int(round(v * dpi / 72)) for v in PAGE_SIZES[page_size])
    paper = np.full((h, w), rng.uniform(243, 252), np.float32)
    # Show-through of the front's markers and rules: very faint, blurred blocks.
    ghost = np.zeros((h, w), np.float32)
    m = int(0.15 * dpi)
    for x, y in ((m, m), (w - 2 * m, m), (m, h - 2 * m), (w - 2 * m, h - 2 * m)):
        ghost[y : y + int(0.43 * dpi), x : x + int(0.43 * dpi)] = 1.0
    paper -= rng.uniform(2, 6) * blur(ghost, 0.02 * dpi)
    return add_noise(np.clip(paper, 0, 255).astype(np.uint8), 1.5, rng)


def seeded_sheet_id(rng: np.random.Generator) -> str:
    """A sheet id like ``forms.payload.new_sheet_id``, but drawn from ``rng`` (reproducible)."""
    return "".join(SHEET_ID_ALPHABET[int(i)] for i in rng.integers(len(SHEET_ID_ALPHABET), size=SHEET_ID_LENGTH))


def random_sheets(
    count: int, rng: np.random.Generator, template: str | Template = "session", date: str = "2025-03-04"
) -> list[SheetSpec]:
    """``count`` printed sheets for invented clients (codes like ``C-104``), one date, seeded ids."""
    sheets = []
    for _ in range(count):
        client = f"{'CKMRT'[int(rng.integers(5))]}-{int(rng.integers(100, 1000))}"
        sheets.append(SheetSpec(seeded_sheet_id(rng), template, client=client, date=date, session=int(rng.integers(1, 40))))
    return sheets


def _preset_for(presets, index: int, rng: np.random.Generator) -> dict:
    """The degradation of page ``index``: ``{"preset": name, **overrides for degrade()}``."""
    if isinstance(presets, (str, dict)) and not (isinstance(presets, dict) and "preset" not in presets):
        choice = presets
    elif isinstance(presets, Mapping):  # weights
        names = list(presets)
        p = np.array([presets[n] for n in names], float)
        choice = names[int(rng.choice(len(names), p=p / p.sum()))]
    else:
        choice = presets[index % len(presets)]
    return {"preset": choice} if isinstance(choice, str) else dict(choice)


def make_batch(
    sheets: Sequence[SheetSpec],
    rng: np.random.Generator,
    presets: str | dict | Sequence[str | dict] | Mapping[str, float] = "scanner",
    blank_pages: int = 1,
    dpi: float = 300,
    page_size: str = "letter",
    values: Mapping[tuple[str, int], dict] | None = None,
    headers: Mapping[str, dict] | None = None,
    out_path: str | Path | None = None,
) -> tuple[bytes, list[dict]]:
    """Fill every page of ``sheets``, add ``blank_pages`` backs, degrade, shuffle; return (PDF, expected).

    ``presets``: one preset for all pages, a list applied in page order (sheet
    pages first, then blank pages; cycled), or weights to draw from
    (``{"scanner": 0.9, "phone": 0.1}``). A preset is a name or a dict naming
    it with fixed parameters: ``{"preset": "scanner", "quarter_turns": 2,
    "out_dpi": 300, "quality": 75}`` (see :func:`degrade`).
    ``values`` may fix the values of (sheet_id, page); others are random.
    ``headers`` maps sheet_id to the handwritten header of a blank sheet.
    ``expected`` has one entry per PDF page, in PDF order: source_index,
    sheet_id, page, template, values, expected_flags, degradation, blank,
    writer, marks (and header when handwritten). Nothing touches disk unless
    ``out_path`` is given.
    """
    encoded: list[tuple[tuple[bytes, int, int, float], dict]] = []
    layouts: dict[str, dict] = {}
    index = 0
    for sheet in sheets:
        template = sheet.template if isinstance(sheet.template, Template) else get_template(sheet.template)
        geometry = layouts.setdefault(template.name, layout(template, page_size))
        writer = random_writer(rng)  # one hand per sheet
        for number, gray in enumerate(printed_pages([sheet], dpi, page_size), start=1):
            page_layout = geometry["pages"][number - 1]
            page_values = (values or {}).get((sheet.sheet_id, number)) or random_values(page_layout, rng)
            entry = {"sheet_id": sheet.sheet_id, "page": number, "template": template.name, "blank": False}
            entry.update(fill_page(gray, page_layout, page_values, rng, dpi, writer))
            if headers and sheet.sheet_id in headers:
                entry["header"] = write_header(gray, page_layout, headers[sheet.sheet_id], writer, rng, dpi)
            encoded.append(_degrade_page(gray, _preset_for(presets, index, rng), rng, dpi, entry))
            index += 1
    for _ in range(blank_pages):
        entry = {"sheet_id": None, "page": None, "template": None, "blank": True, "values": {}, "expected_flags": {}}
        gray = blank_page(rng, dpi, page_size)
        encoded.append(_degrade_page(gray, _preset_for(presets, index, rng), rng, dpi, entry))
        index += 1
    order = rng.permutation(len(encoded))
    pages, expected = [], []
    for source_index, i in enumerate(order):
        page, entry = encoded[int(i)]
        pages.append(page)
        expected.append({"source_index": source_index, **entry})
    pdf = pages_to_pdf(pages)
    if out_path is not None:
        # A scan stands for a day's session notes: created 0600, like everything Inklock writes for its user.
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pdf)
        os.chmod(out_path, 0o600)
    return pdf, expected


def _degrade_page(gray: np.ndarray, preset: dict, rng: np.random.Generator, dpi: float, entry: dict):
    """Degrade and encode at once, so a long batch holds JPEG bytes, not full rasters."""
    options = dict(preset)
    out, record = degrade(gray, options.pop("preset"), rng, dpi, **options)
    entry["degradation"] = record
    h, w = out.shape[:2]
    return (encode_jpeg(out, record["jpeg_quality"]), w, h, float(record["dpi"])), entry
