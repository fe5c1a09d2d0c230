"""Progress notes: built from confirmed progress fields, placed by the template, refused while pending."""

from __future__ import annotations

import json
import os
import subprocess

import cv2
import numpy as np
import pytest

from forms.model import get_template
from forms.payload import new_sheet_id
from scanner.notes import progress as notes
from scanner.vault import store
from scanner.errors import ExitCode, UnconfirmedFields, UsageError
from scanner.ingest.read import FieldRead, PageResult
from scanner.shorthand import Shorthand
from tests.helpers import empty_value

TINY_PNG = cv2.imencode(".png", np.full((4, 4), 255, np.uint8))[1].tobytes()

# One plausible confirmed session (synthetic), and the prose each value should become.
SESSION_VALUES = {
    "attendance": "attended",
    "session_length": "38-52",
    "session_format": "video",
    "mood_rating": 4,
    "mood": ["anxious", "depressed"],
    "affect": ["constricted", "tearful"],
    "orientation": "oriented",
    "appearance": "appropriate",
    "speech": ["normal"],
    "thought_process": ["logical"],
    "risk_si": "none",
    "risk_hi": "none",
    "risk_self_harm": "none",
    "safety_plan": True,
    "focus": "work stress and sleep",
    "interventions": ["cbt", "mi"],
    "client_response": "Engaged w/ CBT, agreed to HW",
    "homework_status": "partly",
    "phq9": "12",
    "gad7": "",
    "plan": "thought record daily; f/u on sleep",
    "next_visit": "2",
}


@pytest.fixture
def vault(tmp_path):
    """A fresh vault where the CLI looks for it (INKLOCK_VAULT), made directly so these tests need no other command."""
    from scanner.vault.vault import Vault

    v, _ = Vault.create(tmp_path / "vault", os.environ["INKLOCK_PASSPHRASE"])
    yield v
    v.close()


@pytest.fixture
def note_cli(cli, monkeypatch):
    """The in-process CLI (scanner.cli.main.main: its error handling, its exit codes) with the note command."""
    from scanner.cli import main as cli_module
    from scanner.cli import note as cli_note

    monkeypatch.setattr(cli_module, "_register_commands", lambda: cli_module.cli.add_command(cli_note.note))
    return cli


def add_session(vault, template_name, reads, *, client="C017", date="2026-11-27", number=3, pages=None):
    """Register a sheet and store one synthetic read of each of its pages (through the store API)."""
    template = get_template(template_name)
    sheet_id = new_sheet_id()
    session = store.register_sheet(vault, sheet_id=sheet_id, template=template.name,
                                   template_version=template.version, page_size="letter",
                                   client=client, date=date, session_number=number)
    for page in template.pages:
        if pages is not None and page.number not in pages:
            continue
        fields = [FieldRead(f.key, f.kind, f.privacy, page.number, reads.get(f.key, empty_value(f)), 0.9, [],
                            TINY_PNG) for f in page.fields]
        result = PageResult("identified", "synthetic.pdf", f"{sheet_id:0<64}", page.number - 1,
                            template=template.name, page=page.number, page_size="letter", sheet_id=sheet_id,
                            image_jpeg=TINY_PNG, fields=fields)
        assert store.save_page(vault, result)["status"] in ("new", "rescan")
    return session


def confirm_all(vault, session, template_name, values, skip=()):
    for f in get_template(template_name).fields:
        if f.key not in skip:
            store.confirm_field(vault, session, f.key, value=values.get(f.key, empty_value(f)))


@pytest.fixture
def session_note(vault):
    """A fully confirmed individual session."""
    session = add_session(vault, "session", SESSION_VALUES)
    confirm_all(vault, session, "session", SESSION_VALUES)
    return session


def section(note_dict, title):
    return next(s for s in note_dict["sections"] if s["title"] == title)["text"]


def test_soap_note_matches_confirmed_values(vault, session_note, tmp_path):
    out = notes.write_note(vault, session_note, "soap", tmp_path / "note.json")
    note = json.loads(out.read_text())
    assert [s["title"] for s in note["sections"]] == ["Subjective", "Objective", "Assessment", "Plan"]
    assert (note["client"], note["date"], note["session_number"], note["format"]) == ("C017", "2026-11-27", 3, "soap")
    s, o = section(note, "Subjective"), section(note, "Objective")
    a, p = section(note, "Assessment"), section(note, "Plan")
    # Sentences, not "Label: value" lists.
    assert "Mood was reported as anxious and depressed (4/10)." in s
    assert "The session focused on work stress and sleep." in s
    assert "Client partly completed the homework set at the last session." in s
    assert o.startswith("Client attended a video session of 38-52 minutes.")
    assert "Affect was constricted and tearful." in o and "Thought process was logical." in o
    assert "The clinician used CBT and MI." in o  # option labels, not stored values
    assert "PHQ-9 total was 12 (moderate range)." in o
    assert "GAD-7" not in o  # empty answers are left out...
    # ...except the risk screen, always documented from the field labels.
    assert "No suicidal ideation, homicidal ideation or self-harm was reported." in a
    assert "cognitive behavioral therapy" in a and "homework" in a  # shorthand expanded in written text
    safety = get_template("session").field("safety_plan")
    # A ticked box reads as its label and help (the sheet's "today" is this session).
    assert f"{safety.label} {safety.help.replace('today', 'in this session')}." in p
    assert "follow-up on sleep" in p and "The next session is planned in 2 weeks." in p
    assert ": " not in o  # no label dumps among the chosen answers
    # Each sentence names the fields it came from, with the confirmed value.
    cited = {f["key"]: f["value"] for sec in note["sections"] for item in sec["items"] for f in item["fields"]}
    assert cited["mood_rating"] == 4 and cited["interventions"] == ["cbt", "mi"]
    assert not any(k in cited for k in ("countertransference", "hypotheses"))


def test_sections_follow_each_format(vault, session_note, tmp_path):
    birp = json.loads(notes.write_note(vault, session_note, "birp", tmp_path / "b.json").read_text())
    assert [s["letter"] for s in birp["sections"]] == ["B", "I", "R", "P"]
    assert "The clinician used CBT and MI." in section(birp, "Intervention")
    assert "The session was held by video and lasted 38-52 minutes." in section(birp, "Intervention")
    assert section(birp, "Behavior").startswith("Client attended the session.")
    assert "Client response to the interventions" in section(birp, "Response")
    assert "No suicidal ideation" in section(birp, "Behavior")
    dap = json.loads(notes.write_note(vault, session_note, "dap", tmp_path / "d.json").read_text())
    assert [s["title"] for s in dap["sections"]] == ["Data", "Assessment", "Plan"]
    assert "The clinician used CBT and MI." in section(dap, "Data")


def test_uses_confirmed_value_not_the_read(vault, tmp_path):
    reads = dict(SESSION_VALUES, focus="glimmerwock misread", mood_rating=9)
    session = add_session(vault, "session", reads)
    confirm_all(vault, session, "session", SESSION_VALUES)
    text = notes.write_note(vault, session, "soap", tmp_path / "n.txt").read_text()
    assert "glimmerwock" not in text and "9/10" not in text
    assert "4/10" in text and "work stress and sleep" in text


def test_interventions_printed_short_read_as_a_note_says_them(vault, tmp_path):
    values = dict(SESSION_VALUES, interventions=["supportive", "behav_activation", "psychodynamic"])
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    text = notes.write_note(vault, session, "soap", tmp_path / "n.txt").read_text()
    assert ("The clinician used supportive therapy, behavioral activation and psychodynamic exploration."
            in " ".join(text.split()))


def test_a_ticked_box_reads_as_the_session_not_as_today(vault, tmp_path):
    values = dict(SESSION_VALUES, risk_si="passive", safety_plan=True)
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    note = json.loads(notes.write_note(vault, session, "soap", tmp_path / "n.json").read_text())
    plan = section(note, "Plan")
    assert "Safety plan reviewed in this session" in plan and "today" not in plan


def test_risk_positive_and_unrecorded_are_documented(vault, tmp_path):
    values = dict(SESSION_VALUES, risk_si="passive", risk_hi=None, risk_self_harm="none", safety_plan=False)
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    note = json.loads(notes.write_note(vault, session, "soap", tmp_path / "n.json").read_text())
    a = section(note, "Assessment")
    assert "Suicidal ideation: passive. No self-harm was reported. Homicidal ideation was not recorded." in a
    assert "Safety plan reviewed" not in section(note, "Plan")  # an unticked box is not claimed...
    # ...and beside an endorsed risk the note says the plan was not reviewed.
    assert "The safety plan was not reviewed in this session." in section(note, "Plan")


def test_vault_abbreviations_override_and_extend_defaults(vault, tmp_path):
    vault.db["abbreviations"].insert_all([{"short": "f/u", "long": "follow up"}, {"short": "TR", "long": "thought record"}])
    values = dict(SESSION_VALUES, plan="TR daily; f/u next wk")
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    text = notes.write_note(vault, session, "soap", tmp_path / "n.md").read_text()
    assert "thought record daily; follow up next week" in text


def test_shorthand_expands_whole_tokens_only():
    expanded = Shorthand().expand("pt w/ SI hx, MI; Miami")
    assert expanded == "patient with suicidal ideation history, motivational interviewing; Miami"


def test_unconfirmed_field_refuses_with_exit_3_and_writes_nothing(vault, note_cli, tmp_path):
    cli = note_cli
    session = add_session(vault, "session", SESSION_VALUES)
    confirm_all(vault, session, "session", SESSION_VALUES, skip=("affect",))
    out = tmp_path / "out" / "note.pdf"
    out.parent.mkdir()
    r = cli("note", str(session), "--format", "soap", "--out", out)
    assert r.code == ExitCode.REFUSED == 3
    assert "affect" in r.err and "Traceback" not in r.err
    assert list(out.parent.iterdir()) == []
    assert notes.stored_notes(vault) == []
    # Private fields may stay unconfirmed: they never block a note.
    store.confirm_field(vault, session, "affect", value=["tearful"])
    store.reopen_field(vault, session, "countertransference")
    r = cli("note", str(session), "--format", "soap", "--out", out)
    assert r.code == 0, r.err
    assert "tearful" in subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    # It says whose note it wrote: the vault's session number with the client, date and the sheet's number.
    assert f"session {session} (client C017, 2026-11-27, their session 3)" in r.out


def test_missing_progress_page_refuses(vault, tmp_path):
    session = add_session(vault, "session", SESSION_VALUES, pages={2})  # only the private page came back
    confirm_all(vault, session, "session", {}, skip=[f.key for f in get_template("session").pages[0].fields])
    with pytest.raises(UnconfirmedFields) as exc:
        notes.write_note(vault, session, "soap", tmp_path / "n.md")
    assert "mood_rating" in exc.value.fields and exc.value.exit_code == 3
    assert not (tmp_path / "n.md").exists()


def test_unknown_extension_is_usage_error(vault, session_note, note_cli, tmp_path):
    r = note_cli("note", str(session_note), "--format", "soap", "--out", tmp_path / "note.docx")
    assert r.code == ExitCode.USAGE
    assert ".md, .txt, .pdf or .json" in r.err
    assert not (tmp_path / "note.docx").exists()
    with pytest.raises(UsageError):
        notes.write_note(vault, session_note, "soapy", tmp_path / "n.md")


def test_note_is_stored_in_the_progress_store_only(vault, session_note, tmp_path):
    out = notes.write_note(vault, session_note, "birp", tmp_path / "n.json")
    stored = notes.stored_notes(vault, session_note)
    assert len(stored) == 1 and stored[0]["format"] == "birp" and stored[0]["client"] == "C017"
    assert stored[0]["content"]["sections"] == json.loads(out.read_text())["sections"]
    assert "progress_notes" not in vault.db.table_names()


def test_failed_rename_leaves_no_file_and_no_record(vault, session_note, tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(notes.os, "replace", broken_replace)
    with pytest.raises(OSError):
        notes.write_note(vault, session_note, "soap", tmp_path / "n.md")
    assert list(tmp_path.glob("*n.md*")) == [] and list(tmp_path.glob(".inklock-note-*")) == []
    assert notes.stored_notes(vault) == []


def test_build_note_refuses_a_private_field(vault, session_note):
    template = get_template("session")
    sheet, fields = notes.progress_fields(vault, session_note)
    assert fields and all(f["privacy"] == "progress" for f in fields)
    shorthand = Shorthand()
    planted = fields + [{"key": "countertransference", "kind": "text", "privacy": "private",
                         "status": "confirmed", "confirmed_value": "secret"}]
    with pytest.raises(notes.PrivacyBreach) as exc:
        notes.build_note(template, sheet, planted, "soap", shorthand)
    assert exc.value.exit_code == ExitCode.UNEXPECTED
    # A row mislabelled 'progress' is still caught: the template says the field is private.
    mislabelled = fields + [{"key": "countertransference", "kind": "text", "privacy": "progress",
                             "status": "confirmed", "confirmed_value": "secret"}]
    with pytest.raises(notes.PrivacyBreach):
        notes.build_note(template, sheet, mislabelled, "soap", shorthand)


def test_mislabelled_row_in_the_vault_is_never_written(vault, session_note, tmp_path):
    sheet = store.get_sheet(vault, session_note)
    vault.db.execute("UPDATE fields SET privacy = 'progress' WHERE sheet_id = ? AND key = 'hypotheses'",
                     [sheet["sheet_id"]])
    vault.db.conn.commit()
    with pytest.raises(notes.PrivacyBreach):
        notes.write_note(vault, session_note, "soap", tmp_path / "n.md")
    assert not (tmp_path / "n.md").exists() and notes.stored_notes(vault) == []


def test_pdf_has_header_sections_and_signature_line(vault, session_note, tmp_path):
    out = notes.write_note(vault, session_note, "dap", tmp_path / "n.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("C017", "2026-11-27", "DAP", "Data", "Assessment", "Plan", "Clinician signature", "4/10"):
        assert expected in text, expected


def test_markdown_escapes_handwritten_symbols(vault, tmp_path):
    values = dict(SESSION_VALUES, focus="*sleep* #1 issue")
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    md = notes.write_note(vault, session, "soap", tmp_path / "n.md").read_text()
    assert r"\*sleep\* \#1 issue" in md
    txt = notes.write_note(vault, session, "soap", tmp_path / "n.txt").read_text()
    assert "*sleep* #1 issue" in txt and txt.startswith("INDIVIDUAL SESSION: PROGRESS NOTE (SOAP)")


GROUP_VALUES = {
    "attendance": "attended",
    "mood_rating": 6,
    "affect": ["congruent"],
    "participation": "active",
    "risk": ["none"],
    "group_summary": "Topic: coping w/ holidays; skills practice in pairs",
    "interventions": ["psychoeducation", "skills_practice"],
    "client_in_group": "Shared an example and offered feedback to peers",
    "group_to_client": "Peers validated the example",
    "plan": "Practice one skill daily",
    "continuation": "continue_in_group",
}


def test_group_note_has_the_elements_of_a_group_note(vault, tmp_path):
    session = add_session(vault, "group", GROUP_VALUES)
    confirm_all(vault, session, "group", GROUP_VALUES)
    note = json.loads(notes.write_note(vault, session, "birp", tmp_path / "g.json").read_text())
    assert note["template"] == "group" and note["title"].startswith("Group session")
    b, i = section(note, "Behavior"), section(note, "Intervention")
    r, p = section(note, "Response"), section(note, "Plan")
    assert "coping with holidays; skills practice in pairs" in i  # the group summary, shorthand expanded
    assert "The clinician used psychoeducation and skills practice." in i  # interventions named
    assert "Shared an example and offered feedback to peers" in b  # how the client took part
    assert "Peers validated the example" in r  # how the group responded to the client
    assert "Practice one skill daily" in p and "Client will continue in the group." in p
    assert b.startswith("Client attended the group session.") and "Client participated actively in the group." in b
    # The group sheet's risk checklist speaks for each risk it lists.
    assert "No suicidal ideation, homicidal ideation or self-harm was reported." in b


def test_group_risk_checklist_positive_and_blank(vault, tmp_path):
    for risk, expected in ((["self-harm"], "Self-harm was noted."),
                           ([], "Suicidal ideation, homicidal ideation and self-harm were not recorded.")):
        values = dict(GROUP_VALUES, risk=risk)
        session = add_session(vault, "group", values)
        confirm_all(vault, session, "group", values)
        text = notes.write_note(vault, session, "soap", tmp_path / "g.txt").read_text()
        assert expected in text


def test_pdf_keeps_letters_outside_latin_1(vault, tmp_path):
    values = dict(SESSION_VALUES, focus="άγχος at work, sleep ↓")
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    out = notes.write_note(vault, session, "soap", tmp_path / "n.pdf")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "άγχος at work, sleep decreased" in " ".join(text.split())  # lines may wrap anywhere


def test_a_total_written_with_a_leading_zero_reads_as_its_number(vault, tmp_path):
    values = dict(SESSION_VALUES, gad7="02")
    session = add_session(vault, "session", values)
    confirm_all(vault, session, "session", values)
    note = json.loads(notes.write_note(vault, session, "soap", tmp_path / "note.json").read_text())
    objective = section(note, "Objective")
    assert "GAD-7 total was 2 (minimal range)." in objective and "02" not in objective


def test_one_document_renderer_escapes_for_each_format():
    from scanner.notes import document as doc

    d = doc.Document(
        title="Notes for *client*", facts=(("Client", "A_1"),),
        sections=(doc.Section("Focus", (doc.Para("sleep #1 [worse]"),
                                        doc.Group((doc.Para("PHQ-9: 12", bullet=True),
                                                   doc.Para("values: 1 2", bullet=True, level=1, only="text")))),),),
        notes=("Confirmed fields only.",),
        closing=(doc.Para("Signed by A_B", md="Signed by A\\_B"), doc.Para("pdf line", only="pdf")),
        after=(doc.Section("Addendum by A", (doc.Para("line one\nline two", breaks=True),), shout=False),),
    )
    md = doc.to_md(d)
    assert md.startswith("# Notes for \\*client\\*\n") and "- **Client:** A\\_1" in md
    assert "sleep \\#1 \\[worse\\]" in md and "- PHQ-9: 12\n  - values: 1 2" in md and "_Confirmed fields only._" in md
    assert "\n\nSigned by A\\_B\n\n## Addendum" in md and "pdf line" not in md
    assert md.endswith("## Addendum by A\n\nline one\nline two\n")
    txt = doc.to_txt(d)
    assert "FOCUS:\nsleep #1 [worse]" in txt and "Addendum by A:\nline one" in txt and "Signed by A_B" in txt
    pdf = doc.to_pdf(d)
    assert pdf.startswith(b"%PDF") and b"pdf line" in pdf and b"values: 1 2" not in pdf


def _custom_note(fields_yaml: list[dict], values: dict, fmt: str = "birp"):
    from forms.model import template_from_data

    sections = {"soap": "S", "birp": "B", "dap": "D"}
    template = template_from_data({
        "name": "couples", "code": "CPL", "version": 1, "title": "Couples session",
        "pages": [{"title": "Session", "markers": [40, 41, 42, 43],
                   "fields": [{"privacy": "progress", "sections": sections, **f} for f in fields_yaml]}]})
    rows = [{"key": k, "kind": template.field(k).kind, "privacy": "progress", "status": "confirmed",
             "confirmed_value": v} for k, v in values.items()]
    sheet = {"id": 1, "sheet_id": "ABCD2345", "client": "K-501", "date": "2026-12-01", "session_number": 1}
    return template, notes.build_note(template, sheet, rows, fmt, Shorthand())


def test_a_custom_field_about_minutes_is_not_the_session_length():
    """A clinician's "Minutes late" or "Homework length" never becomes the duration, nor a service code."""
    import dataclasses

    own = [{"key": "minutes_late", "kind": "digits", "cells": 2, "label": "Minutes late"},
           {"key": "homework_length", "kind": "choice", "label": "Homework length", "options": ["short", "long"]},
           {"key": "modality", "kind": "choice", "label": "Modality", "options": ["Gottman", "EFT"]}]
    template, note = _custom_note(own, {"minutes_late": "45", "homework_length": "short", "modality": "eft"})
    text = json.dumps(dataclasses.asdict(note))
    assert note.duration is None and note.service_code is None and not note.has_duration
    assert "lasted" not in text and "held by" not in text and "90834" not in text
    # Said with `role`, a field of the clinician's own is the length (and may suggest the code).
    timed = [{"key": "time_in_room", "kind": "digits", "cells": 3, "label": "Time in room", "role": "duration"}]
    _, note = _custom_note(timed, {"time_in_room": "45"})
    assert note.duration == "45 minutes" and note.service_code == "90834"


def test_a_role_must_suit_its_field():
    from forms.model import TemplateError, template_from_data

    for bad in ({"key": "late", "kind": "line", "label": "Late", "role": "duration", "privacy": "progress",
                 "sections": {"soap": "S", "birp": "B", "dap": "D"}},
                {"key": "how", "kind": "choice", "label": "How", "options": ["a", "b"], "role": "format",
                 "privacy": "private"}):
        with pytest.raises(TemplateError, match="role"):
            template_from_data({"name": "x", "code": "XXX", "version": 1, "title": "X",
                                "pages": [{"title": "P", "markers": [40, 41, 42, 43], "fields": [bad]}]})
