"""A page whose QR code cannot be read (a pen stroke, a sticky note) is known by its printed sheet id.

The id beside the QR ("SHEET K7Q2M9XD") is read by Tesseract and taken only
when it is a sheet this vault printed; otherwise the page stays unmatched.
"""

from __future__ import annotations

import numpy as np
import pytest

import tools.synth as synth
from tests.helpers import paint_over

SHEET = "K7Q2M9XD"


@pytest.fixture(scope="module")
def page_without_qr():
    from forms.render import SheetSpec
    from scanner.ingest.pipeline import build_registry

    gray, _expected = synth.make_sheet_page("session", SheetSpec(SHEET, "session", client="C-017", date="2026-12-01",
                                                                 session=4), 1, None, np.random.default_rng(5))
    registry, codes = build_registry()
    covered = paint_over(gray, ("qr",), fill=250)  # a sticky note over the QR code; the printed id is left
    return covered, registry, codes


def test_a_page_whose_qr_is_covered_is_known_by_its_printed_sheet_id(page_without_qr):
    from scanner.ingest.read import Reader

    gray, registry, codes = page_without_qr
    read = Reader(registry, {SHEET: "letter", "ZZZZ2222": "letter"}, codes, blank_sheets=frozenset()).process(
        "scan", "0" * 64, 0, gray)
    assert read.status == "identified" and read.sheet_id == SHEET and "qr_unread" in read.flags
    assert read.fields  # read as any page of it


def test_a_printed_id_this_vault_never_printed_leaves_the_page_unmatched(page_without_qr):
    from scanner.ingest.read import Reader

    gray, registry, codes = page_without_qr
    read = Reader(registry, {"ZZZZ2222": "letter"}, codes, blank_sheets=frozenset()).process("scan", "0" * 64, 0, gray)
    assert read.status == "unmatched" and "QR code could not be read" in read.message
