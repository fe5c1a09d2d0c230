"""Learning the clinician's hand (issue #7): word splitting, exemplars, suggestions, search, privacy.

Everything is synthetic: handwriting fonts drawn by ``synth`` onto crops laid
out like the session form's fields at the reader's 200 dpi.
"""

from __future__ import annotations

import json
import os
from functools import partial

import cv2
import numpy as np
import pytest

from forms.geometry import layout
from forms.model import get_template
from forms.payload import new_sheet_id
from scanner.hand import exemplars, fieldwords, wordsplit
from scanner.review import confirm
from scanner.ingest.read import CROP_MARGIN_PT, FieldRead, PageResult
from scanner.ingest.register import PX_PER_PT
from scanner.notes import progress as notes
from scanner.vault import store
from tools.synth.handwriting import Writer, handwriting_fonts, write_line

TINY_PNG = cv2.imencode(".png", np.full((4, 4), 255, np.uint8))[1].tobytes()
GEO = {f["key"]: f for p in layout(get_template("session"), "letter")["pages"] for f in p["fields"]}


def writer(n: int = 0) -> Writer:
    """One steady hand in one of the installed handwriting faces."""
    fonts = handwriting_fonts()
    font = fonts[n % len(fonts)]
    return Writer(font, font, ink=40, slant=0.05, jitter=0.8, size=1.0, spacing=1.0)


def field_crop(key: str, lines: list[str], hand: Writer, seed: int) -> np.ndarray:
    """A field's crop as the reader stores it: margin, grey guide lines, the words written on them."""
    f = GEO[key]
    x0, y0, x1, y1 = (v * PX_PER_PT for v in (f["bbox"][0] - CROP_MARGIN_PT, f["bbox"][1] - CROP_MARGIN_PT,
                                                f["bbox"][2] + CROP_MARGIN_PT, f["bbox"][3] + CROP_MARGIN_PT))
    crop = np.full((int(round(y1 - y0)), int(round(x1 - x0))), 246, np.uint8)
    boxes = [[(lb[0] * PX_PER_PT - x0), (lb[1] * PX_PER_PT - y0), (lb[2] * PX_PER_PT - x0), (lb[3] * PX_PER_PT - y0)]
             for lb in (f.get("lines") or [f["bbox"]])]
    rng = np.random.default_rng(seed)
    for box, text in zip(boxes, lines):
        base = box[3] - 0.12 * (box[3] - box[1])
        cv2.line(crop, (int(box[0]), int(box[3]) - 3), (int(box[2]), int(box[3]) - 3), 190, 2)
        # Words are short: write them at a natural size from the left, not stretched to the line.
        width = min(box[2] - box[0], 40 + 22 * len(text))
        write_line(crop, text, (box[0], box[1], box[0] + width, box[3]), hand, rng, baseline=base)
    return crop


def png(gray: np.ndarray) -> bytes:
    return cv2.imencode(".png", gray)[1].tobytes()


@pytest.fixture
def vault(tmp_path):
    from scanner.vault.vault import Vault

    v, _ = Vault.create(tmp_path / "vault", os.environ["INKLOCK_PASSPHRASE"])
    yield v
    v.close()


def empty(f):
    return {"checkbox": False, "scale": None}.get(f.kind, ([] if f.multiple else None) if f.kind == "choice" else "")


def draft_vectors(kind: str, key: str, draft, crop: bytes):
    """What the page worker puts on a line/text field's read: the word vectors of its crop."""
    if kind not in fieldwords.LEARN_KINDS:
        return None
    gray = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    f = GEO[key]
    return fieldwords.draft_vectors(gray, draft, fieldwords.crop_line_boxes(kind, f["bbox"], f.get("lines")))


def add_session(vault, crops: dict[str, tuple[str, bytes, float]], number: int = 1) -> int:
    """A scanned session as the writer stores it; ``crops``: key -> (OCR draft, crop PNG, confidence); others empty."""
    template = get_template("session")
    sheet_id = new_sheet_id()
    session = store.register_sheet(vault, sheet_id=sheet_id, template="session", template_version=template.version,
                                   page_size="letter", client="C01", date=f"2025-01-{number:02d}", session_number=number)
    for page in template.pages:
        reads = []
        assert page.number is not None
        for f in page.fields:
            draft, crop, conf = crops.get(f.key, (empty(f), TINY_PNG, 0.95))
            reads.append(FieldRead(f.key, f.kind, f.privacy, page.number, draft, conf, [], crop,
                                   draft_vectors=draft_vectors(f.kind, f.key, draft, crop)))
        result = PageResult("identified", "synthetic.pdf", f"{sheet_id:0<64}", page.number - 1, template="session",
                            page=page.number, page_size="letter", sheet_id=sheet_id, image_jpeg=TINY_PNG,
                            fields=reads)
        store.save_page(vault, result)
    return session


def field_id(vault, session: int, key: str) -> int:
    sheet = store.get_sheet(vault, session)
    return vault.db.execute("SELECT id FROM fields WHERE sheet_id = ? AND key = ?", [sheet["sheet_id"], key]).fetchone()[0]


def exemplar_words(vault) -> list[str]:
    return [r[0] for r in vault.db.execute("SELECT word FROM word_exemplars ORDER BY field_id, n")]


# -- word splitting ------------------------------------------------------------------


def ink_boxes(canvas_before: np.ndarray, canvas_after: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(canvas_before.astype(int) - canvas_after.astype(int) > 60)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("font", [0, 2, 9])
def test_words_are_split_where_they_were_written(font):
    hand = writer(font)
    rng = np.random.default_rng(font)
    crop = np.full((90, 900), 246, np.uint8)
    cv2.line(crop, (0, 76), (900, 76), 190, 2)  # a printed guide line: never part of a word
    truth, x = [], 12
    for word in ("client", "reports", "poor", "sleep"):
        before = crop.copy()
        write_line(crop, word, (x, 8, x + 30 * len(word), 86), hand, rng, baseline=72)
        truth.append(ink_boxes(before, crop))
        x = truth[-1][2] + 45
    for count in (None, 4):
        words = wordsplit.split_words(crop, count=count)
        assert words is not None and len(words) == 4
        for w, (a, b, c, d) in zip(words, truth):
            x0, y0, x1, y1 = w.box
            # Each word's own ink, not the guide line's full width nor its neighbour's letters.
            assert abs(x0 - a) <= 4 and abs(x1 - c) <= 4 and abs(y0 - b) <= 4 and abs(y1 - d) <= 4
            assert w.image.max() > 0.5
            assert w.line == 0


def test_multi_line_crop_splits_in_reading_order_and_refuses_a_doubtful_count():
    crop = field_crop("hypotheses", ["sleep worse", "after move", "grief"], writer(0), seed=3)
    words = wordsplit.split_words(crop, count=5)
    assert words is not None and [w.line for w in words] == [0, 0, 1, 1, 2]
    assert words[0].box[0] < words[1].box[0] and words[2].box[1] > words[0].box[1]
    # Nine words cannot be cut from five clear ones without guessing.
    assert wordsplit.split_words(crop, count=9) is None
    assert wordsplit.split_words(np.full((60, 300), 246, np.uint8)) == []


# -- learning and suggesting ---------------------------------------------------------


def test_a_word_confirmed_once_is_suggested_for_a_new_crop_in_the_same_hand(vault):
    hand = writer(0)
    first = add_session(vault, {"focus": ("lnsomnla worso", png(field_crop("focus", ["insomnia worse"], hand, 1)), 0.3)})
    confirm.confirm_field(vault, first, "focus", value="insomnia worse")
    assert exemplar_words(vault) == ["insomnia", "worse"]
    assert vault.db.execute("SELECT count(*) FROM word_exemplars WHERE image_file LIKE '%#%'").fetchone()[0] == 2

    later = add_session(vault, {"focus": ("msommia", png(field_crop("focus", ["insomnia"], hand, 7)), 0.2)}, number=2)
    got = exemplars.suggest(vault, field_id(vault, later, "focus"))
    assert got["text"] == "insomnia"
    assert got["words"][0]["source"] == "exemplar" and got["words"][0]["distance"] < 0.5
    assert 0.0 < got["confidence"] <= 1.0


def test_without_a_close_exemplar_the_ocr_draft_stands(vault):
    hand = writer(0)
    first = add_session(vault, {"focus": ("x", png(field_crop("focus", ["insomnia worse"], hand, 1)), 0.3)})
    confirm.confirm_field(vault, first, "focus", value="insomnia worse")
    later = add_session(vault, {"focus": ("tearfvl", png(field_crop("focus", ["tearful"], writer(9), 5)), 0.25)},
                        number=2)
    got = exemplars.suggest(vault, field_id(vault, later, "focus"))
    assert got == {"text": "tearfvl", "confidence": 0.25, "words": [{"word": "tearfvl", "source": "ocr", "distance": None}]}


def taught(vault, key: str, text: str, hand, seed: int, number: int = 1) -> int:
    """A session whose ``key`` field holds ``text`` in ``hand``, confirmed as written: the hand learns its words."""
    session = add_session(vault, {key: ("", png(field_crop(key, [text], hand, seed)), 0.3)}, number=number)
    confirm.confirm_field(vault, session, key, value=text)
    return session


def test_a_word_the_reader_read_as_a_real_word_is_never_swapped_for_an_exemplar(vault):
    # "insomnia" confirmed once (the only word the hand has taught, so nearness has nothing to be
    # told from); later a crop the reader read as the real word "better" and the number "2": a known
    # word or a number the reader read stands, so a suggestion never swaps a sound reading.
    hand = writer(0)
    taught(vault, "focus", "insomnia", hand, 1)
    later = add_session(vault, {"focus": ("better 2", png(field_crop("focus", ["insomnia 2"], hand, 7)), 0.2)},
                        number=2)
    got = exemplars.suggest(vault, field_id(vault, later, "focus"))
    assert got["text"] == "better 2" and {w["source"] for w in got["words"]} == {"ocr"}


def test_a_field_whose_words_do_not_match_its_crop_teaches_nothing(vault):
    session = add_session(vault, {"focus": ("", png(field_crop("focus", ["insomnia worse"], writer(0), 1)), 0.3)})
    confirm.confirm_field(vault, session, "focus", value="insomnia got much worse lately")  # 5 words, 2 written
    assert exemplar_words(vault) == []


def test_correcting_or_reopening_a_field_forgets_its_old_words(vault):
    session = add_session(vault, {"focus": ("", png(field_crop("focus", ["insomnia worse"], writer(0), 1)), 0.3)})
    confirm.confirm_field(vault, session, "focus", value="insomnia worse")
    bundle = vault.db.execute("SELECT substr(image_file, 1, 32) FROM word_exemplars").fetchone()[0]
    confirm.confirm_field(vault, session, "focus", value="insomnia better")
    assert exemplar_words(vault) == ["insomnia", "better"]
    assert bundle not in vault.list_files()  # the old word images are deleted
    store.reopen_field(vault, session, "focus")
    assert exemplar_words(vault) == []


def test_a_failure_to_learn_never_fails_the_confirmation(vault, monkeypatch):
    session = add_session(vault, {"focus": ("", png(field_crop("focus", ["insomnia"], writer(0), 1)), 0.3)})

    def broken(*_a, **_k):
        raise ValueError("damaged crop")

    monkeypatch.setattr(exemplars, "learn_field", broken)
    assert confirm.confirm_field(vault, session, "focus", value="insomnia")["action"] == "correct"
    row = vault.db.execute("SELECT status FROM fields WHERE id = ?", [field_id(vault, session, "focus")]).fetchone()
    assert row[0] == "confirmed"


# -- privacy -------------------------------------------------------------------------


def test_private_exemplars_suggest_but_never_reach_a_progress_note(vault, tmp_path):
    hand = writer(0)
    secret = "Zorbath"
    first = add_session(vault, {"hypotheses": ("", png(field_crop("hypotheses", [f"{secret} dream"], hand, 2)), 0.2)})
    confirm.confirm_field(vault, first, "hypotheses", value=f"{secret} dream")
    assert exemplar_words(vault) == [secret, "dream"]
    # A progress field written with the same word gets the private word as a suggestion (same vault)...
    later = add_session(vault, {"focus": ("2orbatn", png(field_crop("focus", [secret], hand, 9)), 0.2)}, number=2)
    assert exemplars.suggest(vault, field_id(vault, later, "focus"))["text"] == secret
    # ...but the note is made from what the clinician confirmed, and nothing of the exemplar goes with it.
    for f in get_template("session").fields:
        if f.privacy == "progress":
            confirm.confirm_field(vault, later, f.key, value="work stress" if f.key == "focus" else empty(f))
    out = notes.write_note(vault, later, "soap", tmp_path / "note.json")
    stored = json.dumps(notes.stored_notes(vault), ensure_ascii=False)
    files = [r[0] for r in vault.db.execute("SELECT image_file FROM word_exemplars")]
    for text in (out.read_text(), stored):
        assert secret.lower() not in text.lower() and "dream" not in text
        assert not any(fid[:32] in text for fid in files)
    assert [t for t in vault.progress_db.table_names() if "word" in t] == []


# -- search by hand ------------------------------------------------------------------


def test_search_finds_an_unconfirmed_crop_written_like_a_confirmed_word(vault):
    from scanner.vault.search import Searcher

    hand = writer(0)
    first = taught(vault, "focus", "nightmares again", hand, 1)
    taught(vault, "hypotheses", "work stress", hand, 2, number=2)
    # OCR made nothing searchable of these drafts.
    draft = add_session(vault, {"plan": ("mghtmorcs", png(field_crop("plan", ["nightmares"], hand, 11)), 0.1),
                                "hypotheses": ("vvork", png(field_crop("hypotheses", ["work"], hand, 12)), 0.1)},
                        number=3)
    hits = exemplars.search_by_hand(vault, ["nightmares"], limit=10)
    assert [h[0] for h in hits] == [field_id(vault, draft, "plan")]
    # The writer stored the worker's vectors; the repair behind reindex cuts the stored crops the same way.
    stored = dict(vault.db.execute("SELECT field_id, vectors FROM word_drafts").fetchall())
    with store.transaction(vault.db):
        vault.db.execute("DELETE FROM word_drafts")
    assert exemplars.search_by_hand(vault, ["nightmares"], limit=10) == []
    assert exemplars.index_drafts(vault) == len(stored)
    assert dict(vault.db.execute("SELECT field_id, vectors FROM word_drafts").fetchall()) == stored
    assert exemplars.search_by_hand(vault, ["nightmares"], limit=10) == hits
    # A confirmed field is no draft; reopened, it is cut again from its crop and found again.
    confirm.confirm_field(vault, draft, "plan", value="nightmares")
    assert exemplars.search_by_hand(vault, ["nightmares"], limit=10) == []
    confirm.reopen_field(vault, draft, "plan")
    assert exemplars.search_by_hand(vault, ["nightmares"], limit=10) == hits
    results = Searcher(vault.db, hand=partial(exemplars.search_by_hand, vault)).search("nightmares")
    matches = {(r["session"], r["field"]): r for r in results}
    assert matches[(first, "focus")]["match"] == "exact"
    hand_hit = matches[(draft, "plan")]
    assert hand_hit["match"] == "handwriting" and hand_hit["status"] == "draft" and hand_hit["crop_file"]
    assert [r["match"] for r in results].index("exact") < [r["match"] for r in results].index("handwriting")
    assert (draft, "plan") not in {(r["session"], r["field"]) for r in Searcher(vault.db).search("nightmares", None)
                                   if r["match"] != "handwriting"}


# -- rebuilding and backups ------------------------------------------------------------


def test_the_index_survives_reindex_and_a_backup_restore(vault, tmp_path, cli):
    from scanner.vault.backup import restore_backup, write_backup
    from scanner.vault.vault import Vault

    hand = writer(0)
    first = add_session(vault, {"focus": ("", png(field_crop("focus", ["insomnia worse"], hand, 1)), 0.3)})
    confirm.confirm_field(vault, first, "focus", value="insomnia worse")
    later = add_session(vault, {"focus": ("msommia", png(field_crop("focus", ["insomnia"], hand, 7)), 0.2)}, number=2)
    target = field_id(vault, later, "focus")
    before = exemplars.suggest(vault, target)
    assert before["text"] == "insomnia"

    rebuilt = exemplars.rebuild(vault)
    assert rebuilt["words"] == 2 and exemplar_words(vault) == ["insomnia", "worse"]
    assert exemplars.suggest(vault, target) == before

    write_backup(vault, tmp_path / "backup.inklock")
    restore_backup(tmp_path / "backup.inklock", tmp_path / "restored", os.environ["INKLOCK_PASSPHRASE"])
    with Vault.open(tmp_path / "restored", os.environ["INKLOCK_PASSPHRASE"]) as restored:
        assert exemplar_words(restored) == ["insomnia", "worse"]
        for (image_file,) in restored.db.execute("SELECT image_file FROM word_exemplars"):
            assert restored.get_file(image_file).startswith(b"\x89PNG")
        assert exemplars.suggest(restored, target) == before


def test_the_review_page_offers_the_handwriting_reading_beside_an_empty_box():
    from scanner.review.web.fields import build_views

    row = {"id": 7, "key": "focus", "kind": "line", "privacy": "progress", "page": 1, "value": "lnsomnla",
           "confidence": 0.3, "flags": ["low_confidence"], "status": "pending", "confirmed_value": None}
    hand = {7: {"text": "insomnia", "confidence": 0.83,
                "words": [{"word": "insomnia", "source": "exemplar", "distance": 0.1}]}}
    (view,) = build_views([row], None, hand)
    assert (view.suggestion, view.text, view.suggestion_source) == ("insomnia", "", "handwriting")
    only_ocr = {7: {"text": "lnsomnla", "confidence": 0.3, "words": [{"word": "lnsomnla", "source": "ocr",
                                                                     "distance": None}]}}
    (view,) = build_views([row], None, only_ocr)
    assert (view.suggestion, view.text, view.suggestion_source) == ("lnsomnla", "", "ocr")
    sure = dict(row, confidence=0.95, flags=[])
    (view,) = build_views([sure], None, hand)  # a confident read is left as it is
    assert view.suggestion is None and view.text == "lnsomnla"


def test_reindex_command_learns_the_hand_again(vault_dir, cli):
    from scanner.vault.vault import Vault

    with Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"]) as v:
        session = add_session(v, {"focus": ("", png(field_crop("focus", ["insomnia worse"], writer(0), 1)), 0.3)})
        confirm.confirm_field(v, session, "focus", value="insomnia worse")
        v.db.execute("DELETE FROM word_exemplars")
        v.db.conn.commit()
    result = cli("--vault", vault_dir, "reindex")
    assert result.code == 0, result.err
    assert "2 word(s) from 1 confirmed field(s)" in result.out
    with Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"]) as v:
        assert exemplar_words(v) == ["insomnia", "worse"]
