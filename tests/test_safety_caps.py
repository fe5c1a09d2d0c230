"""Safety rules of the reader, each of which no other test would miss if it went.

- a value read from a badly registered page, or one scanned below the
  resolutions the reader was measured at, is never trusted above
  ``POOR_REGISTRATION_CAP`` and carries ``poor_registration`` or ``low_resolution``;
- a line the post-correction changed is always shown as uncertain, on both
  readers (the line recogniser and Tesseract);
- a number outside its field's range is flagged ``implausible`` and its
  confidence lowered, however sure the digit model was.
"""

from __future__ import annotations

import numpy as np
import pytest

import tools.synth as synth

# Below this a value is shown to the clinician as in doubt (SPEC: the 0.8 doubt threshold).
DOUBT = 0.8


# -- poor registration ------------------------------------------------------------------

@pytest.fixture(scope="module")
def page_and_reader():
    from forms.render import SheetSpec
    from scanner.ingest.pipeline import build_registry
    from scanner.ingest.read import Reader

    gray, _expected = synth.make_sheet_page("session", SheetSpec("CAPS0001", "session"), 1, None,
                                            np.random.default_rng(11))
    registry, codes = build_registry()
    return gray, Reader(registry, {}, codes, blank_sheets=frozenset())


def test_a_badly_registered_page_is_never_trusted(page_and_reader, monkeypatch):
    from scanner.ingest import register
    from scanner.ingest.read import POOR_REGISTRATION_CAP

    gray, reader = page_and_reader
    good = reader.process("scan", "0" * 64, 0, gray)
    assert good.status == "identified" and "poor_registration" not in good.flags
    assert max(f.confidence for f in good.fields) > POOR_REGISTRATION_CAP  # else the cap below proves nothing

    monkeypatch.setattr(register, "POOR_REGISTRATION_PX", -1.0)  # the same page, now "badly registered"
    poor = reader.process("scan", "0" * 64, 0, gray)
    assert poor.status == "identified" and "poor_registration" in poor.flags
    assert [f.key for f in poor.fields] == [f.key for f in good.fields]
    for f in poor.fields:
        assert f.confidence <= POOR_REGISTRATION_CAP, (f.key, f.confidence)
        assert "poor_registration" in f.flags, f.key


def test_a_page_scanned_below_the_resolutions_measured_is_never_trusted(page_and_reader):
    import cv2

    from scanner.ingest import register
    from scanner.ingest.read import POOR_REGISTRATION_CAP

    gray, reader = page_and_reader
    good = reader.process("scan", "0" * 64, 0, gray)
    assert "low_resolution" not in good.flags and good.scan_dpi and good.scan_dpi > register.LOW_RESOLUTION_DPI
    scale = 0.8 * register.LOW_RESOLUTION_DPI / good.scan_dpi  # the same page, scanned at 80 dpi
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    low = reader.process("scan", "0" * 64, 0, small)
    assert low.status == "identified" and "low_resolution" in low.flags
    assert low.scan_dpi == pytest.approx(0.8 * register.LOW_RESOLUTION_DPI, rel=0.05)
    for f in low.fields:
        assert f.confidence <= POOR_REGISTRATION_CAP and "low_resolution" in f.flags, f.key


# -- post-corrected text ----------------------------------------------------------------

def _line_reading(text: str, chars: list[str]):
    """A recogniser reading of ``text`` as sure as the network ever is: each character one sharp frame."""
    from scanner.ingest.linerec import LineReading

    index = {c: i for i, c in enumerate(chars)}
    frames, starts = [], []
    for ch in text:
        frames.append(0)  # "no character" between characters
        starts.append(len(frames))
        frames.append(index[ch])
    frames.append(0)
    probs = np.full((len(frames), len(chars)), 1e-6, np.float32)
    probs[np.arange(len(frames)), frames] = 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    return LineReading(text, [0.999] * len(text), probs, starts)


def test_a_line_the_recogniser_post_corrected_is_shown_as_uncertain():
    from scanner.ingest.ocr import _CORRECTED_CAP, OcrEngine

    # Any near vocabulary word replaces the reading (however unlikely the network finds it).
    engine = OcrEngine(max_log_ratio=1e6)
    chars = engine._line_reader().chars
    sure = engine._finish_line(_line_reading("sleep well", chars))
    assert sure.text == "sleep well" and sure.confidence >= DOUBT  # known words, read sharply: trusted

    corrected = engine._finish_line(_line_reading("slep well", chars))
    assert corrected.text != "slep well" and corrected.alternative == "slep well"
    assert corrected.confidence <= _CORRECTED_CAP < DOUBT


def test_a_line_tesseract_read_and_post_correction_changed_is_shown_as_uncertain():
    from scanner.ingest.ocr import _CORRECTED_CAP, OcrEngine

    engine = OcrEngine()
    sure = engine._finish("sleep well", [("sleep", 0.99), ("well", 0.99)])
    assert sure.text == "sleep well" and sure.confidence >= DOUBT

    corrected = engine._finish("sleeep well", [("sleeep", 0.99), ("well", 0.99)])
    assert corrected.text == "sleep well"
    assert corrected.confidence <= _CORRECTED_CAP < DOUBT
    # Without correction the same reading is not trusted either: the word is unknown.
    raw = OcrEngine(correct=False)._finish("sleeep well", [("sleeep", 0.99), ("well", 0.99)])
    assert raw.text == "sleeep well" and raw.confidence < DOUBT


# -- out-of-range digits ----------------------------------------------------------------

class _SureDigits:
    """A digit model certain of what it reads: ``value`` at 0.99."""

    def __init__(self, value: str):
        self.value = value

    def read_cells(self, cells, allowed=None):
        return self.value, 0.99, []


def _digits_field(key: str):
    from forms import catalog

    return catalog.form("session", "letter").field(key)


@pytest.mark.parametrize("value, plausible", [("31", False), ("14", True)])
def test_a_number_outside_its_range_is_flagged_implausible(value, plausible):
    from scanner.ingest.digits import IMPLAUSIBLE_CONFIDENCE
    from scanner.ingest.read import Reader
    from scanner.ingest.register import MarkerRegistry

    f = _digits_field("phq9")  # PHQ-9: 0 to 27
    reader = Reader(MarkerRegistry({}))
    reader._digits = _SureDigits(value)
    read = reader.read_field(np.full((3300, 2550), 255, np.uint8), f, 1)
    assert read.value == value
    if plausible:
        assert read.confidence == pytest.approx(0.99) and "implausible" not in read.flags
    else:
        assert "implausible" in read.flags and "low_confidence" in read.flags
        assert read.confidence <= IMPLAUSIBLE_CONFIDENCE < DOUBT
