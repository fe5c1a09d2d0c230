"""The real-handwriting benchmark's machinery, on synthetic word images (the real dev set is never needed here).

The benchmark itself prints figures; these tests check that it skips cleanly
without the dev set, that composing words onto a form keeps the paper white
and sits words on the rule, and that the whole run (pages, ``inklock ingest``,
scoring, crop reader) finishes on a tiny stand-in dev set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import realhw_bench  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _word_image(text: str, size: tuple[int, int], paper: int, font_px: int) -> np.ndarray:
    """A word as a crop would hold it: dark ink on paper of gray ``paper``, white margins outside."""
    w, h = size
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, w - 3, h - 3], fill=paper)
    draw.text((6, h // 2), text, font=ImageFont.truetype(FONT, font_px), fill=20, anchor="lm")
    return np.asarray(img)


NAMES = ["ANNA", "BRUNO", "CELIA", "DAVID", "EMMA", "FABIEN", "GASPARD", "HUGO"]
WORDS = ["better", "week", "calm", "walk", "mood", "name", "room", "time"]  # no descenders


def _names_in(half: str, stem: str, count: int, ext: str) -> list[str]:
    """``count`` file names that the dev set's split puts in ``half`` ("fit" or "measure")."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        rel = f"{stem}{i}{ext}"
        if realhw_bench.in_fit_half(rel) == (half == "fit"):
            out.append(rel)
        i += 1
    return out


def _dev_set(folder: Path) -> Path:
    """Every word twice: once in the half that measures, once in the half calibration may be fitted on."""
    (folder / "names").mkdir(parents=True)
    (folder / "gw-words").mkdir()
    for tsv, stem, ext, texts, size, paper, px in (("names.tsv", "names/n", ".jpg", NAMES, (324, 44), 255, 24),
                                                   ("gw-words.tsv", "gw-words/w", ".png", WORDS, (220, 90), 207, 40)):
        rows = []
        for half in ("measure", "fit"):
            for rel, text in zip(_names_in(half, stem + half[0], len(texts), ext), texts):
                cv2.imwrite(str(folder / rel), _word_image(text, size, paper, px))
                rows.append(f"{rel}\t{text}")
        (folder / tsv).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_skips_with_one_sentence_without_the_dev_set(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), INKLOCK_HANDWRITING_DEV=str(tmp_path / "absent"))
    proc = subprocess.run([sys.executable, "-m", "bench.realhw_bench", "--small"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Skipped: no real handwriting here")
    assert "Traceback" not in proc.stderr


def test_pool_keeps_only_plain_words_and_label_free_name_crops(tmp_path):
    folder = _dev_set(tmp_path / "dev")
    label = _names_in("measure", "names/label", 1, ".jpg")[0]
    cv2.imwrite(str(folder / label), _word_image("NOM : ZOE", (388, 36), 255, 20))
    number = _names_in("measure", "gw-words/number", 1, ".png")[0]
    cv2.imwrite(str(folder / number), _word_image("1755.", (220, 90), 207, 40))
    with open(folder / "names.tsv", "a", encoding="utf-8") as fh:
        fh.write(f"{label}\tZOE\n")
    with open(folder / "gw-words.tsv", "a", encoding="utf-8") as fh:
        fh.write(f"{number}\t1755.\n")
    caps = realhw_bench.word_pool(folder, "capitals", np.random.default_rng(1))
    cursive = realhw_bench.word_pool(folder, "cursive", np.random.default_rng(1))
    assert sorted(w.text for w in caps) == sorted(NAMES)  # no label crop, nothing of the fit half
    assert sorted(w.text for w in cursive) == sorted(WORDS)  # no number
    assert not any(realhw_bench.in_fit_half(w.rel) for w in caps + cursive)
    again = realhw_bench.word_pool(folder, "cursive", np.random.default_rng(1))
    assert [w.rel for w in again] == [w.rel for w in cursive]  # seeded: the same subset every run


def test_composed_words_leave_the_paper_white_and_sit_on_the_rule(tmp_path):
    folder = _dev_set(tmp_path / "dev")
    page = np.full((300, 1800), 250, np.uint8)
    page[200:203, :] = 190  # the printed rule
    before = page.copy()
    box, base = (100.0, 100.0, 1700.0, 206.0), 199.0
    feed = realhw_bench.Feed(realhw_bench.word_pool(folder, "cursive", np.random.default_rng(2)))
    text = realhw_bench.compose_line(page, box, base, feed, realhw_bench.Crops(folder), np.random.default_rng(3))
    assert len(text.split()) >= 2
    assert set(text.split()) <= set(WORDS)
    assert (page <= before).all()  # darkest pixel wins: nothing is lightened
    ink = page < 120
    assert ink.any()
    # The grey paper of the crops is gone: away from the ink the page is as it was.
    far = cv2.dilate(ink.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert (page[far] == before[far]).all()
    rows = np.where(ink.any(1))[0]
    assert base - 6 <= rows.max() <= base + 6  # no descenders in these words: the ink ends on the rule
    cols = np.where(ink.any(0))[0]
    assert cols.min() >= box[0] and cols.max() <= box[2]


@pytest.mark.slow
def test_whole_run_finishes_on_a_stand_in_dev_set(tmp_path):
    folder = _dev_set(tmp_path / "dev")
    env = dict(os.environ, PYTHONPATH=str(ROOT), INKLOCK_HANDWRITING_DEV=str(folder))
    proc = subprocess.run([sys.executable, "-m", "bench.realhw_bench", "--sheets", "1", "--crops", "4", "--no-fonts"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for figure in ("real cursive, whole pipeline: CER", "real capitals, whole pipeline: CER",
                   "wrong values below 0.8 or flagged", "reader alone on raw crops"):
        assert figure in proc.stdout, figure
    assert "2 pages, 2 identified" in proc.stdout
    # Plainly printed words pasted onto the lines read back nearly as pasted: the
    # words scored are the words composed, in their order.
    for line in proc.stdout.splitlines():
        if "whole pipeline: CER" in line:
            assert float(line.split()[-3]) <= 0.10, line
