"""Rendered sheets, read back from a 200 dpi raster: markers, QR, and boxes where the geometry says.

Everything stays in memory (PDF bytes, rasters): no health information on disk.
"""

from __future__ import annotations

import io
import itertools
import subprocess

import cv2
import numpy as np
import pytest
import zxingcpp
from pdf2image import convert_from_bytes

from forms.errors import SheetError
from forms.geometry import MM, PAGE_SIZES, page_layouts
from forms.model import get_template
from forms.payload import decode, encode
from forms.render import SheetSpec, render_sheets

DPI = 200
S = DPI / 72  # points -> pixels
TOL = 1.5  # px


def render(sheets, size) -> bytes:
    buf = io.BytesIO()
    render_sheets(sheets, buf, size)
    return buf.getvalue()


def rasters(pdf: bytes) -> list[np.ndarray]:
    return [np.asarray(im.convert("L")) for im in convert_from_bytes(pdf, dpi=DPI)]


@pytest.fixture(scope="module")
def packets():
    """Each built-in template on each page size: one printed sheet and one blank sheet, rasterised once."""
    out = {}
    for name, size in itertools.product(("session", "group"), PAGE_SIZES):
        t = get_template(name)
        carry = {f.key: ("Walk each morning; sleep diary.", "2024-04-26") for f in t.fields if f.carry_forward}
        printed = SheetSpec("K7Q2M9XP", t, client="AB12", date="2024-05-03", session=7, carry=carry)
        blank = SheetSpec("H4N8W2RT", t)
        pdf = render([printed, blank], size)
        out[(name, size)] = (t, pdf, rasters(pdf))
    return out


CASES = list(itertools.product(("session", "group"), PAGE_SIZES))


@pytest.mark.parametrize("name,size", CASES)
def test_every_page_has_four_markers_with_the_template_ids(packets, name, size):
    t, _pdf, images = packets[(name, size)]
    assert len(images) == 2 * len(t.pages)
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), cv2.aruco.DetectorParameters()
    )
    for i, img in enumerate(images):
        pl = page_layouts(t, size)[i % len(t.pages)]
        corners, ids, _ = detector.detectMarkers(img)
        assert ids is not None and sorted(ids.ravel().tolist()) == sorted(m[0] for m in pl.markers)
        assert [m[0] for m in pl.markers] == list(t.pages[i % len(t.pages)].markers)
        found = {int(mid): c.reshape(4, 2) for mid, c in zip(ids.ravel(), corners)}
        for mid, _corner, b in pl.markers:
            quad = found[mid]
            # Upright and where the geometry says: the marker's own top-left corner is the bbox's.
            assert np.allclose(quad[0], (b[0] * S, b[1] * S), atol=3), (mid, quad[0], b)
            assert np.allclose(quad[2], (b[2] * S, b[3] * S), atol=3)
            side_mm = (b[2] - b[0]) / MM
            assert 10 <= side_mm <= 12 and min(b[0], b[1]) / MM >= 8


@pytest.mark.parametrize("name,size", CASES)
def test_every_page_has_a_qr_code_with_its_sheet_and_page(packets, name, size):
    t, _pdf, images = packets[(name, size)]
    n = len(t.pages)
    for i, img in enumerate(images):
        sheet_id = "K7Q2M9XP" if i < n else "H4N8W2RT"
        codes = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        assert len(codes) == 1
        ref = decode(codes[0].text)
        assert (ref.code, ref.version, ref.sheet_id, ref.page) == (t.code, t.version, sheet_id, i % n + 1)
        assert codes[0].text == encode(t.code, t.version, sheet_id, i % n + 1)
        pos = codes[0].position
        width_px = abs(pos.top_right.x - pos.top_left.x)
        assert width_px / S / MM >= 25  # at least 25 mm, so modules are at least 1 mm (25 modules)
        qr = page_layouts(t, size)[i % n].qr
        assert abs(pos.top_left.x - qr[0] * S) < 4 and abs(pos.top_left.y - qr[1] * S) < 4


def test_qr_also_reads_with_opencv(packets):
    _t, _pdf, images = packets[("session", "letter")]
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(images[0])
    assert decode(text).sheet_id == "K7Q2M9XP"


def _edge(img: np.ndarray, pos_px: float, span: tuple[float, float], vertical: bool) -> float:
    """Ink centroid (px) of a guide line near ``pos_px``, measured across ``span`` of the other axis."""
    a, b = int(span[0]), int(span[1])
    lo, hi = int(round(pos_px)) - 3, int(round(pos_px)) + 4
    band = img[a:b, lo:hi] if vertical else img[lo:hi, a:b].T
    dark = 255.0 - band.mean(axis=0)
    dark = np.clip(dark - np.median(dark[[0, -1]]), 0, None)
    assert dark.sum() > 20, "no printed guide found"
    return float((np.arange(lo, hi) + 0.5) @ dark / dark.sum())


def _check_box(img, box):
    x0, y0, x1, y1 = (v * S for v in box)
    my = (y0 + 0.3 * (y1 - y0), y1 - 0.3 * (y1 - y0))
    mx = (x0 + 0.3 * (x1 - x0), x1 - 0.3 * (x1 - x0))
    assert abs(_edge(img, x0, my, True) - x0) <= TOL
    assert abs(_edge(img, x1, my, True) - x1) <= TOL
    assert abs(_edge(img, y0, mx, False) - y0) <= TOL
    assert abs(_edge(img, y1, mx, False) - y1) <= TOL


def _check_bubble(img, box):
    x0, y0, x1, y1 = (v * S for v in box)
    cy = (y0 + y1) / 2
    band = (cy - 2, cy + 3)
    assert abs(_edge(img, x0, band, True) - x0) <= TOL
    assert abs(_edge(img, x1, band, True) - x1) <= TOL


@pytest.mark.parametrize("name,size", CASES)
def test_printed_boxes_line_up_with_the_geometry(packets, name, size):
    t, _pdf, images = packets[(name, size)]
    n = len(t.pages)
    for i, pl in enumerate(page_layouts(t, size)):
        img = images[n + i]  # the blank sheet: header boxes are drawn too
        for fb in pl.fields:
            kind = fb.field.kind
            for _v, b in fb.options:
                (_check_bubble if kind == "scale" else _check_box)(img, b)
            for b in fb.cells:
                _check_box(img, b)
            for line, y in zip(fb.lines, fb.rules):
                got = _edge(img, y * S, (line[0] * S + 5, line[2] * S - 5), False)
                assert abs(got - y * S) <= TOL
        _check_box(img, pl.header["client"])
        for b in pl.header_cells["date"] + pl.header_cells["session"]:
            _check_box(img, b)


@pytest.mark.parametrize("name,size", CASES)
def test_writing_areas_hold_no_dark_print(packets, name, size):
    """A reader cropping a field's bbox sees only light guides, never a printed label."""
    t, _pdf, images = packets[(name, size)]
    for i, pl in enumerate(page_layouts(t, size)):
        img = images[i]
        for fb in pl.fields:
            boxes = [b for _v, b in fb.options] if fb.field.kind == "choice" else [fb.bbox]
            for b in boxes:
                x0, y0, x1, y1 = (int(round(v * S)) for v in b)
                crop = img[y0 - 1:y1 + 2, x0 - 1:x1 + 2]
                assert crop.min() > 110, (fb.field.key, crop.min())
            if fb.carry_bbox:  # the carried text is printed in its own box
                x0, y0, x1, y1 = (int(round(v * S)) for v in fb.carry_bbox)
                assert img[y0:y1, x0:x1].min() < 110


@pytest.mark.parametrize("name,size", CASES)
def test_marker_and_qr_zones_hold_no_other_ink(packets, name, size):
    t, _pdf, images = packets[(name, size)]
    for i, pl in enumerate(page_layouts(t, size)):
        img = images[i]
        for b in [m[2] for m in pl.markers] + [pl.qr]:
            x0, y0, x1, y1 = (int(round(v * S)) for v in b)
            q = int(8 * MM * S) - 2
            ring = img[max(0, y0 - q):y1 + q, max(0, x0 - q):x1 + q].copy()
            ring[y0 - max(0, y0 - q) - 2:y1 - max(0, y0 - q) + 2, x0 - max(0, x0 - q) - 2:x1 - max(0, x0 - q) + 2] = 255
            assert ring.min() > 200


def _pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_header_sheet_id_and_carried_text_are_printed(packets):
    _t, pdf, _images = packets[("session", "letter")]
    text = _pdf_text(pdf)
    assert text.count("SHEET K7Q2M9XP") == 2 and text.count("SHEET H4N8W2RT") == 2
    assert "AB12" in text and "03 May 2024" in text
    assert "From last time (Fri 26 Apr 2024): Walk each morning" in text
    assert "blank sheet" in text  # blank sheets keep the carry box, with no client's text
    assert "DD MM YYYY" not in text and "MM DD YYYY" in text  # blank letter sheets: US date order
    a4 = _pdf_text(packets[("session", "a4")][1])
    assert "DD MM YYYY" in a4


def test_blank_header_has_handwriting_boxes_printed_header_has_values(packets):
    t, _pdf, images = packets[("session", "letter")]
    pl = page_layouts(t, "letter")[0]
    x0, y0, x1, y1 = (int(round(v * S)) for v in pl.header["client"])
    printed, blank = images[0][y0 + 3:y1 - 3, x0 + 3:x1 - 3], images[2][y0 + 3:y1 - 3, x0 + 3:x1 - 3]
    assert printed.min() < 80  # "AB12" in black
    assert blank.min() > 200  # an empty box for the clinician's hand


def test_sheet_errors():
    t = get_template("session")
    with pytest.raises(SheetError, match="carry-forward"):
        render([SheetSpec("K7Q2M9XP", t, client="A1", carry={"mood": ("x", None)})], "letter")
    with pytest.raises(SheetError, match="sheet id"):
        render([SheetSpec("k7q2", t)], "letter")
    with pytest.raises(SheetError, match="page size"):
        render([SheetSpec("K7Q2M9XP", t)], "legal")
    with pytest.raises(SheetError, match="no sheets"):
        render([], "letter")


def test_packet_by_name_writes_every_page(tmp_path):
    sheets = [SheetSpec(f"AAAA{k:04d}", "session", client=f"C{k:03d}", date="2024-05-03", session=k + 1) for k in range(3)]
    out = tmp_path / "packet.pdf"
    assert render_sheets(sheets, out, "a4") == 6
    assert out.read_bytes().startswith(b"%PDF")
    assert len(convert_from_bytes(out.read_bytes(), dpi=20)) == 6
