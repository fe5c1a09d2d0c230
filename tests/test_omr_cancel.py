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
