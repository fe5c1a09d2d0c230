"""The line recogniser's output layer cut to the kept classes (scanner/ingest/onnxcut.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_ocr import field_crop

LINES = ("Client reports better sleep", "mood low", "walked twenty minutes every day", "v. tearful (BDI 21)")


@pytest.fixture(scope="module")
def readers():
    from scanner.ingest import linerec

    cut = linerec.LineReader()
    saved = linerec.CUT_OUTPUT_LAYER
    linerec.CUT_OUTPUT_LAYER = False
    try:
        full = linerec.LineReader()
    finally:
        linerec.CUT_OUTPUT_LAYER = saved
    return cut, full


def test_the_model_is_cut_and_reads_as_the_whole_one(readers):
    """Same text, same character positions; probabilities are the whole model's, renormalised over the kept classes."""
    cut, full = readers
    assert cut._keep is None and full._keep is not None  # the cut model's output is the kept classes only
    assert cut.chars == full.chars
    images = [field_crop([t]) for t in LINES]
    for a, b in zip(cut.read_batch(images), full.read_batch(images)):
        assert a.text == b.text and a.starts == b.starts and a.text
        assert a.probs.shape == b.probs.shape
        assert np.allclose(a.probs, b.probs / b.probs.sum(axis=1, keepdims=True), atol=1e-5)
        assert np.allclose(a.probs.sum(axis=1), 1.0, atol=1e-4)


def test_the_cut_keeps_the_confidence_and_the_correction(readers):
    """What ocr.py makes of a reading (CTC score, calibrated confidence, corrected text) does not change."""
    from scanner.ingest.ocr import OcrEngine

    cut, full = readers
    engines = []
    for reader in (cut, full):
        engine = OcrEngine()
        engine._line_reader()
        engine._lines = reader
        engines.append(engine)
    for text in LINES:
        a, b = (e.read_line(field_crop([text])) for e in engines)
        assert (a.text, a.raw_text, a.flags) == (b.text, b.raw_text, b.flags)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
        assert a.score == pytest.approx(b.score, rel=1e-4)


def test_a_model_that_ends_otherwise_is_left_alone():
    from scanner.ingest import onnxcut

    assert onnxcut.keep_classes(b"", [0, 1]) is None
    # A graph whose output comes from an Identity of its input, not from MatMul -> Add -> Softmax.
    node = onnxcut._field(1, "x") + onnxcut._field(2, "y") + onnxcut._field(3, "id") + onnxcut._field(4, "Identity")
    graph = onnxcut._field(1, node) + onnxcut._field(12, onnxcut._output("y", 3))
    model = onnxcut._field(1, 10) + onnxcut._field(7, graph)
    assert onnxcut.keep_classes(model, [0, 1]) is None


def test_metadata_is_read_from_the_model_bytes():
    from scanner.ingest import linerec, onnxcut

    labels = onnxcut.metadata(linerec.model_path().read_bytes())["character"].splitlines()
    assert len(labels) > 18_000 and "a" in labels and "Z" in labels
