"""OCR of line and text fields, on synthetic crops rendered here (no real data)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from scanner.errors import BadInput
from scanner.ocr import (
    EMPTY_CONFIDENCE,
    LOW_CONFIDENCE,
    OcrEngine,
    calibrate,
    correct_word,
    ink_mask,
    postcorrect,
)
from scanner.shorthand import Shorthand

pytest.importorskip("tesserocr")

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
GUIDE_GREY = 190


def _font(size: int) -> ImageFont.FreeTypeFont:
    if not os.path.exists(DEJAVU):
        pytest.skip("fonts-dejavu-core is not installed")
    return ImageFont.truetype(DEJAVU, size)


def field_crop(lines: list[str], *, width=900, line_h=80, guide=GUIDE_GREY, seed=0, box=False) -> np.ndarray:
    """A scanned field: light grey ruled lines, dark pen text on them, paper noise."""
    image = Image.new("L", (width, line_h * max(1, len(lines))), 245)
    draw = ImageDraw.Draw(image)
    font = _font(int(line_h * 0.45))
    for i, text in enumerate(lines):
        base = (i + 1) * line_h - 14
        draw.line([(0, base), (width, base)], fill=guide, width=2)
        if text:
            draw.text((24, base - 2), text, font=font, fill=25, anchor="ls")
    if box:
        draw.rectangle([1, 1, width - 2, image.height - 2], outline=guide, width=2)
    rng = np.random.default_rng(seed)
    arr = np.asarray(image).astype(np.float32) + rng.normal(0, 5, (image.height, width))
    return np.clip(arr, 0, 255).astype(np.uint8)


def add_specks(arr: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = arr.copy()
    for _ in range(n):
        y, x = rng.integers(2, arr.shape[0] - 2), rng.integers(2, arr.shape[1] - 2)
        out[y : y + 2, x : x + 2] = 60
    return out


@pytest.fixture(scope="module")
def engine():
    with OcrEngine() as eng:
        yield eng


def test_empty_field_is_empty_with_high_confidence(engine):
    crop = add_specks(field_crop([""], box=True), 6)
    result = engine.read_line(crop)
    assert result.text == ""
    assert result.flags == ["empty"]
    assert result.confidence >= 0.95
    area = engine.read_area(add_specks(field_crop(["", "", ""], box=True), 10))
    assert (area.text, area.flags, area.confidence) == ("", ["empty"], EMPTY_CONFIDENCE)


def test_clean_printed_line_is_read_nearly_right(engine):
    text = "Client reports better sleep this week"
    result = engine.read_line(field_crop([text]))
    assert Levenshtein.normalized_distance(text, result.text) <= 0.1
    assert 0.0 <= result.confidence <= 1.0
    assert "empty" not in result.flags
    assert result.words and all(0.0 <= c <= 1.0 for _, c in result.words)


def test_guide_line_removal_leaves_the_ink():
    text = "gyp jolly quilt"
    with_guide = ink_mask(field_crop([text]))
    without = ink_mask(field_crop([text], guide=245))
    # Same pen strokes found whether or not the guide line is printed...
    overlap = (with_guide & without).sum() / without.sum()
    assert overlap > 0.9
    assert with_guide.sum() < 1.2 * without.sum()
    # ...and the guide row is cleared away from the letters.
    guide_row = with_guide[80 - 14, 450:]
    assert guide_row.mean() < 0.05


def test_darker_printed_line_is_removed_but_crossing_ink_kept():
    crop = field_crop(["gyp jolly"], guide=120)
    mask = ink_mask(crop)
    assert mask[80 - 14, 500:].mean() < 0.05
    clean = ink_mask(field_crop(["gyp jolly"], guide=245))
    assert (mask & clean).sum() / clean.sum() > 0.85


def test_read_area_per_ruled_line(engine):
    lines = ["mood better this week", "plan walk daily"]
    crop = field_crop(lines)
    boxes = [(0, 0, 900, 80), (0, 80, 900, 160)]
    result = engine.read_area(crop, boxes)
    got = result.text.split("\n")
    assert len(got) == 2
    for want, have in zip(lines, got):
        assert Levenshtein.normalized_distance(want, have) <= 0.15
    block = engine.read_area(crop)
    assert Levenshtein.normalized_distance("\n".join(lines), block.text) <= 0.15


def test_area_confidence_is_no_higher_than_its_weakest_line(engine):
    crop = field_crop(["mood better this week", "plan walk daily"])
    boxes = [(0, 0, 900, 80), (0, 80, 900, 160)]
    whole = engine.read_area(crop, boxes)
    first = engine.read_line(crop[0:80])
    second = engine.read_line(crop[80:160])
    assert whole.confidence <= min(first.confidence, second.confidence) + 1e-9


def test_scribble_is_not_trusted(engine):
    rng = np.random.default_rng(3)
    image = Image.new("L", (700, 90), 245)
    draw = ImageDraw.Draw(image)
    points = [(int(x), int(rng.integers(20, 70))) for x in np.linspace(20, 680, 40)]
    draw.line(points, fill=20, width=3)
    result = engine.read_line(np.asarray(image))
    assert "empty" not in result.flags
    assert result.confidence < LOW_CONFIDENCE
    assert "low_confidence" in result.flags


def test_postcorrection_fixes_words_but_keeps_shorthand_and_codes():
    sh = Shorthand()
    text = "pt denies SI, f/u 3/14 PHQ9 w/o ↑ anxeity; HW GAD-7 cl hx"
    fixed, changed, unknown = postcorrect(text, sh)
    assert fixed == "pt denies SI, f/u 3/14 PHQ9 w/o ↑ anxiety; HW GAD-7 cl hx"
    assert (changed, unknown) == (1, 0)
    assert postcorrect("Discusion of hopelesness.", sh)[0] == "Discussion of hopelessness."
    # A clinician's own abbreviation is protected once it is in the vault's table.
    assert postcorrect("tried grnding", Shorthand({"grnding": "grounding exercise"}))[0] == "tried grnding"


def test_ambiguous_words_are_left_alone():
    sh = Shorthand()
    # "xat" is one edit from cat, bat, hat...: no clear winner, no guess.
    assert correct_word("xat", sh) == "xat"
    assert correct_word("Anxeity", sh) == "Anxiety"
    assert correct_word("MOBERLY", sh) == "MOBERLY"  # block capitals: names


def test_engine_keeps_raw_text_beside_the_correction(engine):
    result = engine.read_line(field_crop(["anxeity about work"]))
    assert "anxeity" in result.raw_text
    assert result.text.startswith("anxiety")


def test_calibration_is_monotone_and_bounded():
    for known in (True, False):
        values = [calibrate(c, known) for c in range(0, 101, 5)]
        assert values == sorted(values)
        assert all(0.0 <= v <= 1.0 for v in values)
    assert calibrate(95, False) < calibrate(95, True)


def test_no_temporary_files_are_written(tmp_path, monkeypatch):
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(cwd)
    with OcrEngine() as eng:
        eng.read_line(field_crop(["private note text"]))
        eng.read_area(field_crop(["one line", "two lines"]), [(0, 0, 900, 80), (0, 80, 900, 160)])
        eng.read_area(field_crop(["one line", "two lines"]))
    assert list(tmp.iterdir()) == []
    assert list(cwd.iterdir()) == []


def test_a_crop_with_no_paper_is_unreadable_not_empty(engine):
    black = np.full((80, 600), 20, np.uint8)
    for result in (engine.read_line(black), engine.read_area(black)):
        assert "empty" not in result.flags
        assert "low_confidence" in result.flags
        assert result.confidence < LOW_CONFIDENCE


def test_bad_input_is_refused(engine):
    with pytest.raises(BadInput):
        engine.read_line(np.zeros((0, 0), np.uint8))
