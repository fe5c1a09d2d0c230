"""The cancel mark the printed sheet describes: a box scribbled out completely, the right one marked."""

from __future__ import annotations

import numpy as np
import pytest

from scanner.ingest import omr
from scanner.ingest.register import PX_PER_PT
from tools.synth.marks import draw_mark

DPI = PX_PER_PT * 72


def _field(kind: str, n: int = 4, multiple: bool = False) -> dict:
    opts = [{"value": str(i), "bbox": [100 + 40 * i, 100, 115 + 40 * i, 115]} for i in range(n)]
    return {"key": "k", "kind": kind, "options": opts, "multiple": multiple}


def _options(field: dict) -> list[tuple[str, list[float]]]:
    return [(o["value"], o["bbox"]) for o in field["options"]]


def _page(field: dict, marks: dict[str, list[str]], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    page = np.full((500, 900), 245, np.uint8)
    for o in field["options"]:
        x0, y0, x1, y1 = (v * PX_PER_PT for v in o["bbox"])
        page[int(y0):int(y1), [int(x0), int(x1)]] = 150  # the printed outline
        page[[int(y0), int(y1)], int(x0):int(x1)] = 150
        for style in marks.get(o["value"], []):
            draw_mark(page, (x0, y0, x1, y1), style, rng, DPI)
    return page


@pytest.mark.parametrize("kind", ["choice", "scale"])
def test_a_scribbled_out_box_beside_a_mark_gives_the_mark_flagged_never_silent(kind):
    field = _field(kind)
    read_right = flagged = 0
    for seed in range(40):
        style = ("check", "cross")[seed % 2]
        page = _page(field, {"1": ["check", "scribble"], "3": [style]}, seed)
        r = omr.read_marks(page, field["kind"], _options(field), field["multiple"])
        want = 3 if kind == "scale" else "3"
        assert r.value in (want, None)  # never the cancelled answer
        assert r.flags and r.confidence < 0.8  # always shown for a closer look
        read_right += r.value == want
        flagged += "cancelled_mark" in r.flags
    assert read_right >= 36 and flagged == read_right  # the cancel mark is read, not only flagged


def test_two_plain_marks_stay_unanswered():
    field = _field("choice")
    r = omr.read_marks(_page(field, {"0": ["check"], "2": ["cross"]}, 1), field["kind"], _options(field), field["multiple"])
    assert r.value is None and "multiple_marks" in r.flags


def test_a_lone_box_scribbled_out_is_read_but_never_trusted():
    """The sheet says a box scribbled out is cancelled: alone, it may be a cancel with nothing marked after it."""
    field = _field("choice")
    for seed in range(10):
        r = omr.read_marks(_page(field, {"2": ["scribble"]}, seed), field["kind"], _options(field), field["multiple"])
        assert r.value in ("2", None) and "heavy_mark" in r.flags and r.confidence <= 0.6


def _faint_line(page: np.ndarray, bbox: list[float], darkness: float) -> None:
    """A thin stroke across the box, ``darkness`` darker than the paper, blurred as a low-resolution scan blurs it."""
    import cv2

    x0, y0, x1, y1 = (int(v * PX_PER_PT) for v in bbox)
    line = np.zeros(page.shape, np.float32)
    cv2.line(line, (x0 + 3, y1 - 4), (x1 - 3, y0 + 4), 1.0, 2)
    stroke = np.asarray(cv2.GaussianBlur(line, (0, 0), 1.2), np.float32)
    page[:] = np.clip(page.astype(np.float32) * (1 - darkness * stroke / max(stroke.max(), 1e-6)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["choice", "checkbox"])
def test_a_trace_of_ink_too_light_for_a_faint_mark_is_never_read_as_no_answer_with_confidence(kind):
    field = _field(kind, n=4 if kind == "choice" else 1)
    page = _page(field, {}, 0)
    empty = omr.read_marks(page, field["kind"], _options(field), field["multiple"])
    assert empty.value in (None, False) and empty.confidence >= 0.9 and not empty.flags  # plain paper stays sure
    _faint_line(page, field["options"][0]["bbox"], 0.065)  # lighter than LIGHT_DARKNESS everywhere
    traced = omr.read_marks(page, field["kind"], _options(field), field["multiple"])
    assert traced.value in (None, False)  # not guessed as a tick ...
    assert "ambiguous_mark" in traced.flags and traced.confidence < 0.8  # ... and not sure there is none
