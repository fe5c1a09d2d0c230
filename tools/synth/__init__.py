"""Synthetic filled-and-scanned pages for tests and benchmarks.

Handwriting from Debian's handwriting fonts, tick marks drawn as pen strokes,
degradations of scanners and phone cameras, and batches shuffled into one PDF
with the values a reader should find. Deterministic for a seed
(``np.random.default_rng(seed)``) on a given machine's fonts and libraries.

Use from tests as ``synth`` (pytest puts ``tests/`` on the path) and from
benchmarks and tools as ``tests.synth`` (repository root on the path).
"""

from .batch import blank_page, encode_jpeg, make_batch, pages_to_pdf, random_sheets, seeded_sheet_id
from .degrade import PRESETS, add_noise, blur, degrade, jpeg, phone_photo, rescale, rotate, uneven_light
from .handwriting import Writer, handwriting_fonts, random_writer, write_digits, write_line, write_lines
from .marks import MARK_STYLES, draw_mark
from .page import fill_page, make_sheet_page, printed_pages, to_px, write_header
from .values import plan_marks, random_values

__all__ = [
    "MARK_STYLES",
    "PRESETS",
    "Writer",
    "add_noise",
    "blank_page",
    "blur",
    "degrade",
    "draw_mark",
    "encode_jpeg",
    "fill_page",
    "handwriting_fonts",
    "jpeg",
    "make_batch",
    "make_sheet_page",
    "pages_to_pdf",
    "phone_photo",
    "plan_marks",
    "printed_pages",
    "random_sheets",
    "random_values",
    "random_writer",
    "rescale",
    "rotate",
    "seeded_sheet_id",
    "to_px",
    "uneven_light",
    "write_digits",
    "write_header",
    "write_line",
    "write_lines",
]
