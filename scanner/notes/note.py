"""A progress note: what it holds (sections of sentences, each citing its fields) and how it reads.

:class:`ProgressNote` is built by :func:`scanner.notes.progress.build_note` and
kept as :meth:`ProgressNote.as_dict`; :func:`note_document` says it as a
:class:`scanner.notes.document.Document` (header facts, sections, signature
line, addenda) and :func:`render` writes it as md, txt, pdf or json.
Nothing here reads the vault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from dataclasses import fields as fields_of
from datetime import UTC, datetime
from typing import Any

from scanner.errors import UsageError
from scanner.notes import document

KINDS = ("md", "txt", "pdf", "json")
EMPTY_SECTION = "Nothing recorded for this section."


@dataclass(frozen=True)
class NoteItem:
    """One sentence of a section and the progress fields it was written from."""

    text: str
    fields: tuple[dict[str, Any], ...]  # {"key", "label", "value"}


@dataclass(frozen=True)
class NoteSection:
    letter: str
    title: str
    items: tuple[NoteItem, ...]

    @property
    def text(self) -> str:
        """The section as one paragraph, ready to paste."""
        return " ".join(i.text for i in self.items) or EMPTY_SECTION


@dataclass(frozen=True)
class ProgressNote:
    """A drafted progress note: header facts and its sections in format order."""

    format: str
    template: str
    template_title: str
    template_version: int
    session: int
    sheet_id: str
    client: str | None
    date: str | None
    session_number: int | None
    sections: tuple[NoteSection, ...]
    drafted_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    kind: str = "progress"  # "attendance" when the session did not take place
    has_duration: bool = False  # the template has a minutes box
    duration: str | None = None  # "38-52 minutes"; None when the box was left blank
    service_code: str | None = None  # suggested from the duration, never billed
    code_confirmed: bool = False  # the clinician confirmed the suggested code when signing
    clinician: dict[str, str] | None = None  # name, credentials, licence (from the vault's settings)
    signed_at: str | None = None

    @property
    def title(self) -> str:
        if self.kind == "attendance":
            return f"{self.template_title}: attendance note"
        return f"{self.template_title}: progress note ({self.format.upper()})"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (also what the progress store keeps)."""
        data = asdict(self)
        data["title"] = self.title
        for section, obj in zip(data["sections"], self.sections):
            section["text"] = obj.text
            for item in section["items"]:
                item["fields"] = list(item["fields"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressNote:
        """The note back from :meth:`as_dict` (a signed note is kept in that form)."""
        names = {f.name for f in fields_of(cls)}
        args = {k: v for k, v in data.items() if k in names}
        args["sections"] = tuple(
            NoteSection(s["letter"], s["title"], tuple(NoteItem(i["text"], tuple(i["fields"])) for i in s["items"]))
            for s in data["sections"])
        return cls(**args)



# ---------------------------------------------------------------- as a document


def render(note: ProgressNote, kind: str, addenda: Iterable[dict[str, Any]] = ()) -> bytes:
    """The note as a file: ``md`` and ``txt`` for pasting into an EHR, ``pdf`` to sign, ``json`` for systems.

    Addenda (of a signed note) follow the note and its signature line, oldest first.
    """
    addenda = list(addenda)
    if kind == "json":
        return render_json(note.as_dict(), addenda)
    if kind == "md":
        return document.to_md(note_document(note, addenda)).encode("utf-8")
    if kind == "txt":
        return document.to_txt(note_document(note, addenda)).encode("utf-8")
    if kind == "pdf":
        return document.to_pdf(note_document(note, addenda))
    raise UsageError(f"'{kind}' is not a note file type; use {', '.join(KINDS)}.")


def render_json(content: dict[str, Any], addenda: list[dict[str, Any]]) -> bytes:
    """The JSON file: the note's dict with its addenda (deterministic: same input, same bytes)."""
    return (json.dumps({**content, "addenda": addenda}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def clinician_line(clinician: dict[str, str] | None) -> str | None:
    """'Dr Ada Example, PsyD (licence PSY-12345)', or None when no name is set."""
    if not clinician or not clinician.get("name"):
        return None
    who = clinician["name"]
    if clinician.get("credentials"):
        who += f", {clinician['credentials']}"
    if clinician.get("licence"):
        who += f" (licence {clinician['licence']})"
    return who


def when(iso: str) -> str:
    """'2026-12-01T23:50:12+00:00' -> '2026-12-01 23:50 UTC'."""
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def header_facts(note: ProgressNote) -> list[tuple[str, str]]:
    """The facts printed above the sections: client, date, session, format, duration, code, clinician, form."""
    facts = [
        ("Client", note.client or "(not assigned)"),
        ("Date", note.date or "(not given)"),
        ("Session", f"{note.session_number}" if note.session_number is not None else "-"),
        ("Format", "Attendance note" if note.kind == "attendance" else note.format.upper()),
    ]
    if note.has_duration:
        facts.append(("Duration", note.duration or "not recorded"))
    if note.service_code:
        facts.append(("Service code", f"{note.service_code} (psychotherapy), confirmed by the clinician"
                      if note.code_confirmed else
                      f"{note.service_code} suggested from the duration; the clinician confirms it (nothing is billed)"))
    who = clinician_line(note.clinician)
    if who:
        facts.append(("Clinician", who))
    facts.append(("Form", f"{note.template_title} (sheet {note.sheet_id})"))
    return facts


def signature_lines(note: ProgressNote, escape=lambda text: text) -> list[str]:
    """The lines after the sections: the electronic signature, or a line to sign a draft on.

    ``escape`` is applied to what the clinician typed (their name), never to the line itself.
    """
    who = clinician_line(note.clinician)
    if who:
        who = escape(who)
    if note.signed_at and who:
        return [f"Electronically signed by {who} on {when(note.signed_at)}."]
    return [f"Clinician signature: ______________________________ {who or ''}".rstrip(),
            "Date: ______________",
            "Drafted by Inklock from confirmed progress fields; review before signing."]


def addenda_sections(addenda: Iterable[dict[str, Any]]) -> tuple[document.Section, ...]:
    """Addenda after a signed note, each dated and attributed."""
    return tuple(document.Section(f"Addendum, {when(a['at'])}, by {a['author']}",
                                  (document.Para(a["text"], breaks=True),), shout=False) for a in addenda)


def addenda_text(addenda: list[dict[str, Any]], kind: str) -> str:
    """Addenda after a signed note, each dated and attributed, as ``md`` or ``txt``."""
    return document.appendix(addenda_sections(addenda), kind)


def note_document(note: ProgressNote, addenda: Iterable[dict[str, Any]] = ()) -> document.Document:
    """What the note says, for :mod:`scanner.notes.document` to write: facts, sections, signature, addenda."""
    plain, md = signature_lines(note), signature_lines(note, document.md_escape)
    closing = tuple(document.Para(line, small=line.startswith("Drafted"), md=m) for line, m in zip(plain, md))
    return document.Document(
        title=note.title,
        facts=tuple(header_facts(note)),
        sections=tuple(document.Section(s.title, (document.Para(s.text),)) for s in note.sections),
        closing=closing,
        closing_space_mm=12.0 if len(closing) > 1 else 6.0,
        after=addenda_sections(addenda),
    )
