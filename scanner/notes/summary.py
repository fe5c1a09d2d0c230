"""Treatment summary of one client over a date range, from confirmed progress fields only.

The privacy discipline is the progress note's (see :mod:`scanner.notes.progress`):

* :func:`summary_fields` is the only query from the vault into a summary; it
  selects ``privacy = 'progress' AND status = 'confirmed'`` rows and only their
  confirmed value (never the machine read, never a crop);
* :func:`build_summary` is pure and checks every row it is handed against the
  row's own privacy and status and against its template: a private field there
  is an internal error (:class:`scanner.notes.progress.PrivacyBreach`), never output;
* :func:`write_summary` refuses before anything is written and writes through a
  temp file in the target folder, renamed only when complete.

Each progress field lands in one section by what it is (attendance, focus,
interventions, measures, homework, goals, risk, plan, ...): choices and boxes
are counted across sessions, scales and numeric measures become trends (a
chart in the PDF), written answers are listed by date.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

from scanner import outfile
from scanner.notes import progress as notes
from scanner.vault import store
from scanner.errors import BadInput, Refused, UsageError
from scanner.notes.progress import pdf_fonts

KINDS = ("md", "pdf", "json")
# Attendance answers that mean the client was there (option values of the built-in forms).
ATTENDED = {"attended", "late", "left_early"}
# Ranges of common measures kept as digits (DOMAIN: PHQ-9 0-27, GAD-7 0-21).
KNOWN_RANGES = {"phq9": (0, 27), "gad7": (0, 21)}
NOTHING = "Nothing recorded in this period."
_BARE_UNITS = {"minutes", "hours", "days", "weeks", "months"}
_RANGE_IN_LABEL = re.compile(r"\s*\(\s*\d+\s*(?:-|–|to)\s*\d+\s*\)\s*$")

# Sections in print order: (role, title, shown even when empty).
SECTIONS = (
    ("focus", "Presenting focus", True),
    ("interventions", "Interventions used", True),
    ("measures", "Scales and measures", True),
    ("response", "Response and session content", False),
    ("homework", "Homework", True),
    ("goals", "Goals", True),
    ("risk", "Risk and safety", True),
    ("presentation", "Presentation across sessions", False),
    ("plan", "Plan", True),
)


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class Count:
    value: str
    label: str
    sessions: int


@dataclass(frozen=True)
class Tally:
    """A choice or box counted across sessions: how many sessions chose each answer."""

    key: str
    label: str
    answered: int  # sessions where the field was confirmed (an empty answer included)
    counts: tuple[Count, ...]
    type: str = "tally"


@dataclass(frozen=True)
class Trend:
    """A scale or numeric measure across sessions: (date, value) in date order and its range."""

    key: str
    label: str
    lo: float | None
    hi: float | None
    points: tuple[tuple[str, float], ...]
    type: str = "trend"

    def describe(self) -> str:
        """'3 on 2026-01-05, 7 on 2026-03-02 (lowest 3, highest 7; 6 sessions)'."""
        if not self.points:
            return NOTHING
        (d0, v0), (d1, v1) = self.points[0], self.points[-1]
        values = [v for _, v in self.points]
        if len(self.points) == 1:
            return f"{_num(v0)} on {d0} (one session)."
        return (f"{_num(v0)} on {d0}, {_num(v1)} on {d1} (lowest {_num(min(values))}, highest {_num(max(values))}; "
                f"{len(values)} sessions).")


@dataclass(frozen=True)
class Entries:
    """A written answer session by session: (date, text), shorthand expanded."""

    key: str
    label: str
    entries: tuple[tuple[str, str], ...]
    type: str = "entries"


Item = Union[Tally, Trend, Entries]


@dataclass(frozen=True)
class Section:
    role: str
    title: str
    items: tuple[Item, ...]
    empty: str = NOTHING  # what an empty section says


@dataclass(frozen=True)
class TreatmentSummary:
    """Everything a treatment summary says, ready to render (md, pdf, json) or show (review page)."""

    client: str
    since: str | None
    until: str | None
    sessions: tuple[dict[str, Any], ...]  # {"session", "date", "template", "session_number", "pending"}
    confirmed_sessions: int  # sessions with at least one confirmed progress answer
    attendance: Tally | None
    forms: tuple[str, ...]
    sections: tuple[Section, ...]
    drafted_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def title(self) -> str:
        return f"Treatment summary: client {self.client}"

    @property
    def first_date(self) -> str | None:
        return self.sessions[0]["date"] if self.sessions else None

    @property
    def last_date(self) -> str | None:
        return self.sessions[-1]["date"] if self.sessions else None

    @property
    def attended(self) -> int | None:
        """Sessions attended (attended, late, left early), or None when attendance was never confirmed."""
        if self.attendance is None:
            return None
        return sum(c.sessions for c in self.attendance.counts if c.value in ATTENDED)

    @property
    def pending_sessions(self) -> int:
        return sum(1 for s in self.sessions if s["pending"])

    def section(self, role: str) -> Section | None:
        return next((s for s in self.sections if s.role == role), None)

    def trends(self) -> list[Trend]:
        return [i for s in self.sections for i in s.items if isinstance(i, Trend)]

    def tallies(self) -> list[Tally]:
        return [i for s in self.sections for i in s.items if isinstance(i, Tally)]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(title=self.title, first_date=self.first_date, last_date=self.last_date, attended=self.attended)
        return data


# ---------------------------------------------------------------- from the vault


def sessions_in_range(vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
    """The client's scanned, dated sessions in the range (inclusive), oldest first.

    BadInput (exit 4) when the client has no session at all or none in the
    range. Reads sheets and a count of pending progress fields, no field value.
    """
    if not store.client_has_sheets(vault, client):
        raise BadInput(f"There are no sessions for client {client} in this vault; 'inklock sessions' lists them.")
    rows = [{"session": r["id"], "sheet_id": r["sheet_id"], "template": r["template"], "date": r["date"],
             "session_number": r["session_number"], "pending": int(r["pending"])}
            for r in store.client_session_rows(vault, client, since, until)]
    if not rows:
        raise BadInput(f"Client {client} has no scanned sessions {_period_words(since, until) or 'yet'}.")
    return rows


def summary_fields(vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
    """Confirmed progress answers of the client's sessions in the range: the only read of field values.

    Selects ``privacy = 'progress' AND status = 'confirmed'`` and the confirmed
    value only.
    """
    return [{"sheet_id": r["sheet_id"], "key": r["key"], "kind": r["kind"], "privacy": r["privacy"],
             "status": r["status"], "date": r["date"], "confirmed_value": store.loads(r["confirmed_value"])}
            for r in store.confirmed_progress_rows(vault, client, since, until)]


def _period_words(since: str | None, until: str | None) -> str:
    if since and until:
        return f"between {since} and {until}"
    if since:
        return f"since {since}"
    if until:
        return f"until {until}"
    return ""


def collect(vault, client: str, since: str | None = None, until: str | None = None) -> TreatmentSummary:
    """The client's summary for the range, read from the vault (BadInput when there is no session)."""
    from scanner.notes.printing import check_client

    check_client(client)
    since, until = check_period(since, until)
    sessions = sessions_in_range(vault, client, since, until)
    rows = summary_fields(vault, client, since, until)
    templates = {}
    for s in sessions:
        if s["template"] not in templates:
            templates[s["template"]] = notes.note_template(vault, s)
    return build_summary(client, since, until, sessions, templates, rows, notes.load_shorthand(vault))


def check_period(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """ISO dates (or None); UsageError for a date that is not one or a range that ends before it starts."""
    out = []
    for name, text in (("--since", since), ("--until", until)):
        if text is None or str(text).strip() == "":
            out.append(None)
            continue
        try:
            out.append(Date.fromisoformat(str(text).strip()).isoformat())
        except ValueError:
            raise UsageError(f"{name} '{text}' is not a date; use YYYY-MM-DD.") from None
    if out[0] and out[1] and out[0] > out[1]:
        raise UsageError(f"The period ends ({out[1]}) before it starts ({out[0]}).")
    return out[0], out[1]


# ---------------------------------------------------------------- building (pure)


def build_summary(client: str, since: str | None, until: str | None, sessions: list[dict[str, Any]],
                  templates: dict[str, Any], rows: list[dict[str, Any]], shorthand) -> TreatmentSummary:
    """Count, trend and list the confirmed progress answers of ``sessions``.

    Pure. Every row must be a confirmed progress field of one of ``sessions``,
    both in the row and in that session's template; a private field raises
    :class:`scanner.notes.progress.PrivacyBreach` and nothing is built.
    """
    by_sheet = {s["sheet_id"]: s for s in sessions}
    fields: dict[str, Any] = {}  # key -> template field (the first form that has it)
    labels: dict[str, dict[str, str]] = {}  # key -> option value -> label, across forms
    answers: dict[str, list[tuple[str, Any]]] = {}  # key -> [(date, value)] in date order
    seen: set[str] = set()
    for row in rows:
        _check_row(row, by_sheet, templates)
        tfield = templates[by_sheet[row["sheet_id"]]["template"]].field(row["key"])
        fields.setdefault(row["key"], tfield)
        labels.setdefault(row["key"], {}).update({o.value: o.label for o in tfield.options or ()})
        answers.setdefault(row["key"], []).append((row["date"], row["confirmed_value"]))
        seen.add(row["sheet_id"])

    placed: dict[str, list[Item]] = {role: [] for role, _, _ in SECTIONS}
    attendance = None
    for key, f in fields.items():
        role = role_of(f)
        item = _item(f, answers[key], labels[key], shorthand)
        if role == "attendance" and isinstance(item, Tally):
            attendance = item
        elif item is not None:
            placed[role if role in placed else "presentation"].append(item)
    on_forms = {role_of(f) for t in templates.values() for f in t.fields if f.privacy == "progress"}
    sections = tuple(Section(role, title, tuple(placed[role]),
                             NOTHING if role in on_forms else f"The forms used have no {title.lower()} field.")
                     for role, title, always in SECTIONS if always or placed[role])
    forms = tuple(dict.fromkeys(templates[s["template"]].title for s in sessions))
    return TreatmentSummary(client=client, since=since, until=until, sessions=tuple(
        {k: s[k] for k in ("session", "date", "template", "session_number", "pending")} for s in sessions),
        confirmed_sessions=len(seen), attendance=attendance, forms=forms, sections=sections)


def _check_row(row: dict[str, Any], by_sheet: dict[str, Any], templates: dict[str, Any]) -> None:
    if row.get("privacy") != "progress":
        raise notes.PrivacyBreach(f"Internal error: private field '{row.get('key')}' reached the treatment-summary "
                                  "builder; no summary was written.")
    if row.get("status") != "confirmed":
        raise notes.PrivacyBreach(f"Internal error: unconfirmed field '{row.get('key')}' reached the "
                                  "treatment-summary builder; no summary was written.")
    session = by_sheet.get(row.get("sheet_id"))
    if session is None:
        raise BadInput(f"Field '{row.get('key')}' belongs to a session outside this summary.")
    template = templates[session["template"]]
    try:
        tfield = template.field(row["key"])
    except KeyError:
        raise BadInput(f"Field '{row['key']}' is not in template '{template.name}' version {template.version}; "
                       "was the sheet printed from another version?") from None
    if tfield.privacy != "progress":
        raise notes.PrivacyBreach(f"Internal error: field '{row['key']}' is private in template '{template.name}' "
                                  "but was handed to the treatment-summary builder; no summary was written.")


def role_of(f) -> str:
    """Which section a progress field belongs to, from its key, label and kind."""
    key, words = f.key.lower(), f"{f.key} {f.label} {f.short or ''}".lower().replace("_", " ")
    if key == "attendance":
        return "attendance"
    if notes.is_risk_item(f) or "safety" in key or "risk" in key.split("_"):
        return "risk"
    if "homework" in key or ("homework" in words and "plan" not in key):  # "Plan and homework" is a plan
        return "homework"
    if "goal" in words:
        return "goals"
    if "intervention" in key:
        return "interventions"
    if f.kind in ("line", "text") and any(w in words for w in ("focus", "presenting", "concern", "complaint")):
        return "focus"
    if f.kind == "scale" or f.kind == "digits":
        return "measures"
    if "plan" in key or key in ("next_visit", "continuation"):
        return "plan"
    if f.kind in ("line", "text"):
        return "response"
    return "presentation"


def _item(f, answers: list[tuple[str, Any]], labels: dict[str, str], shorthand) -> Item | None:
    label = title_of(f)
    if f.kind in ("choice", "checkbox"):
        tally: dict[str, int] = {}
        for _, value in answers:
            chosen = ["yes"] if value is True else (value if isinstance(value, list) else
                                                    ([] if value in (None, False) else [value]))
            for v in dict.fromkeys(map(str, chosen)):
                tally[v] = tally.get(v, 0) + 1
        order = list(labels)
        counts = sorted(tally.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else len(order)))
        box = f.kind == "checkbox"
        return Tally(f.key, label, len(answers),
                     tuple(Count(v, "ticked" if box else labels.get(v, v), n) for v, n in counts))
    if f.kind in ("scale", "digits"):
        points = tuple((d, float(v)) for d, v in answers if _is_number(v))
        if f.kind == "digits" and not points:
            return None
        lo, hi = measure_range(f)
        return Trend(f.key, label, lo, hi, points)
    entries = tuple((d, shorthand.expand(" ".join(str(v).split()))) for d, v in answers
                    if v not in (None, "") and str(v).strip())
    return Entries(f.key, label, entries)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and value.strip().isdigit()


def measure_range(f) -> tuple[float | None, float | None]:
    """A scale's printed range; a known measure's range; else None (the chart picks one from the data)."""
    if f.kind == "scale":
        return float(f.min if f.min is not None else 0), float(f.max if f.max is not None else 10)
    known = KNOWN_RANGES.get(re.sub(r"[^a-z0-9]", "", f.key.lower()))
    return (float(known[0]), float(known[1])) if known else (0.0, None)


def title_of(f) -> str:
    """The label for prose: the printed one without a range or colon ('Mood, client-rated'),
    or the short one where the printed label is only a unit ('Minutes' -> 'Length') or says less
    ('Thought' -> 'Thought process')."""
    label = f.label
    if f.short and (label.lower() in _BARE_UNITS or
                    (f.short.lower().startswith(label.lower()) and len(f.short) > len(label))):
        label = f.short
    return _RANGE_IN_LABEL.sub("", label).rstrip(" :?")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# ---------------------------------------------------------------- rendering


def render(summary: TreatmentSummary, kind: str) -> bytes:
    """The summary as a file: ``md`` (to paste), ``pdf`` (with a chart per measure), ``json``."""
    if kind == "json":
        return (json.dumps(summary.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if kind == "md":
        return _render_md(summary).encode("utf-8")
    if kind == "pdf":
        return _render_pdf(summary)
    raise UsageError(f"'{kind}' is not a summary file type; use {', '.join(KINDS)}.")


def header_facts(summary: TreatmentSummary) -> list[tuple[str, str]]:
    """Client, period, sessions and attendance, forms: the lines above the sections."""
    period = f"{summary.first_date} to {summary.last_date}"
    if summary.since or summary.until:
        period += f" (asked for {summary.since or 'the first session'} to {summary.until or 'the last'})"
    sessions = f"{len(summary.sessions)} scanned"
    if summary.attendance is not None:
        parts = ", ".join(f"{c.label} {c.sessions}" for c in summary.attendance.counts)
        sessions += f"; {summary.attended} attended ({parts})"
    return [("Client", summary.client), ("Period", period), ("Sessions", sessions),
            ("Forms", ", ".join(summary.forms))]


def caveats(summary: TreatmentSummary) -> list[str]:
    """What the reader must know about what is left out."""
    out = ["Drawn from confirmed progress fields only; private psychotherapy notes never enter it."]
    if summary.pending_sessions:
        out.append(f"{summary.pending_sessions} session(s) in this period still have unconfirmed progress fields; "
                   "those answers are not included.")
    return out


def item_lines(item: Item, newest_first: bool = False) -> list[str]:
    """An item as plain sentences (Markdown and PDF share them)."""
    if isinstance(item, Tally):
        if not item.counts:
            return [f"{item.label}: none chosen ({item.answered} session(s) answered)."]
        of = f"of {item.answered} session{'s' if item.answered != 1 else ''}"
        return [f"{item.label}: " + "; ".join(f"{c.label} in {c.sessions} {of}" for c in item.counts) + "."]
    if isinstance(item, Trend):
        return [f"{item.label}: {item.describe()}"]
    entries = list(reversed(item.entries)) if newest_first else list(item.entries)
    return [f"{item.label}, {d}: {t}" for d, t in entries] or [f"{item.label}: {NOTHING.lower()}"]


def _render_md(summary: TreatmentSummary) -> str:
    lines = [f"# {_md(summary.title)}", ""]
    lines += [f"- **{k}:** {_md(v)}" for k, v in header_facts(summary)]
    lines += ["", *(f"_{_md(c)}_" for c in caveats(summary))]
    for s in summary.sections:
        lines += ["", f"## {s.title}", ""]
        if not s.items:
            lines.append(_md(s.empty))
        for item in s.items:
            lines += [f"- {_md(t)}" for t in item_lines(item, newest_first=s.role == "plan")]
            if isinstance(item, Trend) and len(item.points) > 1:
                lines.append("  - values: " + ", ".join(f"{d} {_num(v)}" for d, v in item.points))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    # Handwritten text may hold '*', '_' or '#'; in Markdown they must stay literal.
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", str(text))


def _render_pdf(summary: TreatmentSummary) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from scanner.notes import charts

    texts = [summary.title, *(v for _, v in header_facts(summary))]
    texts += [t for s in summary.sections for i in s.items for t in item_lines(i)]
    font, bold = pdf_fonts(" ".join(texts))
    styles = getSampleStyleSheet()
    body = styles["BodyText"].clone("sum-body", fontName=font, fontSize=10.5, leading=14)
    head = styles["Heading2"].clone("sum-head", fontName=bold, fontSize=12, spaceBefore=8, spaceAfter=3)
    title = styles["Title"].clone("sum-title", fontName=bold, fontSize=15, alignment=0)
    small = body.clone("sum-small", fontSize=8.5, leading=11)
    story: list = [Paragraph(escape(summary.title), title)]
    facts = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), body)]
                   for k, v in header_facts(summary)], colWidths=[28 * mm, 140 * mm])
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    story += [facts, Spacer(1, 2 * mm), *(Paragraph(escape(c), small) for c in caveats(summary)), Spacer(1, 2 * mm)]
    for s in summary.sections:
        story.append(Paragraph(escape(s.title), head))
        if not s.items:
            story.append(Paragraph(escape(s.empty), body))
        for item in s.items:
            paragraphs = [Paragraph(escape(t), body) for t in item_lines(item, newest_first=s.role == "plan")]
            if isinstance(item, Trend) and item.points:
                chart = charts.line_chart(item.points, lo=item.lo, hi=item.hi, title=item.label,
                                          width=160 * mm, height=48 * mm)
                paragraphs.append(charts.to_drawing(chart))
            story.append(KeepTogether(paragraphs))
    story += [Spacer(1, 10 * mm),
              Paragraph("Clinician signature: ______________________________ &nbsp;&nbsp; Date: ______________", body)]
    buf = io.BytesIO()
    # Uncompressed and invariant, as the progress note: inspectable text, same bytes for the same summary.
    doc = SimpleDocTemplate(buf, pagesize=letter, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=summary.title, author="", subject="", creator="Inklock",
                            pageCompression=0, invariant=1)
    doc.build(story)
    return buf.getvalue()


# ---------------------------------------------------------------- writing


def kind_of(out_path: str | Path) -> str:
    """The file type from the output name; UsageError unless it is .md, .pdf or .json."""
    kind = Path(out_path).suffix.lower().lstrip(".")
    kind = {"markdown": "md"}.get(kind, kind)
    if kind not in KINDS:
        raise UsageError(f"Cannot tell the summary's file type from '{Path(out_path).name}'; "
                         "name it .md, .pdf or .json.")
    return kind


def write_summary(vault, client: str, since: str | None, until: str | None, out_path: str | Path) -> TreatmentSummary:
    """Build and write one treatment summary; returns what was written.

    Refuses before anything is written: a bad file name or folder (exit 2), a
    client with no scanned session in the range (exit 4), a range where no
    progress answer is confirmed yet (exit 3). The file appears whole or not at all.
    """
    out_path = Path(out_path)
    kind = kind_of(out_path)
    if not out_path.parent.is_dir():
        raise UsageError(f"The folder {out_path.parent} does not exist.")
    if out_path.is_dir():
        raise UsageError(f"{out_path} is a folder; give a file name ending in .{kind}.")
    outfile.check_target(out_path)  # a link, pipe or device is refused, never replaced
    summary = collect(vault, client, since, until)
    if summary.confirmed_sessions == 0:
        period = _period_words(summary.since, summary.until)
        raise Refused(f"None of the {len(summary.sessions)} scanned session(s) of client {client}"
                      f"{' ' + period if period else ''} has confirmed progress fields; "
                      "confirm them in review first (nothing was written).")
    outfile.write_private(out_path, render(summary, kind))
    return summary
