"""A treatment summary: what it holds (tallies, trends, entries by section) and how it reads.

:class:`TreatmentSummary` is built by :func:`scanner.notes.summary.build_summary`;
:func:`summary_document` says it as a :class:`scanner.notes.document.Document`
and :func:`render` writes it as md, pdf or json. Nothing here reads the vault.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from scanner.errors import UsageError
from scanner.notes import document

KINDS = ("md", "pdf", "json")
# Attendance answers that mean the client was there (option values of the built-in forms).
ATTENDED = {"attended", "late", "left_early"}
NOTHING = "Nothing recorded in this period."


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


Item = Tally | Trend | Entries


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
    drafted_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# ---------------------------------------------------------------- rendering


def render(summary: TreatmentSummary, kind: str) -> bytes:
    """The summary as a file: ``md`` (to paste), ``pdf`` (with a chart per measure), ``json``."""
    if kind == "json":
        return (json.dumps(summary.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if kind == "md":
        return document.to_md(summary_document(summary)).encode("utf-8")
    if kind == "pdf":
        return document.to_pdf(summary_document(summary))
    raise UsageError(f"'{kind}' is not a summary file type; use {', '.join(KINDS)}.")


def header_facts(summary: TreatmentSummary) -> list[tuple[str, str]]:
    """Client, period, sessions and attendance, forms: the lines above the sections."""
    period = f"{summary.first_date} to {summary.last_date}"
    if summary.since or summary.until:
        period += f" (asked for {summary.since or 'the first session'} to {summary.until or 'the last'})"
    sessions = f"{len(summary.sessions)} scanned"
    if summary.attendance is not None and summary.attendance.counts:
        parts = ", ".join(f"{c.label} {c.sessions}" for c in summary.attendance.counts)
        sessions += f"; {summary.attended} attended ({parts})"
    elif summary.attendance is not None:  # confirmed, but left unanswered on every sheet
        sessions += "; attendance not recorded"
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


SIGNATURE = "Clinician signature: ______________________________    Date: ______________"


def summary_document(summary: TreatmentSummary) -> document.Document:
    """What the summary says, for :mod:`scanner.notes.document` to write.

    Each item is a group of sentences (a trend has its chart in the PDF and
    its values in Markdown); the signature line is the PDF's only.
    """
    sections = []
    for s in summary.sections:
        blocks: list[document.Block] = [document.Para(s.empty)] if not s.items else []
        for item in s.items:
            paras = [document.Para(t, bullet=True) for t in item_lines(item, newest_first=s.role == "plan")]
            chart = None
            if isinstance(item, Trend) and len(item.points) > 1:
                paras.append(document.Para("values: " + ", ".join(f"{d} {_num(v)}" for d, v in item.points),
                                           bullet=True, level=1, only="text"))
            if isinstance(item, Trend) and item.points:
                chart = functools.partial(_chart, item)
            blocks.append(document.Group(tuple(paras), chart))
        sections.append(document.Section(s.title, tuple(blocks)))
    return document.Document(
        title=summary.title, facts=tuple(header_facts(summary)), sections=tuple(sections),
        notes=tuple(caveats(summary)), closing_space_mm=10.0,
        closing=(document.Para(SIGNATURE, only="pdf", pdf=SIGNATURE.replace("    ", " &nbsp;&nbsp; ")),),
    )


def _chart(item: Trend):
    from reportlab.lib.units import mm

    from scanner.notes import charts

    chart = charts.line_chart(item.points, lo=item.lo, hi=item.hi, title=item.label, width=160 * mm, height=48 * mm)
    return charts.to_drawing(chart)
