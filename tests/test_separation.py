"""Proof that nothing from a private field reaches a progress note or the progress store.

Unusual marker words are planted in every private written field of every
built-in template (in the read and in the confirmed value); every other
private field gets a non-empty answer. Then every format is produced as every
file type, and the marker words are looked for in each output file (the PDF both
as extracted text and as raw bytes) and in every row of every table of the
decrypted progress store.
"""

from __future__ import annotations

import os
import subprocess

import cv2
import numpy as np
import pytest

from forms.model import list_templates
from forms.payload import new_sheet_id
from scanner.notes import progress as notes
from scanner.vault import store
from scanner.ingest.read import FieldRead, PageResult

MARKERS = ("zebrafjord", "quixotlemma")
FORMATS = ("soap", "birp", "dap")
KINDS = ("md", "txt", "pdf", "json")
TINY_PNG = cv2.imencode(".png", np.full((4, 4), 255, np.uint8))[1].tobytes()
TEMPLATES = [t.name for t in list_templates()]


@pytest.fixture
def vault(tmp_path):
    from scanner.vault.vault import Vault

    v, _ = Vault.create(tmp_path / "vault", os.environ["INKLOCK_PASSPHRASE"])
    yield v
    v.close()


def private_value(f, index: int):
    """A non-empty private answer; written kinds carry the marker words."""
    if f.kind in ("line", "text"):
        return f"{MARKERS[0]} {MARKERS[1]} markword{index}x SI hx"
    if f.kind == "checkbox":
        return True
    if f.kind == "choice":
        last = f.options[-1].value
        return [last] if f.multiple else last
    if f.kind == "scale":
        return f.max
    return "7" * f.cells


def progress_value(f):
    """An ordinary progress answer, so the note has content in every section."""
    if f.kind in ("line", "text"):
        return f"ordinary progress text for {f.key.replace('_', ' ')}"
    if f.kind == "checkbox":
        return True
    if f.kind == "choice":
        first = f.options[0].value
        return [first] if f.multiple else first
    if f.kind == "scale":
        return f.min
    return "1" * f.cells


def filled_session(vault, template, confirm_private: bool, keep_private: bool = False) -> tuple[int, list[str]]:
    """Store a sheet of ``template`` with every field answered; returns (session, marked private keys)."""
    sheet_id = new_sheet_id()
    session = store.register_sheet(vault, sheet_id=sheet_id, template=template.name,
                                   template_version=template.version, page_size="letter",
                                   client="C042", date="2026-12-01", session_number=7)
    values, marked = {}, []
    for i, f in enumerate(template.fields):
        if f.privacy == "private":
            values[f.key] = private_value(f, i)
            if f.kind in ("line", "text"):
                marked.append(f.key)
        else:
            values[f.key] = progress_value(f)
    for page in template.pages:
        reads = [FieldRead(f.key, f.kind, f.privacy, page.number, values[f.key], 0.9, [], TINY_PNG)
                 for f in page.fields]
        store.save_page(vault, PageResult("identified", "synthetic.pdf", f"{sheet_id:0<64}", page.number - 1,
                                          template=template.name, page=page.number, page_size="letter",
                                          sheet_id=sheet_id, image_jpeg=TINY_PNG, fields=reads))
    for f in template.fields:
        if f.privacy == "progress" or confirm_private:
            store.confirm_field(vault, session, f.key, value=values[f.key])
    if keep_private:  # kept as written (issue 14): unconfirmed, out of the queue
        assert sorted(store.keep_private(vault, session)["kept"]) == sorted(marked)
    return session, marked


def dump_progress_store(vault) -> str:
    """Every row of every table (and the schema) of the decrypted progress store, as text."""
    db = vault.progress_db
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    parts = [repr(db.execute("SELECT * FROM sqlite_master").fetchall())]
    for name in names:
        parts.append(repr(db.execute(f'SELECT * FROM "{name}"').fetchall()))
    return "\n".join(parts)


def assert_no_marker(blob: str | bytes, where: str) -> None:
    text = blob.decode("latin-1") if isinstance(blob, bytes) else blob
    for marker in (*MARKERS, "markword"):
        assert marker not in text.lower(), f"private marker '{marker}' found in {where}"


@pytest.mark.parametrize("private", ["confirmed", "pending", "kept"], ids=lambda m: f"private-{m}")
@pytest.mark.parametrize("template_name", TEMPLATES)
def test_no_private_word_in_any_note_or_the_progress_store(vault, tmp_path, template_name, private):
    from scanner.review import risk

    template = next(t for t in list_templates() if t.name == template_name)
    session, marked = filled_session(vault, template, private == "confirmed", keep_private=private == "kept")
    assert marked, "the template should have private written fields to plant words in"
    # The planted words really are in the vault: the test would see them if they leaked.
    assert MARKERS[0] in repr(store.show_session(vault, session)["fields"])
    # The risk words (queue, next sheet, the note's risk sentence) come from progress fields only.
    assert_no_marker(repr(risk.session_risk(vault, session)), "the session's risk words")

    out_dir = tmp_path / "notes"
    out_dir.mkdir()
    for fmt in FORMATS:
        for kind in KINDS:
            out = notes.write_note(vault, session, fmt, out_dir / f"note-{fmt}.{kind}")
            raw = out.read_bytes()
            assert_no_marker(raw, out.name)
            if kind == "pdf":
                text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                                      check=True).stdout
                assert_no_marker(text, f"{out.name} (extracted text)")
                # Positive control: the same two checks do see progress text.
                assert "ordinary progress text" in text and b"ordinary progress text" in raw
            else:
                assert "ordinary progress text" in raw.decode("utf-8")

    dump = dump_progress_store(vault)
    assert dump.count("ordinary progress text") >= len(FORMATS) * len(KINDS)
    assert_no_marker(dump, "the progress store")
    assert sorted(os.listdir(out_dir)) == sorted(f"note-{f}.{k}" for f in FORMATS for k in KINDS)


def test_builder_is_never_handed_a_private_field(vault, tmp_path, monkeypatch):
    """The vault query itself hands over progress fields only (the builder's own check is the second line)."""
    handed: list[dict] = []
    real = notes.build_note

    def spy(template, sheet, fields, fmt, shorthand):
        handed.extend(fields)
        return real(template, sheet, fields, fmt, shorthand)

    monkeypatch.setattr(notes, "build_note", spy)
    for template in list_templates():
        session, _ = filled_session(vault, template, confirm_private=True)
        notes.write_note(vault, session, "soap", tmp_path / f"{template.name}.md")
    assert handed
    private_keys = {f.key for t in list_templates() for f in t.fields if f.privacy == "private"}
    assert not {f["key"] for f in handed} & private_keys
    assert all(set(f) == {"key", "kind", "privacy", "page", "status", "confirmed_value"} for f in handed)


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_no_private_word_in_a_signed_note_its_addenda_exports_or_copy_text(vault, tmp_path, template_name):
    """Signing, addenda and the copy button are outputs too (issue #14): the same planted words, looked for there."""
    from scanner.notes import clinician

    template = next(t for t in list_templates() if t.name == template_name)
    session, _ = filled_session(vault, template, confirm_private=True)
    clinician.set_clinician(vault, name="Dr Ada Example", credentials="PsyD", licence="PSY-1")
    notes.sign_note(vault, session, "dap", confirm_code=True)
    notes.add_addendum(vault, session, "ordinary progress text added later")
    # After signing a private field may still be confirmed again: it must not reach the signed note either.
    store.confirm_field(vault, session, next(f.key for f in template.fields if f.privacy == "private"
                                             and f.kind in ("line", "text")), value=f"{MARKERS[0]} again")

    out_dir = tmp_path / "signed"
    out_dir.mkdir()
    for kind in KINDS:
        out = notes.write_note(vault, session, "dap", out_dir / f"signed.{kind}")
        raw = out.read_bytes()
        assert_no_marker(raw, out.name)
        if kind == "pdf":
            text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
            assert_no_marker(text, f"{out.name} (extracted text)")
            assert "ordinary progress text added later" in " ".join(text.split())
        else:
            assert "ordinary progress text added later" in raw.decode("utf-8")
    copy = notes.copy_text(vault, session, "dap")
    assert "Electronically signed by Dr Ada Example" in copy and "ordinary progress text" in copy
    assert_no_marker(copy, "the copy text")

    # The review page's note preview (what the copy button copies, and what it shows).
    from scanner.review.web import create_app
    from tests.test_web import BASE, PORT, login

    app = create_app(vault, lambda pw: vault, idle_minutes=15, port=PORT)
    app.testing = True
    page = login(app).get(f"/session/{session}/note", base_url=BASE).get_data(as_text=True)
    assert 'id="note-text"' in page and "ordinary progress text added later" in page
    assert_no_marker(page, "the note page")

    dump = dump_progress_store(vault)
    assert "ordinary progress text added later" in dump and "Electronically signed" in dump
    assert_no_marker(dump, "the progress store (signed notes and addenda)")
