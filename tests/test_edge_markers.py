"""Pages whose markers reach or leave the scan's edge.

Markers need paper round them to be detected. A page cropped to its content
leaves the corner markers touching the image's edge: they are looked for again
inside a border of paper. A marker the edge cuts is never used (its corners
would be wrong: ticks were read wrong with confidence). A page without a usable
marker (turned inside the scanner's frame, trimmed) is placed by its QR code
alone, flagged so that nothing on it is trusted; those pages went unmatched.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import tools.synth as synth

SHEET = "M4RK3R2E"


@pytest.fixture(scope="module")
def page():
    from forms.render import SheetSpec

    gray, _expected = synth.make_sheet_page("session", SheetSpec(SHEET, "session", client="C-021", date="2026-12-02",
                                                                session=2), 1, None, np.random.default_rng(9))
    return gray, _marks(_read(gray))


def _read(gray: np.ndarray):
    from scanner.ingest.pipeline import build_registry
    from scanner.ingest.read import Reader

    registry, codes = build_registry()
    return Reader(registry, {SHEET: "letter"}, codes, blank_sheets=frozenset()).process("scan", "0" * 64, 0, gray)


def _marks(read) -> dict:
    """The page's ticks and bubbles as read: key -> value."""
    return {f.key: f.value for f in read.fields if f.kind in ("checkbox", "choice", "scale")}


def _same(read, upright: dict) -> int:
    """How many ticks and bubbles read as on the page scanned whole and straight."""
    marks = _marks(read)
    return sum(marks.get(k, "missing") == v for k, v in upright.items())


def test_a_page_cropped_to_its_ink_with_a_little_paper_left_is_read_as_usual(page):
    from scanner.ingest import register as reg

    gray, upright = page
    ys, xs = np.where(gray < 128)
    cropped = gray[ys.min() - 3:ys.max() + 4, xs.min() - 3:xs.max() + 4].copy()
    assert len(reg.find_markers(cropped)) == 4
    read = _read(cropped)
    assert read.status == "identified" and read.sheet_id == SHEET
    assert "poor_registration" not in read.flags and "markers_missing" not in read.flags
    assert upright and _same(read, upright) == len(upright)


def test_markers_the_scan_edge_cuts_are_not_used(page):
    from scanner.ingest import register as reg

    gray, _upright = page
    w = gray.shape[1]
    cut = round(9.75 / 25.4 * 300)  # markers sit 9 mm from the paper's edge: 0.75 mm of each is cut off
    trimmed = gray[:, cut:w - cut].copy()
    assert reg.find_markers(trimmed) == []


@pytest.mark.parametrize("how", ["turned", "trimmed"])
def test_a_page_without_a_usable_marker_is_placed_by_its_qr_code_and_trusted_nowhere(page, how):
    gray, upright = page
    h, w = gray.shape
    if how == "turned":  # 8 degrees inside the scanner's frame, its dark lid round it: every corner is cut off
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 1.0)
        scan = cv2.warpAffine(gray, turn, (w, h), borderValue=50)
    else:
        scan = gray[:, int(0.05 * w):w - int(0.05 * w)].copy()
    read = _read(scan)
    assert read.status == "identified" and read.sheet_id == SHEET
    assert {"markers_missing", "poor_registration"} <= set(read.flags)
    assert read.fields and max(f.confidence for f in read.fields) <= 0.5
    assert upright and _same(read, upright) >= 0.9 * len(upright)


def test_ingest_says_which_pages_were_placed_only_roughly(page, vault, cli, tmp_path):
    import json

    from scanner.vault import store

    store.register_sheet(vault, sheet_id=SHEET, template="session", template_version=1, page_size="letter",
                         client="C-021", date="2026-12-02", session_number=2)
    gray, _upright = page
    w = gray.shape[1]
    cv2.imwrite(str(tmp_path / "trimmed.png"), gray[:, int(0.05 * w):w - int(0.05 * w)])
    run = cli("ingest", tmp_path / "trimmed.png", "--json", "--workers", "1")
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["identified"] == 1
    [problem] = [p for p in summary["problems"] if "only roughly" in p]
    assert "trimmed.png: page(s) 1 " in problem
