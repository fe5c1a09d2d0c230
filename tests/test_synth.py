"""The synthetic-page generator (tests/synth): handwriting, marks, degradations, batches.

Everything here is synthetic and small (low dpi) so the file runs in seconds.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from forms.geometry import layout
from forms.model import get_template
from forms.payload import encode
from forms.render import SheetSpec
from tools.synth import (
    MARK_STYLES,
    blank_page,
    degrade,
    draw_mark,
    encode_jpeg,
    fill_page,
    handwriting_fonts,
    make_batch,
    make_sheet_page,
    pages_to_pdf,
    plan_marks,
    printed_pages,
    random_sheets,
    random_values,
    random_writer,
    rotate,
    write_digits,
    write_line,
)

DPI = 100  # enough for every check here, and fast


@pytest.fixture(scope="module")
def session_layout() -> dict:
    return layout(get_template("session"))


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _ink(img: np.ndarray, level: int = 200) -> np.ndarray:
    return img < level


def _empty_values(layout_page: dict) -> dict:
    empty = {"checkbox": False, "scale": None, "digits": "", "line": "", "text": ""}
    return {
        f["key"]: ([] if f.get("multiple") else None) if f["kind"] == "choice" else empty[f["kind"]]
        for f in layout_page["fields"]
    }


# ---------------------------------------------------------------- handwriting and marks


def test_fonts_are_found():
    fonts = handwriting_fonts()
    assert fonts and all(f.cap_height > 0 for f in fonts)
    # A writer never gets hollow (outline) digits when a pen-like face exists.
    rng = _rng(3)
    for _ in range(30):
        assert random_writer(rng).digit_font.pen_digits or not any(f.pen_digits for f in fonts)


def test_line_is_written_inside_its_box_and_is_deterministic():
    box = (50, 40, 650, 120)
    pages = []
    for _ in range(2):
        page = np.full((200, 700), 255, np.uint8)
        rng = _rng(7)
        write_line(page, "sleep improving, less worry", box, random_writer(rng), rng)
        pages.append(page)
    assert np.array_equal(pages[0], pages[1])
    ys, xs = np.nonzero(_ink(pages[0]))
    assert len(xs) > 500
    # Jitter and descenders may cross the box edge a little, never far.
    assert xs.min() >= box[0] - 5 and xs.max() <= box[2] + 5
    assert ys.min() >= box[1] - 15 and ys.max() <= box[3] + 15


def test_long_line_is_shrunk_to_fit():
    page = np.full((120, 400), 255, np.uint8)
    rng = _rng(1)
    write_line(page, "a very long line that would never fit at full size in this box", (10, 20, 300, 100),
               random_writer(rng), rng)
    xs = np.nonzero(_ink(page))[1]
    assert xs.max() <= 310


def test_digits_land_one_per_cell():
    page = np.full((100, 400), 255, np.uint8)
    cells = [(10 + 60 * i, 10, 60 + 60 * i, 90) for i in range(5)]
    rng = _rng(2)
    write_digits(page, "40 17", cells, random_writer(rng), rng)
    inked = [_ink(page[int(y0) : int(y1), int(x0) : int(x1)]).sum() for x0, y0, x1, y1 in cells]
    assert [n > 20 for n in inked] == [True, True, False, True, True]


@pytest.mark.parametrize("style", MARK_STYLES + ("scribble",))
def test_each_mark_style_inks_its_box(style):
    page = np.full((120, 120), 255, np.uint8)
    box = (40, 40, 80, 80)  # about 10 mm at 100 dpi
    draw_mark(page, box, style, _rng(4), dpi=DPI)
    inside = page[40:80, 40:80]
    assert (inside < 235).mean() > 0.03
    outside = page.copy()
    outside[25:95, 25:95] = 255  # strokes may overshoot a little, not wander off
    assert (outside < 235).sum() == 0


def test_marks_differ_in_the_way_readers_care_about():
    def coverage(style, seed):
        page = np.full((100, 100), 255, np.uint8)
        draw_mark(page, (30, 30, 70, 70), style, _rng(seed), dpi=300)
        return page[30:70, 30:70]

    for seed in range(5):
        check, fill, faint = coverage("check", seed), coverage("fill", seed), coverage("faint", seed)
        assert (fill < 128).mean() > 2 * (check < 128).mean()  # a fill covers the box
        assert faint.min() > check.min() + 60  # a faint mark is light
    with pytest.raises(ValueError):
        draw_mark(np.full((10, 10), 255, np.uint8), (1, 1, 9, 9), "smudge", _rng())


# ---------------------------------------------------------------- degradations and PDF


def test_rotation_turns_the_page():
    page = np.full((300, 200), 255, np.uint8)
    assert rotate(page, 1).shape == (200, 300)
    assert rotate(page, 2).shape == (300, 200)
    skewed = rotate(page, 0, 3.0)
    assert skewed.shape[0] > 300 and skewed.shape[1] > 200  # grown, nothing cut off


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_scanner_preset_orientation(turns):
    page = np.full((330, 255), 255, np.uint8)
    page[20:40, 20:40] = 0  # a marker in the top-left corner
    out, record = degrade(page, "scanner", _rng(turns), dpi=DPI, quarter_turns=turns)
    assert record["quarter_turns"] == turns and abs(record["angle"]) <= 3
    tall = out.shape[0] > out.shape[1]
    assert tall == (turns % 2 == 0)
    # The marker ends in the corner the turn takes it to (anticlockwise quarter turns).
    h, w = out.shape
    corner = {0: (0, 0), 1: (1, 0), 2: (1, 1), 3: (0, 1)}[turns]  # (bottom?, right?)
    ys, xs = np.nonzero(out < 100)
    assert (ys.mean() > h / 2) == bool(corner[0]) and (xs.mean() > w / 2) == bool(corner[1])


def test_degradations_are_seeded():
    page = np.full((330, 255), 240, np.uint8)
    page[100:200, 50:200] = 30
    for preset in ("clean", "scanner", "phone"):
        a, ra = degrade(page, preset, _rng(9), dpi=DPI)
        b, rb = degrade(page, preset, _rng(9), dpi=DPI)
        assert np.array_equal(a, b) and ra == rb
        json.dumps(ra)  # the record goes into expected.json


def test_phone_photo_puts_the_page_on_a_darker_table():
    page = np.full((1100, 850), 250, np.uint8)
    out, record = degrade(page, "phone", _rng(5), dpi=DPI, quarter_turns=0)
    h, w = out.shape
    border = np.concatenate([out[:20].ravel(), out[-20:].ravel(), out[:, :20].ravel(), out[:, -20:].ravel()])
    centre = out[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
    assert np.median(border) < np.median(centre) - 60
    assert len(record["corners"]) == 4 and 0 < record["dpi"] < 400


def test_pdf_has_one_jpeg_image_per_page():
    rng = _rng(1)
    images = [blank_page(rng, DPI), np.full((200, 300), 128, np.uint8)]
    pages = [(encode_jpeg(im, 75), im.shape[1], im.shape[0], DPI) for im in images]
    pdf = pikepdf.open(io.BytesIO(pages_to_pdf(pages)))
    assert len(pdf.pages) == 2
    for page, (data, w, h, dpi) in zip(pdf.pages, pages):
        (name, image), = page.get_images().items()
        assert image.Filter == pikepdf.Name.DCTDecode and (image.Width, image.Height) == (w, h)
        assert image.read_raw_bytes() == data  # embedded as is, like a scanner's PDF
        assert float(page.MediaBox[2]) == pytest.approx(w * 72 / dpi, abs=0.01)


def test_blank_page_is_near_white():
    page = blank_page(_rng(2), DPI)
    assert page.shape == (1100, 850)
    assert page.mean() > 235 and (page < 200).mean() < 1e-4


# ---------------------------------------------------------------- values and filled pages


def test_random_values_have_the_shapes_of_show_json(session_layout):
    seen = set()
    for seed in range(12):
        rng = _rng(seed)
        for page in session_layout["pages"]:
            values = random_values(page, rng)
            assert set(values) == {f["key"] for f in page["fields"]}
            for f in page["fields"]:
                v, kind = values[f["key"]], f["kind"]
                options = [o["value"] for o in f.get("options", [])]
                if kind == "checkbox":
                    assert isinstance(v, bool)
                elif kind == "choice" and f.get("multiple"):
                    assert isinstance(v, list) and set(v) <= set(options)
                elif kind == "choice":
                    assert v is None or v in options
                elif kind == "scale":
                    assert v is None or (isinstance(v, int) and str(v) in options)
                elif kind == "digits":
                    assert isinstance(v, str) and (v == "" or (v.isdigit() and len(v) == len(f["cells"])))
                else:
                    assert isinstance(v, str)
                    assert v.count("\n") < len(f["lines"])
                seen.add((kind, v in (None, "", [])))
            plan = plan_marks(page, values, rng)
            for key, entry in plan.items():
                if entry["crossed_out"]:
                    f = next(f for f in page["fields"] if f["key"] == key)
                    assert not f.get("multiple") and entry["crossed_out"] != str(values[key])
    # Over a dozen pages, every kind is sometimes answered and sometimes left empty.
    kinds = {f["kind"] for p in session_layout["pages"] for f in p["fields"]} - {"checkbox"}
    assert {(k, True) for k in kinds} | {(k, False) for k in kinds} <= seen


def test_empty_page_differs_little_from_the_blank_print(session_layout):
    spec = SheetSpec("K7Q2M9XP", "session", client="C-104", date="2025-03-04", session=7)
    printed = printed_pages([spec], DPI)[0]
    empty, expected = make_sheet_page("session", spec, 1, _empty_values(session_layout["pages"][0]), _rng(3), dpi=DPI)
    assert empty.shape == printed.shape
    assert (np.abs(empty.astype(int) - printed) > 40).mean() < 1e-4
    assert expected["expected_flags"] == {} and expected["sheet_id"] == "K7Q2M9XP" and expected["page"] == 1
    filled, _ = make_sheet_page("session", spec, 1, None, _rng(3), dpi=DPI)
    assert (np.abs(filled.astype(int) - printed) > 40).mean() > 20 * 1e-4


def test_crossed_out_answer_is_recorded(session_layout):
    page = session_layout["pages"][0]
    field = next(f for f in page["fields"] if f["kind"] == "choice" and not f.get("multiple"))
    values = _empty_values(page) | {field["key"]: field["options"][1]["value"]}
    plan = {field["key"]: {"style": "check", "crossed_out": field["options"][0]["value"]}}
    gray = np.full((1100, 850), 255, np.uint8)
    expected = fill_page(gray, page, values, _rng(), DPI, plan=plan)
    assert expected["values"][field["key"]] == field["options"][1]["value"]
    assert expected["expected_flags"] == {field["key"]: ["crossed_out"]}
    boxes = [o["bbox"] for o in field["options"][:2]]
    dark = [(gray[int(b[1] * DPI / 72) : int(b[3] * DPI / 72), int(b[0] * DPI / 72) : int(b[2] * DPI / 72)] < 128).mean()
            for b in boxes]
    assert dark[0] > dark[1] > 0  # the scribble covers more than the tick


def test_handwritten_header_on_a_blank_sheet():
    spec = SheetSpec("BLANK234", "session")
    header = {"client": "C-104", "date": "2025-03-04", "session": 7}
    gray, expected = make_sheet_page("session", spec, 1, None, _rng(8), dpi=DPI, header=header)
    assert expected["header"]["date"] == "2025-03-04" and expected["header"]["session"] == 7
    assert expected["header"]["client"].upper() == "C-104"


def test_batch_is_shuffled_deterministic_and_complete():
    sheets = [SheetSpec(f"K7Q2M9X{i}", "session", client=f"C-10{i}", date="2025-03-04", session=i + 1) for i in (2, 3)]
    presets = [{"preset": "scanner", "quarter_turns": 1}, "scanner", "phone", "clean", "scanner"]
    pdf, expected = make_batch(sheets, _rng(21), presets=presets, blank_pages=1, dpi=DPI)
    again, expected_again = make_batch(sheets, _rng(21), presets=presets, blank_pages=1, dpi=DPI)
    assert pdf == again and expected == expected_again
    assert [e["source_index"] for e in expected] == list(range(5))
    assert sorted((e["sheet_id"] or "", e["page"] or 0) for e in expected) == [
        ("", 0), ("K7Q2M9X2", 1), ("K7Q2M9X2", 2), ("K7Q2M9X3", 1), ("K7Q2M9X3", 2)]
    assert [e["source_index"] for e in expected if e["blank"]] and json.dumps(expected)
    doc = pikepdf.open(io.BytesIO(pdf))
    assert len(doc.pages) == 5
    turned = next(e for e in expected if e["sheet_id"] == "K7Q2M9X2" and e["page"] == 1)
    (_, image), = doc.pages[turned["source_index"]].get_images().items()
    assert turned["degradation"]["quarter_turns"] == 1 and image.Width > image.Height
    raster = Image.open(io.BytesIO(image.read_raw_bytes()))
    assert raster.mode == "L"


def test_a_simulated_scan_is_written_for_its_owner_only(tmp_path):
    import stat

    sheets = [SheetSpec("K7Q2M9X4", "session", client="C-104", date="2025-03-04", session=1)]
    make_batch(sheets, _rng(5), presets=["clean"], blank_pages=0, dpi=DPI, out_path=tmp_path / "scan.pdf")
    assert stat.S_IMODE((tmp_path / "scan.pdf").stat().st_mode) == 0o600


def test_random_sheets_have_valid_distinct_ids():
    sheets = random_sheets(20, _rng(4))
    assert len({s.sheet_id for s in sheets}) == 20
    for s in sheets:
        encode("SES", 1, s.sheet_id, 1)  # raises PayloadError on a malformed id


def test_samples_match_their_expected_values():
    samples = Path(__file__).resolve().parents[1] / "samples"
    if not (samples / "expected.json").exists():
        pytest.skip("samples/ not generated (tools/make_samples.py)")
    doc = json.loads((samples / "expected.json").read_text(encoding="utf-8"))
    pdf = pikepdf.open(samples / doc["pdf"])
    assert len(pdf.pages) == doc["page_count"] == len(doc["pages"])
    listed = {(p["sheet_id"], p["page"]) for p in doc["pages"] if not p["blank"]}
    assert listed == {(s["sheet_id"], p["page"]) for s in doc["sheets"] for p in s["pages"]}
    for page in pdf.pages:
        (_, image), = page.get_images().items()
        assert image.Filter == pikepdf.Name.DCTDecode and image.ColorSpace == pikepdf.Name.DeviceGray
