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

import re
from datetime import date as Date
from pathlib import Path
from typing import Any, TYPE_CHECKING

from scanner import outfile
from scanner.notes import document
from scanner.notes import progress as notes
from scanner.notes.prose import written_text
from scanner.vault import store
from scanner.errors import BadInput, Refused, UsageError
from scanner.values import HAND_KINDS, check_client
from scanner.notes.treatment import (  # the summary itself and its files, offered here too (see __all__)
    KINDS,
    NOTHING,
    Count,
    Entries,
    Item,
    Section,
    Tally,
    TreatmentSummary,
    Trend,
    caveats,
    header_facts,
    item_lines,
    render,
    summary_document,
)

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

__all__ = [
    "KINDS",
    "KNOWN_RANGES",
    "NOTHING",
    "SECTIONS",
    "Count",
    "Entries",
    "Item",
    "Section",
    "Tally",
    "TreatmentSummary",
    "Trend",
    "build_summary",
    "caveats",
    "check_period",
    "collect",
    "header_facts",
    "item_lines",
    "kind_of",
    "measure_range",
    "render",
    "role_of",
    "sessions_in_range",
    "summary_document",
    "summary_fields",
    "title_of",
    "write_summary",
]

# Ranges of common measures kept as digits (DOMAIN: PHQ-9 0-27, GAD-7 0-21).
KNOWN_RANGES = {"phq9": (0, 27), "gad7": (0, 21)}
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


# ---------------------------------------------------------------- from the vault


def sessions_in_range(vault: Vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
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


def summary_fields(vault: Vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
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


def collect(vault: Vault, client: str, since: str | None = None, until: str | None = None) -> TreatmentSummary:
    """The client's summary for the range, read from the vault (BadInput when there is no session)."""
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
    out: list[str | None] = []
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
    session = by_sheet.get(str(row.get("sheet_id")))
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
    if f.kind in HAND_KINDS and any(w in words for w in ("focus", "presenting", "concern", "complaint")):
        return "focus"
    if f.kind == "scale" or f.kind == "digits":
        return "measures"
    if "plan" in key or key in ("next_visit", "continuation"):
        return "plan"
    if f.kind in HAND_KINDS:
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
    # Each written line its own thought, kept apart by "; " as in the progress note (shorthand written out).
    entries = tuple((d, written_text(f, v, shorthand)) for d, v in answers
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


# ---------------------------------------------------------------- writing


def kind_of(out_path: str | Path) -> str:
    """The file type from the output name; UsageError unless it is .md, .pdf or .json."""
    return document.output_kind(out_path, KINDS, "summary")


def write_summary(vault: Vault, client: str, since: str | None, until: str | None, out_path: str | Path) -> TreatmentSummary:
    """Build and write one treatment summary; returns what was written.

    Refuses before anything is written: a bad file name or folder (exit 2), a
    client with no scanned session in the range (exit 4), a range where no
    progress answer is confirmed yet (exit 3). The file appears whole or not at all.
    """
    out_path = Path(out_path)
    kind = kind_of(out_path)
    document.check_output(out_path, kind)
    summary = collect(vault, client, since, until)
    if summary.confirmed_sessions == 0:
        period = _period_words(summary.since, summary.until)
        raise Refused(f"None of the {len(summary.sessions)} scanned session(s) of client {client}"
                      f"{' ' + period if period else ''} has confirmed progress fields; "
                      "confirm them in review first (nothing was written).")
    outfile.write_private(out_path, render(summary, kind))
    return summary
