"""A scan cropped to its content (scanner auto-crop) still has its markers found.

Markers need paper round them to be detected. Cropping a page to its ink leaves
the corner markers touching the image's edge; the page used to go unmatched
("no registration markers were found"). It is now read like any other page.
"""

from __future__ import annotations

import numpy as np
import pytest

import tools.synth as synth

SHEET = "M4RK3R2E"


@pytest.fixture(scope="module")
def page():
    from forms.render import SheetSpec

    gray, expected = synth.make_sheet_page("session", SheetSpec(SHEET, "session", client="C-021", date="2026-12-02",
                                                                session=2), 1, None, np.random.default_rng(9))
    return gray, expected


def _cropped_to_ink(gray: np.ndarray, into: int = 0) -> np.ndarray:
    ys, xs = np.where(gray < 128)
    return gray[ys.min() + into:ys.max() + 1 - into, xs.min() + into:xs.max() + 1 - into].copy()


@pytest.mark.parametrize("into", [0, 2])
def test_a_page_cropped_to_its_ink_is_identified_and_read(page, into):
    from scanner.ingest import register as reg
    from scanner.ingest.pipeline import build_registry
    from scanner.ingest.read import Reader

    gray, expected = page
    cropped = _cropped_to_ink(gray, into)
    assert len(reg.find_markers(cropped)) == 4
    registry, codes = build_registry()
    read = Reader(registry, {SHEET: "letter"}, codes, blank_sheets=frozenset()).process("scan", "0" * 64, 0, cropped)
    assert read.status == "identified" and read.sheet_id == SHEET
    assert "poor_registration" not in read.flags
    ticks = {f.key: f.value for f in read.fields if isinstance(f.value, bool)}
    want = {k: v for k, v in expected["values"].items() if k in ticks}
    assert ticks and ticks == want
