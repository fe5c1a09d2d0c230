"""Ingest end to end on the sample day and on generated pages: every page accounted for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from tests.helpers import paint_over

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def expected():
    return json.loads((SAMPLES / "expected.json").read_text())


@pytest.fixture
def day_vault(vault, expected):
    """A vault in which the sample sheets were printed."""
    from scanner.vault import store

    for sheet in expected["sheets"]:
        store.register_sheet(vault, sheet_id=sheet["sheet_id"], template=sheet["template"], template_version=1,
                             page_size=sheet["page_size"], client=sheet["client"], date=sheet["date"],
                             session_number=sheet["session"])
    return vault


def pdf_pages(path: Path) -> list[np.ndarray]:
    """The embedded page images of a scanner-style PDF."""
    from scanner.ingest.pages import PageImage, iter_pages

    return [p.image for p in iter_pages([path]) if isinstance(p, PageImage)]


def write_pdf(images: list[np.ndarray], path: Path) -> Path:
    Image.fromarray(images[0]).save(path, save_all=True, append_images=[Image.fromarray(i) for i in images[1:]],
                                    resolution=300)
    return path


def test_sample_day_every_page_accounted_and_marks_right(day_vault, expected, cli):
    r = cli("ingest", "--json", SAMPLES / "day.pdf")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["pages"] == 7
    assert summary["identified"] == 6 and summary["blank"] == 1
    assert summary["unmatched"] == summary["failed"] == 0
    silent_wrong = []
    for sheet in expected["sheets"]:
        shown = json.loads(cli("show", sheet["sheet_id"], "--json").out)
        assert sorted(p["page"] for p in shown["pages"]) == [1, 2]
        fields = {f["key"]: f for f in shown["fields"]}
        for page in sheet["pages"]:
            for key, want in page["values"].items():
                f = fields[key]
                if f["kind"] in ("checkbox", "choice", "scale") and f["value"] != want:
                    flagged = bool(set(f["flags"]) - {"empty"}) or f["confidence"] < 0.8
                    if not flagged:
                        silent_wrong.append((sheet["client"], key, want, f["value"]))
    assert silent_wrong == []


def test_same_file_twice_adds_nothing(day_vault, cli):
    first = json.loads(cli("ingest", "--json", SAMPLES / "day.pdf").out)
    second = json.loads(cli("ingest", "--json", SAMPLES / "day.pdf").out)
    assert first["identified"] == 6
    # The 6 stored pages are already in the vault; the blank back left nothing, so it is looked at again.
    assert first["blank"] == 1 and second["duplicates"] == 6 and second["blank"] == 1 and second["identified"] == 0
    count = day_vault.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
    assert count == 6


def test_rescan_is_new_version_and_keeps_confirmed(day_vault, expected, cli, tmp_path):
    images = pdf_pages(SAMPLES / "day.pdf")
    sheet = expected["sheets"][0]
    page1 = next(p for p in expected["pages"] if p["sheet_id"] == sheet["sheet_id"] and p["page"] == 1)
    cli("ingest", SAMPLES / "day.pdf")
    assert cli("confirm", sheet["sheet_id"], "focus", "--value", "typed by the clinician").code == 0
    rescan = write_pdf([np.rot90(images[page1["source_index"]])], tmp_path / "rescan.pdf")
    summary = json.loads(cli("ingest", "--json", rescan).out)
    assert summary["identified"] == 1 and summary["rescans"] == 1 and summary["kept_confirmed"] >= 1
    shown = json.loads(cli("show", sheet["sheet_id"], "--json").out)
    # The confirmed value the rescan reads otherwise is named at ingest, not only flagged.
    assert "focus" in summary["rescan_differs"][str(shown["session"])]
    again = cli("ingest", write_pdf([np.rot90(images[page1["source_index"]], 3)], tmp_path / "rescan2.pdf"))
    assert f"Session {shown['session']}: the rescan reads" in again.out and "focus" in again.out
    assert next(p for p in shown["pages"] if p["page"] == 1)["version"] == 2
    focus = next(f for f in shown["fields"] if f["key"] == "focus")
    assert focus["status"] == "confirmed" and focus["confirmed_value"] == "typed by the clinician"


def test_rescan_keeps_a_private_note_kept_as_written(day_vault, expected, cli, tmp_path):
    """Kept as written, the crop is the record: a rescan of the page neither reopens it nor replaces its crop."""
    images = pdf_pages(SAMPLES / "day.pdf")
    sheet = expected["sheets"][0]
    page2 = next(p for p in expected["pages"] if p["sheet_id"] == sheet["sheet_id"] and p["page"] == 2)
    cli("ingest", SAMPLES / "day.pdf")
    assert cli("confirm", sheet["sheet_id"], "--keep-private").code == 0

    def private_rows():
        return {r["key"]: (r["kept_at"], r["crop_file"], r["value"]) for r in day_vault.db.query(
            "SELECT key, kept_at, crop_file, value FROM fields WHERE sheet_id = ? AND privacy = 'private' "
            "AND kept_at IS NOT NULL", [sheet["sheet_id"]])}

    before = private_rows()
    assert before
    rescan = write_pdf([np.rot90(images[page2["source_index"]], 2)], tmp_path / "rescan.pdf")
    summary = json.loads(cli("ingest", "--json", rescan).out)
    assert summary["rescans"] == 1 and summary["kept_confirmed"] >= len(before)
    assert private_rows() == before
    shown = json.loads(cli("show", sheet["sheet_id"], "--json").out)
    assert all(f["status"] == "kept" for f in shown["fields"] if f["key"] in before)


def test_an_unfilled_copy_scanned_after_the_filled_page_changes_nothing(day_vault, expected, cli, tmp_path):
    """A sheet printed again (a jammed printer), its unfilled copy scanned after the filled one: never a blank rescan."""
    from forms.render import SheetSpec
    from tools.synth import printed_pages

    sheet = expected["sheets"][0]
    cli("ingest", SAMPLES / "day.pdf")

    def page1():
        return {r["key"]: (r["value"], r["crop_file"], r["page_version"]) for r in day_vault.db.query(
            "SELECT key, value, crop_file, page_version FROM fields WHERE sheet_id = ? AND page = 1",
            [sheet["sheet_id"]])}

    before = page1()
    assert any(json.loads(v) not in (None, "", [], False) for v, _c, _p in before.values())
    spec = SheetSpec(sheet["sheet_id"], sheet["template"], client=sheet["client"], date=sheet["date"],
                     session=sheet["session"])
    unfilled = printed_pages([spec], 300, sheet["page_size"])[0]
    r = cli("ingest", "--json", write_pdf([unfilled], tmp_path / "reprint.pdf"))
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["unfilled"] == 1 and summary["rescans"] == 0 and summary["failed"] == 0
    assert "nothing is written on it" in summary["unfilled_pages"][0]
    assert page1() == before
    versions = day_vault.db.execute("SELECT MAX(version) FROM pages WHERE sheet_id = ? AND page = 1",
                                    [sheet["sheet_id"]]).fetchone()[0]
    assert versions == 1
    shown = cli("ingest", write_pdf([unfilled], tmp_path / "reprint2.pdf"))
    assert "not stored:" in shown.out and "0 page(s) failed" in shown.out
    # Nor once every value is confirmed: the blank copy would become the page's image, every field "read otherwise".
    for key in before:
        assert cli("confirm", sheet["sheet_id"], key).code == 0
    again = json.loads(cli("ingest", "--json", write_pdf([unfilled], tmp_path / "reprint3.pdf")).out)
    assert again["unfilled"] == 1 and again["rescans"] == 0
    assert day_vault.db.execute("SELECT MAX(version) FROM pages WHERE sheet_id = ? AND page = 1",
                                [sheet["sheet_id"]]).fetchone()[0] == 1
    flags = [json.loads(f) for (f,) in day_vault.db.execute(
        "SELECT flags FROM fields WHERE sheet_id = ? AND page = 1", [sheet["sheet_id"]]).fetchall()]
    assert not [f for f in flags if "rescan_differs" in f]


def test_a_confirmed_risk_answer_a_rescan_reads_otherwise_goes_back_to_review(day_vault, expected, cli, tmp_path):
    """A rescan whose risk screen reads otherwise than confirmed must not stay out of sight."""
    images = pdf_pages(SAMPLES / "day.pdf")
    sheet = expected["sheets"][0]
    page1 = next(p for p in expected["pages"] if p["sheet_id"] == sheet["sheet_id"] and p["page"] == 1)
    cli("ingest", SAMPLES / "day.pdf")

    def field(key):
        shown = json.loads(cli("show", sheet["sheet_id"], "--json").out)
        return shown["session"], next(f for f in shown["fields"] if f["key"] == key)

    session, si = field("risk_si")
    other = next(o for o in ("none", "passive", "active", "with plan") if o != si["value"])
    assert cli("confirm", sheet["sheet_id"], "risk_si", "--value", other).code == 0
    assert cli("confirm", sheet["sheet_id"], "focus").code == 0
    rescan = write_pdf([np.rot90(images[page1["source_index"]])], tmp_path / "rescan.pdf")
    r = cli("ingest", "--json", rescan)
    summary = json.loads(r.out)
    assert summary["risk_reopened"] == {str(session): ["risk_si"]}
    _, after = field("risk_si")
    assert after["status"] == "pending" and after["value"] == si["value"] and "rescan_reopened" in after["flags"]
    _, focus = field("focus")
    assert focus["status"] == "confirmed"  # other confirmed values stay as decided
    trail = day_vault.db.execute("SELECT e.action, e.old FROM edits e JOIN fields f ON f.id = e.field_id "
                                 "WHERE f.sheet_id = ? AND f.key = 'risk_si' ORDER BY e.id DESC LIMIT 1",
                                 [sheet["sheet_id"]]).fetchone()
    assert trail[0] == "rescan-reopened-risk" and json.loads(trail[1]) == other
    # Review says which answer had been confirmed, in the sheet's words.
    from scanner.review.web.fields import build_views
    from scanner.vault import store

    rows = store.session_fields(day_vault, sheet["sheet_id"])
    view = next(v for v in build_views(rows, None) if v.key == "risk_si")
    assert f"otherwise than you confirmed ({other})" in " ".join(view.flag_words)
    # The risk list (queue, sessions, next sheet) goes by the new reading again, not by what was confirmed.
    listed = next(s for s in json.loads(cli("sessions", "--json").out)["sessions"] if s["session"] == session)
    assert any(w.startswith("suicidal ideation") for w in listed["risk"]) == (si["value"] not in (None, "none"))
    shown = cli("ingest", write_pdf([np.rot90(images[page1["source_index"]], 3)], tmp_path / "rescan2.pdf"))
    assert "risk answer" not in shown.out  # now pending, a rescan replaces its reading as for any pending value


def test_unreadable_qr_goes_to_unmatched_with_guess(day_vault, expected, cli, tmp_path):
    images = pdf_pages(SAMPLES / "day.pdf")
    entry = next(p for p in expected["pages"] if not p["blank"] and p["preset"] == "scanner")
    gray = images[entry["source_index"]].copy()
    # Neither the QR code nor the sheet id printed beside it (that alone names the sheet,
    # tests/test_sheet_id_fallback.py) can be read.
    gray = paint_over(gray)
    summary = json.loads(cli("ingest", "--json", write_pdf([gray], tmp_path / "noqr.pdf")).out)
    assert summary["unmatched"] == 1 and summary["identified"] == 0
    row = day_vault.db.execute("SELECT reason, guess, thumb_file FROM unmatched").fetchone()
    assert "QR" in row[0]
    [why] = summary["unmatched_pages"]  # the summary says which page and why, as the review queue does
    assert "noqr.pdf page 1: " in why and row[0] in why
    assert json.loads(row[1])["template"] == "session"
    assert day_vault.get_file(row[2])[:2] == b"\xff\xd8"  # a JPEG thumbnail, decrypted


def test_sheet_not_printed_from_this_vault_is_unmatched(vault, cli):
    summary = json.loads(cli("ingest", "--json", SAMPLES / "day.pdf").out)
    assert summary["unmatched"] == 6 and summary["blank"] == 1
    reasons = [r[0] for r in vault.db.execute("SELECT reason FROM unmatched")]
    assert all("not printed from this vault" in r for r in reasons)
    assert len(summary["unmatched_pages"]) == 6 and all("not printed from this vault" in u for u in summary["unmatched_pages"])


def test_bad_files_do_not_stop_the_batch(day_vault, cli, tmp_path):
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes((SAMPLES / "day.pdf").read_bytes()[:3000])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.docx"
    notes.write_bytes(b"PK\x03\x04 not a scan")
    r = cli("ingest", "--json", corrupt, empty, notes, SAMPLES / "day.pdf")
    assert r.code == 4
    summary = json.loads(r.out)
    assert summary["identified"] == 6
    assert len(summary["problems"]) == 3
    assert all(str(p) in " ".join(summary["problems"]) for p in (corrupt, empty, notes))
    assert "Traceback" not in r.err


def test_encrypted_pdf_is_refused_by_name(day_vault, cli, tmp_path):
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(SAMPLES / "day.pdf") as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    r = cli("ingest", locked)
    assert r.code == 4
    assert "password" in r.out + r.err


def test_images_tiff_and_folders(day_vault, expected, cli, tmp_path):
    images = pdf_pages(SAMPLES / "day.pdf")
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(images[0]).save(folder / "a.png")
    Image.fromarray(images[1]).save(folder / "b.jpg", quality=85)
    Image.fromarray(images[2]).save(tmp_path / "multi.tif", save_all=True,
                                    append_images=[Image.fromarray(i) for i in images[3:]])
    summary = json.loads(cli("ingest", "--json", folder, tmp_path / "multi.tif").out)
    assert summary["files"] == 3 and summary["pages"] == 7
    assert summary["identified"] + summary["blank"] == 7


def test_remove_source_deletes_only_fully_stored_files(day_vault, cli, tmp_path):
    copy = tmp_path / "day.pdf"
    shutil.copy(SAMPLES / "day.pdf", copy)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7 garbage")
    r = cli("ingest", "--json", "--remove-source", copy, bad)
    summary = json.loads(r.out)
    assert not copy.exists() and str(copy) in summary["removed"]
    assert bad.exists()


def test_ingest_leaves_no_temp_files(day_vault, cli, tmp_path):
    import os

    cli("ingest", SAMPLES / "day.pdf")
    leftovers = list(Path(os.environ["TMPDIR"]).rglob("*"))
    assert leftovers == []


def _worker_blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    from scanner.ingest.pipeline import _init_worker

    _init_worker({}, {}, {}, {})
    return [pool["num_threads"] for pool in threadpool_info()]


def test_page_workers_run_numpy_on_one_thread():
    """A worker is one core: BLAS threads of its own spin and slow both workers down."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        threads = pool.apply(_worker_blas_threads)
    assert threads and all(n == 1 for n in threads)


def _model_package_at(monkeypatch, folder):
    """Make the line model's package resolve to ``folder`` (None: not installed)."""
    import importlib.machinery
    import importlib.util

    from scanner.ingest import linerec

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *a):
        if name != linerec.MODEL_PACKAGE:
            return real_find_spec(name, *a)
        if folder is None:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_line_model_stops_before_any_page(day_vault, cli, monkeypatch):
    """Without the line recogniser's model every page would fail: one sentence, exit 2, nothing stored."""
    _model_package_at(monkeypatch, None)
    result = cli("ingest", SAMPLES / "day.pdf")
    assert result.code == 2
    assert "make setup" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert day_vault.db.execute("SELECT count(*) FROM pages").fetchone()[0] == 0


def test_altered_line_model_stops_before_any_page(day_vault, cli, monkeypatch, tmp_path):
    """A model file that is not the one checked in (its SHA-256 differs) is refused the same way."""
    from scanner.ingest import linerec

    real = linerec.model_path()
    altered = tmp_path / "pkg" / linerec.MODEL_FILE
    altered.parent.mkdir(parents=True)
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    altered.write_bytes(bytes(data))
    _model_package_at(monkeypatch, tmp_path / "pkg")
    result = cli("ingest", SAMPLES / "day.pdf")
    assert result.code == 2
    assert "not the expected file" in result.err and "make setup" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert day_vault.db.execute("SELECT count(*) FROM pages").fetchone()[0] == 0


def test_other_readings_are_stored_for_handwritten_text(day_vault, cli):
    """Where post-correction changed a reading, the recogniser's own is kept beside it for review (encrypted like the rest)."""
    cli("ingest", SAMPLES / "day.pdf")
    rows = day_vault.db.execute("SELECT kind, value, alternative FROM fields").fetchall()
    others = [r for r in rows if r[2] is not None]
    assert others, "no field of the sample day had a second reading"
    assert all(kind in ("line", "text") and alternative.strip() and alternative != json.loads(value)
               for kind, value, alternative in others)


def test_the_page_worker_cuts_the_handwriting_and_the_writer_stores_it(day_vault, cli, monkeypatch):
    """Search by hand needs no pass after ingest that decrypts the crops again: the vectors come with the page."""
    from scanner.hand import crops, exemplars
    from scanner.vault import store

    def no_read_back(*_a, **_k):
        raise AssertionError("a stored crop was decrypted again for the hand during ingest")

    monkeypatch.setattr(crops, "crop", no_read_back)
    assert cli("ingest", SAMPLES / "day.pdf").code == 0
    monkeypatch.undo()
    fields = day_vault.db.execute("SELECT id, crop_file FROM fields WHERE kind IN ('line', 'text')").fetchall()
    drafts = {r[0]: r[1:] for r in day_vault.db.execute("SELECT field_id, crop_file, words, vectors FROM word_drafts")}
    assert fields and dict(fields) == {fid: d[0] for fid, d in drafts.items()}
    assert sum(d[1] for d in drafts.values()) > 0
    # The repair behind `inklock reindex` cuts the stored crops exactly as the worker cut them in memory.
    with store.transaction(day_vault.db):
        day_vault.db.execute("DELETE FROM word_drafts")
    assert exemplars.index_drafts(day_vault) == len(fields)
    again = {r[0]: r[1:] for r in day_vault.db.execute("SELECT field_id, crop_file, words, vectors FROM word_drafts")}
    assert again == drafts
