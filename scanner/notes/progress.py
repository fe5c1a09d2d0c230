"""Progress notes (SOAP, BIRP, DAP) drafted from confirmed progress fields only.

The separation from psychotherapy notes is structural:

* :func:`progress_fields` is the only query from the vault into a note, and it
  selects ``privacy = 'progress'`` rows (and only the confirmed value, never the
  OCR read or the crop);
* :func:`build_note` is pure and checks every field it is handed against both
  the row and the template: a private field there is an internal error, so a
  bug upstream can never turn into a private word in the clinical record;
* :func:`write_note` stores the note only in ``vault.progress_db`` (its own
  SQLCipher file) and writes the export atomically, so a refusal leaves nothing.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, TYPE_CHECKING

from scanner.notes import clinician, document
from scanner.notes.note import (  # the note itself and its files, offered here too (see __all__)
    KINDS,
    NoteItem,
    NoteSection,
    ProgressNote,
    addenda_text,
    clinician_line,
    header_facts,
    note_document,
    render,
    render_json,
    signature_lines,
    when,
)
from scanner.notes import prose
from scanner import outfile
from scanner.vault import store
from scanner.errors import BadInput, ExitCode, InklockError, Refused, UnconfirmedFields, UsageError
from scanner.shorthand import Shorthand
from scanner.values import NOTE_FORMATS as FORMATS

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

__all__ = [
    "FORMATS",
    "KINDS",
    "SECTION_TITLES",
    "NoteItem",
    "NoteSection",
    "PrivacyBreach",
    "ProgressNote",
    "add_addendum",
    "addenda",
    "addenda_text",
    "build_note",
    "clinician_line",
    "copy_text",
    "draft_note",
    "header_facts",
    "is_risk_item",
    "keep_note",
    "kind_of",
    "load_shorthand",
    "note_document",
    "note_template",
    "progress_fields",
    "render",
    "render_json",
    "risk_words",
    "sign_note",
    "signature_lines",
    "signed_export",
    "signed_note",
    "stored_notes",
    "when",
    "write_note",
]

SECTION_TITLES = {
    "soap": {"S": "Subjective", "O": "Objective", "A": "Assessment", "P": "Plan"},
    "birp": {"B": "Behavior", "I": "Intervention", "R": "Response", "P": "Plan"},
    "dap": {"D": "Data", "A": "Assessment", "P": "Plan"},
}


class PrivacyBreach(InklockError):
    """A private field reached the note builder: a bug, never a user error (exit 1)."""

    exit_code = ExitCode.UNEXPECTED


# ---------------------------------------------------------------- from the vault


def progress_fields(vault: Vault, session: str | int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session's sheet and its progress field rows, every one confirmed.

    The query selects ``privacy = 'progress'`` rows only and never the OCR read
    or the crop. Raises :class:`UnconfirmedFields` (exit 3) listing the keys of
    progress fields still pending.
    """
    sheet = store.get_sheet(vault, session)
    rows = [
        {"key": r["key"], "kind": r["kind"], "privacy": r["privacy"], "page": r["page"],
         "status": r["status"], "confirmed_value": store.loads(r["confirmed_value"])}
        for r in store.progress_field_rows(vault, sheet["sheet_id"])
    ]
    pending = [r["key"] for r in rows if r["status"] != "confirmed"]
    if pending:
        raise UnconfirmedFields(
            f"Session {sheet['id']} has progress fields not yet confirmed: {', '.join(pending)}; "
            "confirm them first (no note was written).",
            pending,
        )
    return sheet, rows


def load_shorthand(vault: Vault) -> Shorthand:
    """The defaults plus the vault's ``abbreviations`` table (which overrides them)."""
    return store.shorthand(vault)


def note_template(vault: Vault, sheet: dict[str, Any]):
    """The sheet's template (built-in or from the vault's templates/ folder); BadInput if unknown."""
    from forms import catalog

    try:
        return catalog.template(sheet["template"], catalog.vault_template_dirs(vault.path))
    except catalog.FormUnavailable as exc:
        raise BadInput(str(exc)) from None


# ---------------------------------------------------------------- building (pure)


def build_note(template, sheet: dict[str, Any], fields: list[dict[str, Any]], fmt: str,
               shorthand: Shorthand) -> ProgressNote:
    """Draft the note from confirmed progress fields, each in the section its template maps it to.

    Pure. Every field handed in must be a confirmed progress field both in its
    row and in the template; anything else raises (:class:`PrivacyBreach` for a
    private field). Empty answers are left out, except the risk screen, which is
    always documented, and the duration, which the note says was not recorded.
    A session the attendance box says did not take place (cancelled, no-show)
    gets a short attendance note instead. Shorthand is expanded in written text.
    """
    if fmt not in FORMATS:
        raise UsageError(f"'{fmt}' is not a progress-note format; use {', '.join(FORMATS)}.")
    values: dict[str, Any] = {}
    for row in fields:
        if row.get("privacy") != "progress":
            raise PrivacyBreach(f"Internal error: private field '{row.get('key')}' reached the progress-note "
                                "builder; no note was written.")
        try:
            tfield = template.field(row["key"])
        except KeyError:
            raise BadInput(f"Field '{row['key']}' is not in template '{template.name}' version "
                           f"{template.version}; was the sheet printed from another version?") from None
        if tfield.privacy != "progress":
            raise PrivacyBreach(f"Internal error: field '{row['key']}' is private in template '{template.name}' "
                                "but was handed to the progress-note builder; no note was written.")
        if row.get("status") != "confirmed":
            raise UnconfirmedFields(f"Progress field {row['key']} is not confirmed.", [row["key"]])
        values[row["key"]] = row.get("confirmed_value")

    present = [f for f in template.fields if f.key in values]
    noun = "group session" if "group" in f"{template.name} {template.title}".lower() else "session"
    endorsed = bool(prose.risk_parts([f for f in present if prose.is_risk_item(f)], values)[0])
    ctx = prose.Context(values, noun, endorsed)
    absent = prose.did_not_attend(present, values)
    has_duration, minutes = prose.duration_words(present, values)
    if absent:
        sections = _attendance_sections(present, ctx, absent, fmt, shorthand)
    else:
        sections = []
        for letter, title in SECTION_TITLES[fmt].items():
            in_section = [f for f in present if (f.sections or {}).get(fmt) == letter]
            items = tuple(NoteItem(text, tuple(_cite(f, values) for f in cited))
                          for text, cited in prose.section_sentences(in_section, ctx, shorthand))
            sections.append(NoteSection(letter, title, items))
    return ProgressNote(
        format=fmt, template=template.name, template_title=template.title, template_version=template.version,
        session=int(sheet["id"]), sheet_id=sheet["sheet_id"], client=sheet.get("client"), date=sheet.get("date"),
        session_number=sheet.get("session_number"), sections=tuple(sections),
        kind="attendance" if absent else "progress",
        has_duration=has_duration and not absent,
        duration=f"{minutes} minutes" if minutes and not absent else None,
        service_code=None if absent else prose.service_code(minutes),
    )


def _attendance_sections(present: list, ctx, answer: str, fmt: str, shorthand: Shorthand) -> list[NoteSection]:
    """A session that did not take place: what happened, and the next step if one was given."""
    att = next(f for f in present if prose.role(f) == "attendance")
    if answer in ("cancelled", "canceled"):
        text = f"The {ctx.noun} was cancelled."
    elif answer == "absent":
        text = f"Client was absent from the {ctx.noun}."
    else:
        text = f"Client did not attend the scheduled {ctx.noun} ({answer})."
    items = [NoteItem(text, (_cite(att, ctx.values),)),
             NoteItem(f"No {ctx.noun} took place, so no clinical content is documented.", ())]
    sections = [NoteSection("AT", "Attendance", tuple(items))]
    # A risk answer the clinician confirmed is stated whether or not the session took place
    # (a call in place of a cancelled session can still find suicidal ideation with a plan).
    screen = [f for f in present if prose.is_risk_item(f)]
    if ctx.risk_endorsed:
        text = prose.risk_text(screen, ctx.values)
        safety = [f for f in present if prose.is_safety_plan(f)]
        if any(ctx.values.get(f.key) is not True for f in safety):
            text += " The safety plan was not reviewed."
        sections.append(NoteSection("R", "Risk", (NoteItem(text, tuple(_cite(f, ctx.values) for f in screen + safety)),)))
    plan = [f for f in present if (f.sections or {}).get(fmt) == "P" and not prose.is_risk_item(f)
            and not prose.is_safety_plan(f) and not prose.role(f)]
    plan_items = tuple(NoteItem(t, tuple(_cite(f, ctx.values) for f in cited))
                       for t, cited in prose.section_sentences(plan, ctx, shorthand))
    if plan_items:
        sections.append(NoteSection("P", "Plan", plan_items))
    return sections


def is_risk_item(f) -> bool:
    """Whether a field is an item of the risk screen (see :func:`scanner.notes.prose.is_risk_item`)."""
    return prose.is_risk_item(f)


def conflicting_attendance(fields, values: dict[str, Any]) -> str | None:
    """The attendance field's key when it says the session did not take place yet the sheet holds
    what only a session gives (its length, or subjective, objective or assessment content), else None.

    Risk answers and the format do not count: a call in place of a missed
    session can still screen for risk. Review shows such a field for a closer look.
    """
    if prose.did_not_attend(fields, values) is None:
        return None
    for f in fields:
        if (getattr(f, "privacy", "progress") != "progress" or prose.role(f) in ("attendance", "format")
                or prose.is_risk_item(f) or prose.is_safety_plan(f)):
            continue
        if prose.role(f) != "duration" and (f.sections or {}).get("soap") not in ("S", "O", "A"):
            continue
        if values.get(f.key) not in (None, "", [], False):
            return next(a.key for a in fields if prose.role(a) == "attendance")
    return None


def risk_words(template, values: dict[str, Any]) -> list[str]:
    """A session's endorsed risk answers in words ('suicidal ideation: active, with plan'), plus
    'safety plan: not reviewed' beside them; empty when the screen found nothing."""
    return prose.risk_statements(template.fields, values)


def _cite(f, values: dict[str, Any]) -> dict[str, Any]:
    return {"key": f.key, "label": f.label, "value": values[f.key]}


# ---------------------------------------------------------------- writing


def kind_of(out_path: Path) -> str:
    """The file type from the output name's extension; UsageError if it is not one we write."""
    return document.output_kind(out_path, KINDS, "note")


def draft_note(vault: Vault, session: str | int, fmt: str) -> ProgressNote:
    """The progress note of a session, in memory; UnconfirmedFields (exit 3) while any
    progress field of its template is unscanned or unconfirmed."""
    sheet, fields = progress_fields(vault, session)
    template = note_template(vault, sheet)
    missing = [f.key for f in template.fields if f.privacy == "progress" and f.key not in {r["key"] for r in fields}]
    if missing and not store.sheet_pages(vault, sheet["sheet_id"]):
        raise UnconfirmedFields(f"Session {sheet['id']} has no scanned page yet: ingest its sheet, confirm its "
                                "fields, then draft the note; no note was written.", missing)
    if missing:
        raise UnconfirmedFields(
            f"Session {sheet['id']} has progress fields not scanned or confirmed yet: {', '.join(missing)}; "
            "no note was written.", missing)
    note = build_note(template, sheet, fields, fmt, load_shorthand(vault))
    who = clinician.get_clinician(vault)
    return replace(note, clinician=who) if who["name"] else note


def keep_note(vault: Vault, note: ProgressNote) -> None:
    """Record an exported note in the progress-note store (inside the caller's transaction)."""
    store.save_progress_note(vault, session=note.session, sheet_id=note.sheet_id, client=note.client,
                             date=note.date, fmt=note.format, content=json.dumps(note.as_dict(), ensure_ascii=False))


def write_note(vault: Vault, session: str | int, fmt: str, out_path: str | Path) -> Path:
    """Draft, export and store one progress note; returns the file written.

    Refuses before anything is written: unconfirmed progress fields (exit 3),
    an unknown format or file type (exit 2). The file is written through a temp
    file in the same folder and renamed only once the note is in the progress
    store, so a failure leaves neither a partial file nor a stray record.
    """
    out_path = Path(out_path)
    if fmt not in FORMATS:
        raise UsageError(f"'{fmt}' is not a progress-note format; use {', '.join(FORMATS)}.")
    kind = kind_of(out_path)
    document.check_output(out_path, kind)
    signed = signed_note(vault, session)
    if signed is not None:
        data = signed_export(vault, signed, fmt, kind)
    else:
        note = draft_note(vault, session, fmt)
        data = render(note, kind)

    with outfile.private_temp(out_path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with store.transaction(vault.progress_db):
            if signed is None:  # a signed note is already kept, as signed
                keep_note(vault, note)
            outfile.commit(tmp, out_path)  # inside the transaction: a failed rename rolls the record back
    return out_path


def stored_notes(vault: Vault, session: str | int | None = None) -> list[dict[str, Any]]:
    """Notes kept in the progress store (newest first), optionally for one session."""
    return [dict(r, content=json.loads(r["content"])) for r in store.progress_note_rows(vault, session)]


# ---------------------------------------------------------------- signing and addenda


def signed_note(vault: Vault, session: str | int) -> dict[str, Any] | None:
    """The session's signed note as kept (content, md, txt, signer), or None while it is a draft."""
    data = store.signed_row(vault, store.get_sheet(vault, session)["id"])
    if data is None:
        return None
    data["content"], data["signer"] = json.loads(data["content"]), json.loads(data["signer"])
    return data


def addenda(vault: Vault, session: int) -> list[dict[str, Any]]:
    """A signed note's addenda, oldest first."""
    return store.addenda_rows(vault, session)


def sign_note(vault: Vault, session: str | int, fmt: str, confirm_code: bool = False) -> dict[str, Any]:
    """Sign the session's note with the clinician's name, credentials and the time; returns it as kept.

    Refused (exit 3): no clinician name set, the note already signed, a
    blank sheet not yet given its client and date, a session dated after
    today, or progress fields not confirmed. ``confirm_code`` records that the clinician
    confirmed the service code suggested from the duration. From then on the
    session's progress fields cannot change and every export gives this text.
    """
    who = clinician.require_name(vault)
    sheet = store.get_sheet(vault, session)
    number = sheet["id"]
    if signed_note(vault, number) is not None:
        raise Refused(f"Session {number} is already signed; add an addendum instead "
                      f"(inklock addendum {number} --text \"...\").")
    if not sheet["client"] or not sheet["date"]:
        # A signed note is kept as signed: a blank sheet given its client later would stay "(not assigned)".
        raise Refused(f"Session {number} is a sheet with no {'client' if not sheet['client'] else 'date'} yet; "
                      "choose them in review (inklock review, the sheet's 'Choose the client') before signing.")
    today = datetime.date.today().isoformat()
    if sheet["date"] > today:
        raise Refused(f"Session {number} is dated {sheet['date']}, after today ({today}): a note is signed once "
                      "the session has taken place; sign it on or after that day.")
    note = draft_note(vault, number, fmt)
    note = replace(note, clinician=who, signed_at=store.now(),
                   code_confirmed=bool(confirm_code and note.service_code))
    content = note.as_dict()
    store.save_signed(vault, {"session": note.session, "sheet_id": note.sheet_id, "format": note.format,
                              "signed_at": note.signed_at, "signer": json.dumps(who, ensure_ascii=False),
                              "content": json.dumps(content, ensure_ascii=False), "md": document.to_md(note_document(note)),
                              "txt": document.to_txt(note_document(note))})
    return signed_note(vault, number)  # type: ignore[return-value]


def add_addendum(vault: Vault, session: str | int, text: str) -> dict[str, Any]:
    """Add a dated addendum to a signed note (refused, exit 3, before it is signed or without a name)."""
    who = clinician.require_name(vault, "add an addendum")
    number = store.get_sheet(vault, session)["id"]
    if signed_note(vault, number) is None:
        raise Refused(f"Session {number} has no signed note yet; edit the fields or sign it first "
                      f"(inklock sign {number}).")
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    body = "\n".join(line for line in lines if line)
    if not body:
        raise UsageError("The addendum is empty; give its text with --text.")
    if len(body) > 10000:
        raise UsageError("The addendum is longer than 10,000 characters.")
    entry = {"at": store.now(), "author": clinician_line(who) or who["name"], "text": body}
    store.save_addendum(vault, number, entry)
    return entry


def signed_export(vault: Vault, signed: dict[str, Any], fmt: str | None, kind: str) -> bytes:
    """A signed note as a file, exactly as signed, with its addenda after it.

    Refused (exit 3) when another format is asked for than the one signed.
    """
    if fmt is not None and fmt != signed["format"]:
        raise Refused(f"Session {signed['session']} was signed as a {signed['format'].upper()} note; "
                      f"export it as {signed['format']}.")
    extra = addenda(vault, signed["session"])
    if kind == "md":
        return (signed["md"] + addenda_text(extra, "md")).encode("utf-8")
    if kind == "txt":
        return (signed["txt"] + addenda_text(extra, "txt")).encode("utf-8")
    if kind == "json":
        return render_json(signed["content"], extra)
    if kind == "pdf":
        return document.to_pdf(note_document(ProgressNote.from_dict(signed["content"]), extra))
    raise UsageError(f"'{kind}' is not a note file type; use {', '.join(KINDS)}.")


def copy_text(vault: Vault, session: str | int, fmt: str) -> str:
    """The plain text a clinician pastes into an EHR: the signed note (with addenda) or the draft."""
    signed = signed_note(vault, session)
    if signed is not None:
        return signed_export(vault, signed, None, "txt").decode("utf-8")
    return render(draft_note(vault, session, fmt), "txt").decode("utf-8")
