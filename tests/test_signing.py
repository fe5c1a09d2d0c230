"""Notes an EHR accepts (issue #14): attendance notes, duration and service code, clinician settings,
signing that locks the note, addenda after it."""

from __future__ import annotations

import json
import subprocess

import pytest

from forms.model import get_template
from scanner.notes import clinician
from scanner.notes import prose as note_prose
from scanner.notes import progress as notes
from scanner.vault import store
from scanner.errors import ExitCode, Refused, UsageError
from tests.test_notes import SESSION_VALUES, add_session, confirm_all


@pytest.fixture
def run(cli, monkeypatch):
    """The in-process CLI with the note, confirm, settings, sign and addendum commands."""
    from scanner.cli import main as cli_module
    from scanner.cli import note as cli_note
    from scanner.cli import sign as cli_sign
    from scanner.cli import commands

    def register():
        for cmd in (cli_note.note, commands.confirm, commands.show, cli_sign.settings, cli_sign.sign,
                    cli_sign.addendum):
            cli_module.cli.add_command(cmd)

    monkeypatch.setattr(cli_module, "_register_commands", register)
    return cli


def confirmed(vault, **changes):
    values = dict(SESSION_VALUES, **changes)
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    return session


def status(vault, session, key):
    f = next(f for f in store.show_session(vault, session)["fields"] if f["key"] == key)
    return f["status"], f["confirmed_value"]


def txt(vault, session, fmt="soap"):
    return notes.render(notes.draft_note(vault, session, fmt), "txt").decode("utf-8")


# ---------------------------------------------------------------- attendance, duration, code


@pytest.mark.parametrize("answer, sentence", [
    ("cancelled", "The session was cancelled."),
    ("no-show", "Client did not attend the scheduled session (no-show)."),
])
def test_a_session_that_did_not_take_place_gives_an_attendance_note(vault, answer, sentence):
    session = confirmed(vault, attendance=answer)
    for fmt in notes.FORMATS:
        note = notes.draft_note(vault, session, fmt)
        assert note.kind == "attendance" and note.title == "Individual session: attendance note"
        assert [s.title for s in note.sections] == ["Attendance", "Plan"]
        assert note.sections[0].items[0].text == sentence
        text = txt(vault, session, fmt)
        for soap_only in ("SUBJECTIVE", "OBJECTIVE", "BEHAVIOR", "DATA", "Mood was", "PHQ-9", "Service code"):
            assert soap_only not in text, soap_only
        assert "The next session is planned in 2 weeks." in text


def test_a_cancelled_session_still_states_a_confirmed_risk_answer(vault):
    session = confirmed(vault, attendance="cancelled", risk_si="with_plan", safety_plan=False)
    for fmt in notes.FORMATS:
        note = notes.draft_note(vault, session, fmt)
        assert note.kind == "attendance"
        assert [s.title for s in note.sections] == ["Attendance", "Risk", "Plan"]
        text = txt(vault, session, fmt)
        assert "Suicidal ideation" in text and "plan" in note.sections[1].text
        assert "The safety plan was not reviewed." in text


def test_late_and_attended_sessions_get_a_full_note(vault):
    session = confirmed(vault, attendance="late")
    note = notes.draft_note(vault, session, "soap")
    assert note.kind == "progress"
    assert "Client arrived late for a video session of 38-52 minutes." in note.sections[1].text


@pytest.mark.parametrize("band, code", [("16-37", "90832"), ("38-52", "90834"), ("53+", "90837")])
def test_minutes_band_suggests_its_service_code_for_the_clinician_to_confirm(vault, band, code):
    session = confirmed(vault, session_length=band)
    note = notes.draft_note(vault, session, "soap")
    assert note.duration == f"{band} minutes" and note.service_code == code and not note.code_confirmed
    text = txt(vault, session)
    assert f"Duration: {band} minutes" in text
    assert f"Service code: {code} suggested from the duration; the clinician confirms it" in text


def test_service_code_bands_are_exact_and_numbers_fall_in_them():
    assert [note_prose.service_code(x) for x in ("16-37", "38-52", "53+", "45", "15", "53", "37")] == \
        ["90832", "90834", "90837", "90834", None, "90837", "90832"]
    # A group sheet's bands are not psychotherapy bands: nothing is guessed.
    assert [note_prose.service_code(x) for x in ("45-74", "75-104", "105+", "", None)] == [None] * 5


def test_blank_minutes_says_not_recorded_and_suggests_no_code(vault):
    session = confirmed(vault, session_length=None)
    note = notes.draft_note(vault, session, "soap")
    assert note.duration is None and note.service_code is None
    text = txt(vault, session)
    assert "Duration: not recorded" in text and "The duration was not recorded." in text
    assert "Service code" not in text and "9083" not in text
    assert "Client attended a video session." in text  # no length is made up


# ---------------------------------------------------------------- risk in words


def test_risk_is_stated_in_words_and_an_unreviewed_safety_plan_is_said(vault):
    session = confirmed(vault, risk_si="with_plan", risk_self_harm="recent_act", safety_plan=False)
    note = notes.draft_note(vault, session, "soap")
    a, p = note.sections[2].text, note.sections[3].text
    assert "Suicidal ideation: active, with plan. Self-harm: recent act. No homicidal ideation was reported." in a
    assert "The safety plan was not reviewed in this session." in p
    values = {r["key"]: r["confirmed_value"] for r in notes.progress_fields(vault, session)[1]}
    assert notes.risk_words(get_template("session"), values) == [
        "suicidal ideation: active, with plan", "self-harm: recent act", "safety plan: not reviewed"]
    # No risk endorsed: an unticked safety plan box is routine and not mentioned.
    calm = confirmed(vault, safety_plan=False)
    assert "safety plan" not in txt(vault, calm).lower()


def test_every_risk_item_of_the_bundled_templates_is_a_progress_field():
    for name in ("session", "group"):
        template = get_template(name)
        risk = [f for f in template.fields if note_prose.is_risk_item(f) or note_prose.is_safety_plan(f)]
        assert risk and all(f.privacy == "progress" for f in risk)


# ---------------------------------------------------------------- clinician settings


def test_settings_are_kept_in_the_vault_and_printed_on_the_note(vault, run):
    r = run("settings", "--json")
    assert r.code == 0 and json.loads(r.out) == {"clinician": {"name": "", "credentials": "", "licence": ""}}
    r = run("settings", "--name", "Dr Ada Example", "--credentials", "PsyD", "--licence", "PSY-12345")
    assert r.code == 0 and "Dr Ada Example" in r.out and "PSY-12345" in r.out
    r = run("settings", "--credentials", "PhD", "--json")
    assert json.loads(r.out)["clinician"] == {"name": "Dr Ada Example", "credentials": "PhD", "licence": "PSY-12345"}
    assert clinician.get_clinician(vault)["credentials"] == "PhD"
    session = confirmed(vault)
    text = txt(vault, session)
    assert "Clinician: Dr Ada Example, PhD (licence PSY-12345)" in text
    assert "Clinician signature: ______________________________ Dr Ada Example, PhD (licence PSY-12345)" in text
    r = run("settings", "--name", "two\nlines")
    assert r.code == ExitCode.USAGE and "one line" in r.err
    assert clinician.get_clinician(vault)["name"] == "Dr Ada Example"


def test_sign_is_refused_with_one_sentence_until_a_name_is_set(vault, run):
    session = confirmed(vault)
    r = run("sign", session)
    assert r.code == ExitCode.REFUSED == 3
    assert r.err.count("\n") == 1 and "Set your name" in r.err and "Traceback" not in r.err
    assert notes.signed_note(vault, session) is None
    run("settings", "--name", "Dr Ada Example")
    r = run("sign", session, "--format", "birp")
    assert r.code == 0, r.err
    # The session is named with whose it is, so a number typed from the paper cannot pass for another client's.
    assert r.out.startswith(f"Signed the BIRP note of session {session} (client ")
    assert " as Dr Ada Example at " in r.out
    # Signed without --confirm-code: the code can no longer be confirmed on this note, and the message says so.
    assert "was signed as a suggestion" in r.out and "before signing" in r.out
    assert run("sign", session, "--format", "birp", "--confirm-code").code == ExitCode.REFUSED


# ---------------------------------------------------------------- sign and lock


def test_a_signed_note_cannot_change_and_every_export_is_the_signed_text(vault, run, tmp_path):
    session = confirmed(vault)
    clinician.set_clinician(vault, name="Dr Ada Example", credentials="PsyD", licence="PSY-12345")
    signed = notes.sign_note(vault, session, "soap", confirm_code=True)
    assert signed["signer"]["name"] == "Dr Ada Example"
    first = {k: notes.write_note(vault, session, "soap", tmp_path / f"a.{k}").read_bytes() for k in ("md", "txt", "json")}
    assert "Electronically signed by Dr Ada Example, PsyD (licence PSY-12345) on " in first["txt"].decode()
    assert "Service code: 90834 (psychotherapy), confirmed by the clinician" in first["txt"].decode()

    # Progress fields are locked, from the CLI and the store alike; a private field is not part of the note.
    r = run("confirm", session, "focus", "--value", "something else entirely")
    assert r.code == ExitCode.REFUSED and "signed" in r.err and "addendum" in r.err and r.err.count("\n") == 1
    with pytest.raises(Refused):
        store.reopen_field(vault, session, "mood_rating")
    with pytest.raises(Refused):
        store.confirm_field(vault, session, "mood_rating", value=9)
    store.confirm_field(vault, session, "hypotheses", value="later thought")  # private: still the clinician's
    assert status(vault, session, "hypotheses") == ("confirmed", "later thought")
    # Even a changed value underneath (or a new draft) does not change the signed export.
    sheet = store.get_sheet(vault, session)
    vault.db.execute("UPDATE fields SET confirmed_value = '\"rewritten focus\"' WHERE sheet_id = ? AND key = 'focus'",
                     [sheet["sheet_id"]])
    vault.db.conn.commit()
    for kind, data in first.items():
        again = notes.write_note(vault, session, "soap", tmp_path / f"b.{kind}").read_bytes()
        assert again == data, kind  # byte-identical
        assert b"rewritten focus" not in again
    pdf = notes.write_note(vault, session, "soap", tmp_path / "a.pdf")
    pdf_text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Electronically signed by Dr Ada Example" in pdf_text and "work stress and sleep" in " ".join(pdf_text.split())
    assert pdf.read_bytes() == notes.write_note(vault, session, "soap", tmp_path / "b.pdf").read_bytes()

    # The store itself refuses to change or remove a signed note.
    with pytest.raises(Exception, match="cannot change"):
        vault.progress_db.execute("UPDATE signed_notes SET txt = 'x' WHERE session = ?", [session])
    vault.progress_db.conn.rollback()
    with pytest.raises(Refused, match="already signed"):
        notes.sign_note(vault, session, "soap")
    r = run("note", session, "--format", "dap", "--out", tmp_path / "c.md")
    assert r.code == ExitCode.REFUSED and "signed as a SOAP note" in r.err and not (tmp_path / "c.md").exists()


def test_a_rescan_never_reopens_a_risk_answer_of_a_signed_note(vault):
    from forms.catalog import template as get_template
    from scanner.ingest.read import FieldRead, PageResult
    from scanner.values import is_risk_field
    from tests.test_notes import TINY_PNG, empty_value

    session = confirmed(vault)  # risk_si confirmed "none"
    clinician.set_clinician(vault, name="Dr Ada Example", credentials="PsyD", licence="PSY-12345")
    notes.sign_note(vault, session, "soap", confirm_code=True)
    sheet_id = store.get_sheet(vault, session)["sheet_id"]
    page = next(p for p in get_template("session").pages if any(f.key == "risk_si" for f in p.fields))
    reads = [FieldRead(f.key, f.kind, f.privacy, page.number, "active" if f.key == "risk_si" else SESSION_VALUES.get(
        f.key, empty_value(f)), 0.9, [], TINY_PNG, risk=is_risk_field(f)) for f in page.fields]
    outcome = store.save_page(vault, PageResult("identified", "rescan.pdf", "f" * 64, 0, template="session",
                                                page=page.number, page_size="letter", sheet_id=sheet_id,
                                                image_jpeg=TINY_PNG, fields=reads))
    assert outcome["reopened"] == [] and "risk_si" in outcome["differs"]
    assert status(vault, session, "risk_si") == ("confirmed", "none")  # the signed record; an addendum corrects it


def test_a_session_dated_after_today_is_not_signed(vault):
    import datetime

    later = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    session = add_session(vault, "session", SESSION_VALUES, date=later)
    confirm_all(vault, session, "session", SESSION_VALUES)
    clinician.set_clinician(vault, name="Dr Ada Example")
    with pytest.raises(Refused, match="after today"):
        notes.sign_note(vault, session, "soap")
    assert notes.signed_note(vault, session) is None


def test_an_addendum_is_dated_kept_and_shown_after_the_note(vault, run, tmp_path):
    session = confirmed(vault)
    r = run("addendum", session, "--text", "Too early.")
    assert r.code == ExitCode.REFUSED  # no name yet
    run("settings", "--name", "Dr Ada Example", "--credentials", "PsyD")
    r = run("addendum", session, "--text", "Too early.")
    assert r.code == ExitCode.REFUSED and "no signed note" in r.err
    assert run("sign", session).code == 0
    before = notes.write_note(vault, session, "soap", tmp_path / "n.txt").read_text()
    r = run("addendum", session, "--text", "Client phoned on 2 Dec: safety plan reviewed by phone.")
    assert r.code == 0, r.err
    r = run("addendum", session, "--text", "   ")
    assert r.code == ExitCode.USAGE
    after = notes.write_note(vault, session, "soap", tmp_path / "n.txt").read_text()
    assert after.startswith(before)  # the signed text is untouched...
    tail = after[len(before):]  # ...and the addendum follows it, dated and attributed
    assert "\nAddendum, 20" in tail and " UTC, by Dr Ada Example, PsyD:\n" in tail
    assert "Client phoned on 2 Dec: safety plan reviewed by phone." in tail
    md = notes.write_note(vault, session, "soap", tmp_path / "n.md").read_text()
    assert md.index("Electronically signed") < md.index("## Addendum, ")
    data = json.loads(notes.write_note(vault, session, "soap", tmp_path / "n.json").read_text())
    assert data["signed_at"] and [a["text"] for a in data["addenda"]] == [
        "Client phoned on 2 Dec: safety plan reviewed by phone."]
    assert notes.addenda(vault, session)[0]["author"] == "Dr Ada Example, PsyD"
    assert notes.copy_text(vault, session, "soap") == after
    with pytest.raises(Exception, match="cannot"):
        vault.progress_db.execute("DELETE FROM addenda")
    vault.progress_db.conn.rollback()


def test_an_attendance_note_can_be_signed_too(vault):
    session = confirmed(vault, attendance="no-show")
    clinician.set_clinician(vault, name="Dr Ada Example")
    signed = notes.sign_note(vault, session, "soap")
    assert signed["txt"].startswith("INDIVIDUAL SESSION: ATTENDANCE NOTE")
    assert "Electronically signed by Dr Ada Example on " in signed["txt"]


def test_signed_notes_and_settings_are_in_their_own_stores(vault):
    session = confirmed(vault)
    clinician.set_clinician(vault, name="Dr Ada Example")
    notes.sign_note(vault, session, "soap")
    notes.add_addendum(vault, session, "Later note.")
    assert {"signed_notes", "addenda"} <= set(vault.progress_db.table_names())
    assert not {"signed_notes", "addenda"} & set(vault.db.table_names())
    assert "settings" in vault.db.table_names()


def test_unknown_setting_is_a_usage_error(vault):
    with pytest.raises(UsageError):
        clinician.set_clinician(vault, nickname="x")
    with pytest.raises(UsageError):
        clinician.set_clinician(vault, name="x" * 500)


# ---------------------------------------------------------------- the review page (test client)


def test_review_page_signs_locks_and_takes_an_addendum(app, vault):
    from tests.test_web import BASE, _confirm_progress, add_session as web_session, csrf, login, post_json

    s = web_session(vault)
    client = login(app)
    base = f"/session/{s['session']}"
    _confirm_progress(client, app, vault, s["session"])
    page = client.get(f"{base}/note?format=soap", base_url=BASE).get_data(as_text=True)
    assert 'id="copy-note"' in page and 'id="sign-note"' in page and 'id="sign-needs-name"' in page
    assert "Service code" in page and "90832" in page  # the geometry's truth is 16-37 minutes
    form = {"csrf_token": csrf(app), "format": "soap"}
    r = client.post(f"{base}/note/sign", data=form, base_url=BASE)
    assert r.status_code == 400 and "Set your name" in r.get_data(as_text=True)
    r = client.post("/settings", data={**form, "session": s["session"], "name": "Dr Ada Example",
                                       "credentials": "LCSW", "licence": "L-1"}, base_url=BASE)
    assert r.status_code == 302
    assert clinician.get_clinician(vault) == {"name": "Dr Ada Example", "credentials": "LCSW", "licence": "L-1"}
    r = client.post(f"{base}/note/sign", data={**form, "confirm_code": "yes"}, base_url=BASE)
    assert r.status_code == 302
    page = client.get(f"{base}/note?format=dap", base_url=BASE).get_data(as_text=True)
    assert "Electronically signed by Dr Ada Example, LCSW (licence L-1)" in page and "Subjective" in page
    assert 'id="sign-note"' not in page and 'id="addendum-add"' in page
    # An edit of a progress field is refused with one sentence; nothing changes.
    r = post_json(client, app, f"{base}/field/focus/confirm", {"typed": "changed"})
    assert r.status_code == 400 and "signed" in r.json["error"]
    assert status(vault, s["session"], "focus") == ("confirmed", s["truth"]["focus"])
    # A batch holding one progress field is refused whole: not even its private field changes.
    r = post_json(client, app, f"{base}/confirm-many", {"fields": [{"key": "hypotheses", "typed": "new thought"},
                                                                    {"key": "plan", "typed": "changed plan"}]})
    assert r.status_code == 400 and "signed" in r.json["error"]
    assert status(vault, s["session"], "hypotheses")[1] != "new thought"
    r = client.post(f"{base}/note/addendum", data={"csrf_token": csrf(app), "text": "Added later."}, base_url=BASE)
    assert r.status_code == 302
    exports = [client.post(f"{base}/note/export", data={**form, "kind": "md"}, base_url=BASE).data for _ in range(2)]
    assert exports[0] == exports[1] and b"Added later." in exports[0]
    assert exports[0].index(b"Electronically signed") < exports[0].index(b"Added later.")
    assert exports[0] == notes.signed_export(vault, notes.signed_note(vault, s["session"]), "soap", "md")


@pytest.fixture
def app(vault, vault_dir):
    from scanner.vault.vault import Vault
    from scanner.review.web import create_app, state_of
    from tests.test_web import PORT, FakeClock

    web = create_app(vault, lambda pw: Vault.open(vault_dir, pw), idle_minutes=15, clock=FakeClock(), port=PORT)
    web.testing = True
    yield web
    state_of(web).close()


def test_a_users_own_template_reads_as_sentences():
    """Fields this module knows nothing about are written from their kind and label."""
    from forms.model import template_from_data
    from scanner.shorthand import Shorthand

    template = template_from_data({
        "name": "couples", "code": "CPL", "version": 1, "title": "Couples session",
        "pages": [{"title": "Progress", "markers": [20, 21, 22, 23], "fields": [
            {"key": "present", "kind": "choice", "label": "Attendance", "options": ["attended", "cancelled"],
             "privacy": "progress", "sections": {"soap": "O", "birp": "B", "dap": "D"}},
            {"key": "mins", "kind": "digits", "cells": 3, "label": "Minutes", "privacy": "progress",
             "sections": {"soap": "O", "birp": "I", "dap": "D"}},
            {"key": "sleep", "kind": "choice", "label": "Sleep quality", "options": ["good", "poor"],
             "privacy": "progress", "sections": {"soap": "S", "birp": "B", "dap": "D"}},
            {"key": "energy", "kind": "scale", "min": 1, "max": 5, "label": "Energy", "privacy": "progress",
             "sections": {"soap": "S", "birp": "B", "dap": "D"}},
            {"key": "conflicts", "kind": "choice", "multiple": True, "label": "Conflicts",
             "options": ["money", "chores", "in-laws"], "privacy": "progress",
             "sections": {"soap": "S", "birp": "B", "dap": "D"}},
            {"key": "topic", "kind": "line", "label": "Topic", "privacy": "progress",
             "sections": {"soap": "S", "birp": "B", "dap": "D"}},
            {"key": "referral", "kind": "checkbox", "label": "Referral", "help": "made to a group",
             "privacy": "progress", "sections": {"soap": "P", "birp": "P", "dap": "P"}},
        ]}]})
    sheet = {"id": 1, "sheet_id": "ABCDEFGH", "client": "C1", "date": "2026-12-01", "session_number": 1}
    values = {"present": "attended", "mins": "50", "sleep": "poor", "energy": 2, "conflicts": ["money", "in-laws"],
              "topic": "Planning the move", "referral": True}
    rows = [{"key": k, "privacy": "progress", "status": "confirmed", "confirmed_value": v} for k, v in values.items()]
    note = notes.build_note(template, sheet, rows, "soap", Shorthand())
    text = " ".join(s.text for s in note.sections)
    assert "Sleep quality was poor." in text and "Energy was rated 2 on a scale of 1 to 5." in text
    assert "Conflicts were money and in-laws." in text and "Topic: Planning the move." in text
    assert "Client attended a 50-minute session." in text and "Referral made to a group." in text
    assert note.duration == "50 minutes" and note.service_code == "90834"
    rows[0]["confirmed_value"] = "cancelled"
    cancelled = notes.build_note(template, sheet, rows, "soap", Shorthand())
    assert cancelled.kind == "attendance" and cancelled.sections[0].items[0].text == "The session was cancelled."
    assert cancelled.service_code is None


def test_a_blank_sheet_is_signed_only_once_it_has_its_client_and_date(vault, tmp_path):
    # Printed blank, scanned, every field confirmed; a signed note keeps its header for good,
    # so it must not be signed while the sheet still says "(not assigned)".
    clinician.set_clinician(vault, name="Dr Ada Example")
    values = dict(SESSION_VALUES)
    session = add_session(vault, "session", values, client=None, date=None)
    confirm_all(vault, session, "session", values)
    with pytest.raises(Refused, match="no client yet.*review"):
        notes.sign_note(vault, session, "soap")
    assert notes.signed_note(vault, session) is None
    sheet = store.get_sheet(vault, session)
    store.assign_sheet(vault, sheet["sheet_id"], "B-500", "2026-03-03", None)
    signed = notes.sign_note(vault, session, "soap")
    assert "B-500" in signed["txt"] and "(not assigned)" not in signed["txt"]
