"""The day's (or week's) packet from an exported calendar (RFC 5545 ``.ics``).

icalendar parses the file; recurring-ical-events expands repeating
appointments (RRULE, RDATE, EXDATE and moved occurrences) into the days asked
for. Each appointment whose summary holds a client code (by default the first
``[A-Z]-\\d+``, e.g. ``C-104``) becomes one sheet request; the session number
is left to the printer, which continues the client's own count in the vault.
Appointments without a code are listed and skipped, or printed as blank sheets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from scanner.errors import BadInput, UsageError
from scanner.notes.printing import SheetRequest
from scanner.values import check_client, shown

DEFAULT_CLIENT_PATTERN = r"[A-Z]-\d+"
MAX_DAYS = 62  # a packet is a day or a week; two months is already a lot of paper


@dataclass
class Appointment:
    start: str  # ISO date or date-time, as in the calendar (local time of the event)
    day: str  # YYYY-MM-DD
    summary: str
    client: str | None
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "date": self.day, "summary": self.summary, "client": self.client}


def client_pattern(text: str | None) -> re.Pattern:
    """The pattern that finds a client code in an event's summary (its first group, if it has one)."""
    try:
        return re.compile(text or DEFAULT_CLIENT_PATTERN)
    except re.error as exc:
        raise UsageError(f"--client-pattern '{shown(text or '')}' is not a regular expression ({exc}).") from None


def find_client(summary: str, pattern: re.Pattern) -> str | None:
    match = pattern.search(summary)
    if not match:
        return None
    code = match.group(1) if pattern.groups else match.group(0)
    try:
        return check_client(code or "")
    except BadInput:
        return None  # what the pattern found cannot be a code: treat as no code


def _when(value) -> tuple[str, str, tuple]:
    """(shown start, its day, a sort key) of an event start, a date or a date-time."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M"), value.date().isoformat(), (value.date(), value.time())
    return value.isoformat(), value.isoformat(), (value, datetime.min.time())


def read_appointments(path: Path, first: Date, last: Date, pattern: re.Pattern) -> list[Appointment]:
    """Every appointment from ``first`` to ``last`` (inclusive), recurring ones expanded, in time order."""
    import icalendar
    import recurring_ical_events

    if (last - first).days < 0:
        raise UsageError("--to comes before --from.")
    if (last - first).days >= MAX_DAYS:
        raise UsageError(f"Print at most {MAX_DAYS} days at a time.")
    from scanner.outfile import open_regular

    try:
        with open_regular(path, "calendar") as fh:  # a FIFO or a device is refused, never waited on
            data = fh.read()
    except OSError as exc:
        raise BadInput(f"The calendar {path} cannot be read ({exc.strerror or exc}).") from None
    try:
        calendar = icalendar.Calendar.from_ical(data)
        if calendar.name != "VCALENDAR":
            raise ValueError("no VCALENDAR")
        events = recurring_ical_events.of(calendar).between(first, last + timedelta(days=1))
    except Exception:  # noqa: BLE001 -- a damaged file may fail the parser in many ways
        raise BadInput(f"{path} is not a readable calendar (.ics) file: export the calendar again "
                       "as iCalendar (.ics).") from None
    out = []
    for event in events:
        if event.name != "VEVENT" or event.get("DTSTART") is None:
            continue
        start, day, key = _when(event["DTSTART"].dt)
        if not first.isoformat() <= day <= last.isoformat():
            continue  # an event that only ends inside the range
        summary = " ".join(str(event.get("SUMMARY", "")).split())
        cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
        out.append((key, Appointment(start, day, summary, find_client(summary, pattern), cancelled)))
    return [a for _, a in sorted(out, key=lambda pair: pair[0])]


def calendar_requests(path: Path, first: Date, last: Date, template: str | None, pattern: re.Pattern,
                      blank_unknown: bool) -> tuple[list[SheetRequest], list[Appointment], list[Appointment]]:
    """(sheet requests, appointments printed, appointments skipped) for the days asked."""
    requests, printed, skipped = [], [], []
    for appointment in read_appointments(path, first, last, pattern):
        if appointment.cancelled:
            skipped.append(appointment)
        elif appointment.client:
            requests.append(SheetRequest(template or "session", appointment.client, appointment.day, None))
            printed.append(appointment)
        elif blank_unknown:
            requests.append(SheetRequest(template or "session", None, None, None))
            printed.append(appointment)
        else:
            skipped.append(appointment)
    if not requests:
        span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        raise BadInput(f"The calendar {path} has no appointment with a client code on {span} "
                       f"({len(skipped)} without one; --blank-unknown prints blank sheets for those).")
    return requests, printed, skipped


def day_range(date_: str | None, from_: str | None, to: str | None) -> tuple[Date, Date]:
    """The days asked for: --date D, or --from D [--to D] (default: today)."""
    from scanner.notes.printing import check_date

    if date_ and (from_ or to):
        raise UsageError("Give --date D, or --from D --to D, not both.")
    if from_ or to:
        first = Date.fromisoformat(check_date(from_ or to))
        return first, Date.fromisoformat(check_date(to)) if to else first + timedelta(days=6)
    day = Date.fromisoformat(check_date(date_))
    return day, day
