"""Digit reader: cell normalisation, reading font-rendered digits, empty cells, checks.

Synthetic cells only: digits rendered with Debian handwriting fonts (installed
by ``make setup``) into a comb cell with a light-grey printed border and noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from scanner.ingest.digits import (
    MODEL_PATH,
    DigitReader,
    MlpModel,
    agree,
    check_date,
    check_range,
    fit_to_mnist_frame,
    lower_if_implausible,
    most_likely_in_range,
    normalise_cell,
)
from scanner.errors import InklockError

# Fonts whose digits look like pen strokes (femkeklaver, an outline font, does not).
FONT_FILES = [
    "truetype/fifthhorseman/dkg.ttf",
    "truetype/humor-sans/Humor-Sans.ttf",
    "truetype/breip/Breip.ttf",
    "truetype/sjfonts/SteveHand.ttf",
    "opentype/comic-neue/ComicNeue-Regular.otf",
    "truetype/rufscript/Rufscript010.ttf",
]
FONTS = [p for p in (Path("/usr/share/fonts") / f for f in FONT_FILES) if p.exists()]
needs_fonts = pytest.mark.skipif(
    len(FONTS) < 2, reason="Debian handwriting fonts missing (make setup installs fonts-dkg-handwriting etc.)"
)


def blank_cell(rng: np.random.Generator, size: tuple[int, int] = (64, 52)) -> np.ndarray:
    """A scanned comb cell without ink: paper, a light-grey printed border, noise."""
    h, w = size
    paper = rng.uniform(225, 250)
    cell = np.full((h, w), paper, dtype=np.float32)
    grey = rng.uniform(150, 200)
    t = int(rng.integers(1, 3))
    # The printed border sits at the crop edge, or a few pixels inside it when
    # registration is a little off.
    top, bottom, left, right = (int(v) for v in rng.integers(0, 5, 4))
    cell[top : top + t, :] = cell[h - bottom - t : h - bottom, :] = grey
    cell[:, left : left + t] = cell[:, w - right - t : w - right] = grey
    cell += rng.normal(0, 6, cell.shape)
    # a few specks of scanner dust
    for _ in range(int(rng.integers(0, 4))):
        y, x = int(rng.integers(0, h - 1)), int(rng.integers(0, w - 1))
        cell[y : y + 2, x : x + 1] -= 120
    return np.clip(cell, 0, 255).astype(np.uint8)


def digit_cell(digit: str, font: Path, rng: np.random.Generator, size: tuple[int, int] = (64, 52)) -> np.ndarray:
    """A comb cell holding ``digit`` written in ``font``, dark pen on the blank cell."""
    h, w = size
    base = blank_cell(rng, size)
    ink = Image.new("L", (w, h), 0)
    face = ImageFont.truetype(str(font), int(h * rng.uniform(0.75, 0.95)))
    draw = ImageDraw.Draw(ink)
    box = draw.textbbox((0, 0), digit, font=face)
    gw, gh = box[2] - box[0], box[3] - box[1]
    x = (w - gw) / 2 - box[0] + rng.uniform(-0.1, 0.1) * w
    y = (h - gh) / 2 - box[1] + rng.uniform(-0.08, 0.08) * h
    draw.text((x, y), digit, fill=255, font=face)
    alpha = np.asarray(ink, dtype=np.float32) / 255
    pen = rng.uniform(20, 70)
    out = base * (1 - alpha) + pen * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def reader() -> DigitReader:
    return DigitReader()


def test_normalise_cell_is_mnist_like():
    rng = np.random.default_rng(1)
    cell = blank_cell(rng)
    cell[14:50, 30:35] = 30  # an off-centre vertical stroke: a "1"
    image = normalise_cell(cell)
    assert image is not None
    assert image.shape == (28, 28)
    assert image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.9
    ys, xs = np.nonzero(image > 0.05)
    assert ys.max() - ys.min() + 1 <= 21  # fitted into the 20x20 box
    assert 18 <= ys.max() - ys.min() + 1  # the longer side fills it
    total = image.sum()
    cy = (image.sum(axis=1) * np.arange(28)).sum() / total
    cx = (image.sum(axis=0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) < 0.6 and abs(cx - 13.5) < 0.6  # centred by centre of mass
    assert image[:3].max() < 0.05 and image[:, :3].max() < 0.05  # border not carried over


def test_fit_to_mnist_frame_keeps_aspect():
    ink = np.zeros((100, 100), np.float32)
    ink[10:90, 40:60] = 1.0  # 80 tall, 20 wide
    image = fit_to_mnist_frame(ink)
    ys, xs = np.nonzero(image > 0.5)
    assert ys.max() - ys.min() + 1 == pytest.approx(20, abs=1)
    assert xs.max() - xs.min() + 1 == pytest.approx(5, abs=1)
    assert fit_to_mnist_frame(np.zeros((30, 30), np.float32)) is None


def test_empty_cells_are_empty(reader):
    rng = np.random.default_rng(2)
    for _ in range(30):
        cell = blank_cell(rng, (int(rng.integers(40, 90)), int(rng.integers(34, 80))))
        assert normalise_cell(cell) is None
        digit, confidence = reader.read_cell(cell)
        assert digit is None and confidence >= 0.8


def test_dark_rule_at_the_edge_is_not_ink():
    # A misregistered crop can carry a dark rule along one edge; the digit must
    # come out the same as without it.
    rng = np.random.default_rng(6)
    cell = blank_cell(rng)
    cell[16:48, 24:29] = 35
    cell[12:16, 18:34] = 35  # a "7"-ish stroke pair
    ruled = cell.copy()
    ruled[1:4, :] = 20
    ruled[:, -3:] = 20
    plain_image, ruled_image = normalise_cell(cell), normalise_cell(ruled)
    assert plain_image is not None and ruled_image is not None
    assert np.abs(plain_image - ruled_image).max() < 0.05


def test_faint_pencil_is_ink_but_grey_border_is_not():
    rng = np.random.default_rng(7)
    cell = blank_cell(rng).astype(np.float32)
    cell[14:50, 22:27] -= 85  # pencil about 35% darker than paper
    image = normalise_cell(np.clip(cell, 0, 255).astype(np.uint8))
    assert image is not None and image.max() > 0.9


def test_mark_at_the_edge_makes_empty_doubtful(reader):
    rng = np.random.default_rng(8)
    cell = blank_cell(rng)
    cell[20:30, 3:7] = 30  # the tail of a neighbour's digit, inside the edge band
    cell[5:9, 20:23] = 30  # and a dark blob in the top edge band
    assert reader.read_cell(cell) == (None, pytest.approx(0.6))
    assert reader.read_cell(np.full((60, 50), 240, np.uint8)) == (None, pytest.approx(0.95))


def test_colour_crop_is_accepted():
    rng = np.random.default_rng(9)
    cell = blank_cell(rng)
    cell[14:50, 24:29] = 30
    colour = np.dstack([cell, cell, cell])
    np.testing.assert_allclose(normalise_cell(colour), normalise_cell(cell), atol=1e-6)


@needs_fonts
def test_reads_font_digits(reader):
    rng = np.random.default_rng(3)
    right = total = 0
    for font in FONTS:
        for digit in "0123456789":
            cell = digit_cell(digit, font, rng)
            read, confidence = reader.read_cell(cell)
            assert 0.0 <= confidence <= 1.0
            right += read == digit
            total += 1
    assert total >= 50
    assert right / total >= 0.8, f"{right}/{total} font digits read right"


@needs_fonts
def test_read_cells_joins_and_flags(reader):
    rng = np.random.default_rng(4)
    font = FONTS[0]
    cells = [digit_cell(d, font, rng) for d in "0415"]
    text, confidence, flags = reader.read_cells(cells)
    assert len(text) == 4 and 0.0 <= confidence <= 1.0
    assert "empty_cell" not in flags
    assert ("low_confidence" in flags) == (confidence < 0.8)
    text, _, flags = reader.read_cells(cells[:2] + [blank_cell(rng)] + cells[3:])
    assert len(text) == 3 and "empty_cell" in flags
    assert reader.read_cells([blank_cell(rng), blank_cell(rng)]) == ("", 0.95, [])


def test_two_readers_agree_on_a_digit_only_as_surely_as_the_less_sure():
    mlp = np.full((3, 10), 0.01)
    net = np.full((3, 10), 0.01)
    mlp[0, 7], net[0, 7] = 0.91, 0.99  # both sure of a 7
    mlp[1, 1], net[1, 1] = 0.95, 0.30  # the digit model sure, the line recogniser not
    net[1, 4] = 0.69
    mlp[2, 3], mlp[2, 9], net[2, 9] = 0.5, 0.41, 0.9  # the digit model torn, the other sure of a 9
    scores = agree(mlp, net)
    assert list(scores.argmax(axis=1)) == [7, 1, 9]
    np.testing.assert_allclose(scores.max(axis=1), [0.91, 0.30, 0.41])
    # The order of each row stays the product's, for the range search.
    assert most_likely_in_range(scores[:2], 0, 99) == "71"


@needs_fonts
def test_the_line_recogniser_reads_digits_the_digit_model_misses():
    """A European 1 (a long upstroke) and a 9 written like a g, in Delphine: MNIST's digits have few of them."""
    from scanner.ingest.linerec import LineReader

    font = Path("/usr/share/fonts/truetype/sjfonts/Delphine.ttf")
    if not font.exists():
        pytest.skip("fonts-sjfonts missing (make setup installs it)")
    rng = np.random.default_rng(0)
    cells = [(d, digit_cell(d, font, rng)) for d in "0123456789" * 2]
    both = DigitReader(second=LineReader().digit_probabilities)
    alone = DigitReader()
    read_both = [both.read_cell(c) for _, c in cells]
    read_alone = [alone.read_cell(c) for _, c in cells]
    right_both = sum(r[0] == d for (d, _), r in zip(cells, read_both))
    right_alone = sum(r[0] == d for (d, _), r in zip(cells, read_alone))
    assert right_both >= 17 and right_both >= right_alone + 2, (right_both, right_alone)
    assert not [r for (d, _), r in zip(cells, read_both) if r[0] != d and r[1] >= 0.8]


def test_probabilities_are_calibrated_rows(reader):
    rng = np.random.default_rng(5)
    proba = reader.classify(rng.uniform(0, 1, (5, 28, 28)).astype(np.float32))
    assert proba.shape == (5, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_shipped_model_is_small_and_pickle_free():
    assert MODEL_PATH.stat().st_size < 5_000_000
    with np.load(MODEL_PATH, allow_pickle=False) as data:
        assert "temperature" in data.files and "mean" in data.files


def test_missing_model_is_reported(tmp_path):
    with pytest.raises(InklockError):
        MlpModel.load(tmp_path / "none.npz")


def test_range_and_date_checks():
    assert check_range("07", 0, 10) and check_range("10", 0, 10)
    assert not check_range("11", 0, 10) and not check_range("", 0, 10) and not check_range("1a", 0, 99)
    assert check_date("031524", "MMDDYY") and check_date("29022024", "DDMMYYYY")
    assert not check_date("133124", "MMDDYY") and not check_date("29022023", "DDMMYYYY")
    assert not check_date("0315", "MMDDYY")
    assert lower_if_implausible(0.97, check_range("13", 1, 12)) <= 0.5
    assert lower_if_implausible(0.97, check_range("12", 1, 12)) == 0.97


def test_most_likely_in_range():
    proba = np.full((2, 10), 0.01)
    proba[0, 4], proba[0, 1] = 0.6, 0.3  # first cell: 4, or nearly as likely 1
    proba[1, 4] = 0.9
    assert most_likely_in_range(proba, 0, 99) == "44"
    assert most_likely_in_range(proba, 0, 27) == "14"  # PHQ-9 total
    assert most_likely_in_range(proba, 0, 9) == "04"
    assert most_likely_in_range(proba, 50, 60) in {str(v) for v in range(50, 61)}
    assert most_likely_in_range(proba, 30, 20) is None
    assert most_likely_in_range(np.full((6, 10), 0.1), 0, 999_999) is None  # too many values to try


@needs_fonts
def test_out_of_range_reading_is_brought_into_range_and_flagged(reader, monkeypatch):
    rng = np.random.default_rng(5)
    cells = [digit_cell(d, FONTS[0], rng) for d in "14"]
    # The network reads the first cell as a 4 (60%) rather than a 1 (30%).
    fake = np.full((2, 10), 0.01)
    fake[0, 4], fake[0, 1], fake[1, 4] = 0.6, 0.3, 0.9
    monkeypatch.setattr(reader, "classify", lambda images: fake[: len(images)])
    assert reader.read_cells(cells)[0] == "44"
    text, confidence, flags = reader.read_cells(cells, (0, 27))
    assert text == "14"
    assert "range_corrected" in flags and "low_confidence" in flags and confidence <= 0.5
    # A reading already in range is left as it is.
    assert reader.read_cells(cells, (0, 99))[0] == "44"


def test_pages_read_digits_with_both_readers():
    from scanner.ingest.read import Reader

    page_reader = Reader(registry=None)  # only its engines are used here
    assert page_reader.digits.second == page_reader.ocr.digit_probabilities
