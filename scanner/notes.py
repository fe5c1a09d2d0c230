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

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from scanner import outfile, store
from scanner.errors import BadInput, ExitCode, InklockError, UnconfirmedFields, UsageError
from scanner.shorthand import Shorthand

FORMATS = ("soap", "birp", "dap")
KINDS = ("md", "txt", "pdf", "json")
SECTION_TITLES = {
    "soap": {"S": "Subjective", "O": "Objective", "A": "Assessment", "P": "Plan"},
    "birp": {"B": "Behavior", "I": "Intervention", "R": "Response", "P": "Plan"},
    "dap": {"D": "Data", "A": "Assessment", "P": "Plan"},
}
# A risk item whose answer is one of these is a negative screen.
NEGATIVE_ANSWERS = {"none", "no", "denied", "denies", "deny", "absent", "negative", "nil", "not_present", "never"}
_RISK_NAMES = ("suicid", "homicid", "self-harm", "self harm", "harm to self", "harm to others")
_RISK_KEY_TOKENS = {"si", "hi", "sh", "nssi"}
# "Next visit (weeks)" or help "in weeks": a number answer reads "in 2 weeks".
_UNIT_LABEL = re.compile(r"\s*\((days|weeks|months)\)\s*$", re.I)
_UNIT_HELP = re.compile(r"^in (days|weeks|months)$", re.I)
# A label that is only a unit ("Minutes"): the answer reads "38-52 minutes".
_BARE_UNITS = {"minutes", "hours", "days", "weeks", "months"}
_SCALE_RANGE = re.compile(r"\s*\(\s*\d+\s*(?:-|–|to)\s*\d+\s*\)\s*$")
EMPTY_SECTION = "Nothing recorded for this section."


class PrivacyBreach(InklockError):
    """A private field reached the note builder: a bug, never a user error (exit 1)."""

    exit_code = ExitCode.UNEXPECTED


# ---------------------------------------------------------------- the note


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
    drafted_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def title(self) -> str:
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


# ---------------------------------------------------------------- from the vault


def progress_fields(vault, session: str | int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session's sheet and its progress field rows, every one confirmed.

    The query selects ``privacy = 'progress'`` rows only and never the OCR read
    or the crop. Raises :class:`UnconfirmedFields` (exit 3) listing the keys of
    progress fields still pending.
    """
    sheet = store.get_sheet(vault, session)
    rows = [
        {"key": r["key"], "kind": r["kind"], "privacy": r["privacy"], "page": r["page"],
         "status": r["status"], "confirmed_value": store.loads(r["confirmed_value"])}
        for r in vault.db.query(
            "SELECT key, kind, privacy, page, status, confirmed_value FROM fields "
            "WHERE sheet_id = ? AND privacy = 'progress' ORDER BY page, id",
            [sheet["sheet_id"]],
        )
    ]
    pending = [r["key"] for r in rows if r["status"] != "confirmed"]
    if pending:
        raise UnconfirmedFields(
            f"Session {sheet['id']} has progress fields not yet confirmed: {', '.join(pending)}; "
            "confirm them first (no note was written).",
            pending,
        )
    return sheet, rows


def load_shorthand(vault) -> Shorthand:
    """The defaults plus the vault's ``abbreviations`` table (which overrides them)."""
    return Shorthand.from_rows(vault.db.query("SELECT short, long FROM abbreviations"))


def note_template(vault, sheet: dict[str, Any]):
    """The sheet's template (built-in or from the vault's templates/ folder); BadInput if unknown."""
    from forms.model import TemplateError, get_template

    folder = Path(vault.path) / "templates"
    try:
        return get_template(sheet["template"], [folder] if folder.is_dir() else [])
    except TemplateError as exc:
        raise BadInput(str(exc)) from None


# ---------------------------------------------------------------- building (pure)


def build_note(template, sheet: dict[str, Any], fields: list[dict[str, Any]], fmt: str,
               shorthand: Shorthand) -> ProgressNote:
    """Draft the note from confirmed progress fields, each in the section its template maps it to.

    Pure. Every field handed in must be a confirmed progress field both in its
    row and in the template; anything else raises (:class:`PrivacyBreach` for a
    private field). Empty answers are left out, except the risk screen, which is
    always documented. Shorthand is expanded in written text.
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
    sections = []
    for letter, title in SECTION_TITLES[fmt].items():
        in_section = [f for f in present if (f.sections or {}).get(fmt) == letter]
        sections.append(NoteSection(letter, title, tuple(_section_items(in_section, values, shorthand))))
    return ProgressNote(
        format=fmt, template=template.name, template_title=template.title, template_version=template.version,
        session=int(sheet["id"]), sheet_id=sheet["sheet_id"], client=sheet.get("client"), date=sheet.get("date"),
        session_number=sheet.get("session_number"), sections=tuple(sections),
    )


def is_risk_item(f) -> bool:
    """Whether a field is an item of the risk screen (always documented, even when empty).

    A choice or scale counts when it names a risk (suicidal or homicidal
    ideation, self-harm) or sits under a risk heading; a checkbox only when it
    names a risk itself, because an unticked "Safety plan" box denies nothing.
    """
    key_words = f.key.replace("_", " ")
    text = f"{key_words} {f.label}".lower()
    names_risk = any(w in text for w in _RISK_NAMES) or bool(set(f.key.split("_")) & _RISK_KEY_TOKENS)
    if f.kind == "checkbox":
        return names_risk
    if f.kind in ("choice", "scale"):
        return names_risk or "risk" in (f.group or "").lower() or "risk" in f.key.split("_")
    return False


def _section_items(fields: list, values: dict[str, Any], shorthand: Shorthand) -> list[NoteItem]:
    items: list[NoteItem] = []
    screen = [f for f in fields if is_risk_item(f)]
    i = 0
    while i < len(fields):
        f = fields[i]
        if f in screen:
            if f is screen[0]:  # the whole screen goes where its first item is
                items.append(_risk_screen(screen, values))
            i += 1
            continue
        if f.kind == "checkbox":
            # Consecutive boxes under one heading read as one list of what was ticked.
            run = [f]
            while (i + len(run) < len(fields) and fields[i + len(run)].kind == "checkbox"
                   and fields[i + len(run)].group == f.group and fields[i + len(run)] not in screen):
                run.append(fields[i + len(run)])
            ticked = [g for g in run if values[g.key] is True]
            if ticked and len(run) > 1 and f.group:
                text = _sentence(f"{f.group}: {', '.join(_soft_lower(_box_phrase(g)) for g in ticked)}")
                items.append(NoteItem(text, tuple(_cite(g, values) for g in ticked)))
            else:
                items.extend(NoteItem(_sentence(_box_phrase(g)), (_cite(g, values),)) for g in ticked)
            i += len(run)
            continue
        phrase = _phrase(f, values[f.key], shorthand)
        if phrase:
            items.append(NoteItem(_sentence(f"{_label(f)}: {phrase}"), (_cite(f, values),)))
        i += 1
    return items


def _risk_screen(screen: list, values: dict[str, Any]) -> NoteItem:
    """The risk screen in one sentence: what was endorsed, what was denied, what was not recorded.

    A checklist ("Risk noted: none / suicidal ideation / ...") speaks for the
    risks it lists; any other item for the risk its label names.
    """
    positive, negative, unknown = [], [], []
    for f in screen:
        value = values[f.key]
        names = _screened(f)
        if f.kind == "checkbox":
            (positive if value is True else negative).extend(names)
            continue
        chosen = value if isinstance(value, list) else ([] if value is None else [value])
        if not chosen:
            unknown.extend(names)
        elif f.kind == "choice" and all(_is_negative(f, v) for v in chosen):
            negative.extend(names)
        elif f.kind == "scale" and int(value) == (f.min or 0):
            negative.extend(names)
        elif _is_checklist(f):
            labels = {o.value: o.label for o in f.options or ()}
            found = [_soft_lower(labels.get(v, v)) for v in chosen if not _is_negative(f, v)]
            positive.append(f"{_join(found)} noted")
        else:
            positive.append(f"{names[0]} ({_phrase(f, value, None)})")
    parts = list(positive)
    if negative:
        parts.append(f"no {_join(negative, 'or')} reported")
    if unknown:
        parts.append(f"{_join(unknown)} not recorded")
    return NoteItem(_sentence("Risk screen: " + "; ".join(parts)), tuple(_cite(f, values) for f in screen))


def _is_checklist(f) -> bool:
    """A multiple choice with a 'none' box: each other box names one risk."""
    return f.kind == "choice" and bool(f.multiple) and any(_is_negative(f, o.value) for o in f.options or ())


def _screened(f) -> list[str]:
    """What a risk item screens for, in words ('suicidal ideation')."""
    if _is_checklist(f):
        return [_soft_lower(o.label) for o in f.options if not _is_negative(f, o.value)]
    return [_soft_lower(_label(f))]


def _is_negative(f, value: str) -> bool:
    label = next((o.label for o in f.options or () if o.value == value), value)
    return value.lower() in NEGATIVE_ANSWERS or label.strip().lower() in NEGATIVE_ANSWERS


def _box_phrase(f) -> str:
    """A ticked box in words: its label, completed by its help ('Safety plan reviewed or updated')."""
    return f"{_label(f)} {f.help}" if f.help else _label(f)


def _phrase(f, value: Any, shorthand: Shorthand | None) -> str | None:
    """A value in words: option labels, 'n/10', expanded text; None when empty."""
    if value is None or value == "" or value == []:
        return None
    if f.kind == "checkbox":
        return "yes" if value else None
    if f.kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        labels = {o.value: o.label for o in f.options or ()}
        words = [_soft_lower(labels.get(v, str(v))) for v in chosen]
        unit = _UNIT_LABEL.search(f.label) or _UNIT_HELP.match(f.help or "")
        if unit and len(words) == 1 and words[0].isdigit():
            return f"in {words[0]} {_unit(unit.group(1).lower(), words[0])}"
        if f.label.lower() in _BARE_UNITS and len(words) == 1:
            return f"{words[0]} {f.label.lower()}"
        return ", ".join(words) or None
    if f.kind == "scale":
        lo, hi = (f.min or 0), (f.max if f.max is not None else 10)
        return f"{value}/{hi}" if lo == 0 else f"{value} (scale {lo}-{hi})"
    # Each written line is its own thought: keep them apart in the sentence.
    lines = [" ".join(line.split()) for line in str(value).splitlines()]
    text = "; ".join(line.rstrip(";,") for line in lines if line)
    if f.kind == "digits" and f.label.lower() in _BARE_UNITS:
        return f"{text} {f.label.lower()}"
    if f.kind in ("line", "text") and shorthand is not None:
        text = shorthand.expand(text)
    return text or None


def _cite(f, values: dict[str, Any]) -> dict[str, Any]:
    return {"key": f.key, "label": f.label, "value": values[f.key]}


def _unit(unit: str, number: str) -> str:
    return unit[:-1] if number == "1" else unit


def _label(f) -> str:
    """The label for prose, chosen from what the template prints.

    A written field whose help says how ("how the client interacted with the
    group") is introduced by that help; a bare unit label ("Minutes") by the
    short label ("Length"); otherwise the printed label, or the short one when
    it says more ("Thought" -> "Thought process"). A scale's range, a unit in
    brackets and a trailing colon are dropped ("Mood (0-10)" -> "Mood").
    """
    label = f.label
    if f.kind in ("line", "text") and f.help and f.help.lower().startswith("how "):
        label = f.help[0].upper() + f.help[1:]
    elif f.short and f.label.lower() in _BARE_UNITS:
        label = f.short
    elif f.short and f.short.lower().startswith(label.lower()) and len(f.short) > len(label):
        label = f.short
    label = _UNIT_LABEL.sub("", _SCALE_RANGE.sub("", label))
    return label.rstrip(" :?")


def _soft_lower(text: str) -> str:
    """'Anxious' -> 'anxious' inside a sentence; acronyms such as 'CBT' or 'SI' stay."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:] == first[1:].lower():
        return text[0].lower() + text[1:]
    return text


def _join(words: list[str], last: str = "and") -> str:
    if len(words) <= 2:
        return f" {last} ".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# ---------------------------------------------------------------- rendering


def render(note: ProgressNote, kind: str) -> bytes:
    """The note as a file: ``md`` and ``txt`` for pasting into an EHR, ``pdf`` to sign, ``json`` for systems."""
    if kind == "json":
        return (json.dumps(note.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if kind == "md":
        return _render_md(note).encode("utf-8")
    if kind == "txt":
        return _render_txt(note).encode("utf-8")
    if kind == "pdf":
        return _render_pdf(note)
    raise UsageError(f"'{kind}' is not a note file type; use {', '.join(KINDS)}.")


def header_facts(note: ProgressNote) -> list[tuple[str, str]]:
    """The facts printed above the sections: client code, date, session, format, form."""
    return [
        ("Client", note.client or "(not assigned)"),
        ("Date", note.date or "(not given)"),
        ("Session", f"{note.session_number}" if note.session_number is not None else "-"),
        ("Format", note.format.upper()),
        ("Form", f"{note.template_title} (sheet {note.sheet_id})"),
    ]


def _render_md(note: ProgressNote) -> str:
    lines = [f"# {note.title}", ""]
    lines += [f"- **{k}:** {_md_escape(v)}" for k, v in header_facts(note)]
    for s in note.sections:
        lines += ["", f"## {s.title}", "", _md_escape(s.text)]
    return "\n".join(lines) + "\n"


def _render_txt(note: ProgressNote) -> str:
    lines = [note.title.upper(), ""]
    lines += [f"{k}: {v}" for k, v in header_facts(note)]
    for s in note.sections:
        lines += ["", f"{s.title.upper()}:", s.text]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    # Handwritten text may hold '*', '_' or '#'; in Markdown they must stay literal.
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", text)


def _render_pdf(note: ProgressNote) -> bytes:
    """A one-file PDF: header facts, sections, and a line for the clinician's signature."""
    import io
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font, bold = _pdf_fonts(note)
    styles = getSampleStyleSheet()
    body = styles["BodyText"].clone("note-body", fontName=font, fontSize=10.5, leading=14)
    head = styles["Heading2"].clone("note-head", fontName=bold, fontSize=12, spaceBefore=8, spaceAfter=3)
    title = styles["Title"].clone("note-title", fontName=bold, fontSize=15, alignment=0)
    small = body.clone("note-small", fontSize=8.5, leading=11)
    story: list = [Paragraph(escape(note.title), title)]
    facts = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), body)] for k, v in header_facts(note)],
                  colWidths=[28 * mm, 140 * mm])
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    story += [facts, Spacer(1, 4 * mm)]
    for s in note.sections:
        story += [Paragraph(escape(s.title), head), Paragraph(escape(s.text), body)]
    story += [Spacer(1, 16 * mm),
              Paragraph("Clinician signature: ______________________________ &nbsp;&nbsp; Date: ______________", body),
              Spacer(1, 3 * mm),
              Paragraph("Drafted by Inklock from confirmed progress fields; review before signing.", small)]
    buf = io.BytesIO()
    # Uncompressed and invariant: the text stays inspectable (tests grep the raw bytes) and
    # the same note gives the same bytes.
    doc = SimpleDocTemplate(buf, pagesize=letter, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=note.title, author="", subject="", creator="Inklock",
                            pageCompression=0, invariant=1)
    doc.build(story)
    return buf.getvalue()


def _pdf_fonts(note: ProgressNote) -> tuple[str, str]:
    return pdf_fonts(" ".join([note.title, *(v for _, v in header_facts(note)), *(s.text for s in note.sections)]))


def pdf_fonts(text: str) -> tuple[str, str]:
    """Helvetica when every character fits it, else DejaVu Sans (handwritten text may hold any letter)."""
    try:
        text.encode("cp1252")
        return "Helvetica", "Helvetica-Bold"
    except UnicodeEncodeError:
        pass
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path("/usr/share/fonts/truetype/dejavu")
    regular, heavy = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and heavy.is_file()):
        return "Helvetica", "Helvetica-Bold"
    if "InklockSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("InklockSans", str(regular)))
        pdfmetrics.registerFont(TTFont("InklockSans-Bold", str(heavy)))
    return "InklockSans", "InklockSans-Bold"


# ---------------------------------------------------------------- writing


def kind_of(out_path: Path) -> str:
    """The file type from the output name's extension; UsageError if it is not one we write."""
    kind = Path(out_path).suffix.lower().lstrip(".")
    kind = {"markdown": "md", "text": "txt"}.get(kind, kind)
    if kind not in KINDS:
        raise UsageError(f"Cannot tell the note's file type from '{Path(out_path).name}'; "
                         f"name it .md, .txt, .pdf or .json.")
    return kind


def draft_note(vault, session: str | int, fmt: str) -> ProgressNote:
    """The progress note of a session, in memory; UnconfirmedFields (exit 3) while any
    progress field of its template is unscanned or unconfirmed."""
    sheet, fields = progress_fields(vault, session)
    template = note_template(vault, sheet)
    missing = [f.key for f in template.fields if f.privacy == "progress" and f.key not in {r["key"] for r in fields}]
    if missing:
        raise UnconfirmedFields(
            f"Session {sheet['id']} has progress fields not scanned or confirmed yet: {', '.join(missing)}; "
            "no note was written.", missing)
    return build_note(template, sheet, fields, fmt, load_shorthand(vault))


def keep_note(vault, note: ProgressNote) -> None:
    """Record an exported note in the progress-note store (inside the caller's transaction)."""
    vault.progress_db.execute(
        "INSERT INTO progress_notes(session, sheet_id, client, date, format, created_at, content) "
        "VALUES (?,?,?,?,?,?,?)",
        [note.session, note.sheet_id, note.client, note.date, note.format, store.now(),
         json.dumps(note.as_dict(), ensure_ascii=False)],
    )


def write_note(vault, session: str | int, fmt: str, out_path: str | Path) -> Path:
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
    if not out_path.parent.is_dir():
        raise UsageError(f"The folder {out_path.parent} does not exist.")
    if out_path.is_dir():
        raise UsageError(f"{out_path} is a folder; give a file name ending in .{kind}.")
    outfile.check_target(out_path)  # a link, pipe or device is refused, never replaced
    note = draft_note(vault, session, fmt)
    data = render(note, kind)

    with outfile.private_temp(out_path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with store.transaction(vault.progress_db):
            keep_note(vault, note)
            outfile.commit(tmp, out_path)  # inside the transaction: a failed rename rolls the record back
    return out_path


def stored_notes(vault, session: str | int | None = None) -> list[dict[str, Any]]:
    """Notes kept in the progress store (newest first), optionally for one session."""
    sql = "SELECT id, session, sheet_id, client, date, format, created_at, content FROM progress_notes"
    params: Iterable[Any] = []
    if session is not None:
        sql += " WHERE session = ?"
        params = [int(session)]
    return [dict(r, content=json.loads(r["content"])) for r in vault.progress_db.query(sql + " ORDER BY id DESC", params)]
