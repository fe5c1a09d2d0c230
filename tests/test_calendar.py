"""``print --calendar``: one sheet per appointment of an exported calendar (.ics)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# A weekly appointment (one week skipped, one moved), an intake, a lunch with no
# client code, and a cancelled appointment; times in a named time zone.
CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Synthetic//Inklock test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-c104@example.invalid
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Berlin:20261102T100000
DTEND;TZID=Europe/Berlin:20261102T105000
RRULE:FREQ=WEEKLY;COUNT=8
EXDATE;TZID=Europe/Berlin:20261116T100000
SUMMARY:Session C-104
END:VEVENT
BEGIN:VEVENT
UID:weekly-c104@example.invalid
DTSTAMP:20261101T090000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261130T100000
DTSTART;TZID=Europe/Berlin:20261201T160000
DTEND;TZID=Europe/Berlin:20261201T165000
SUMMARY:Session C-104 (moved)
END:VEVENT
BEGIN:VEVENT
UID:intake-m221@example.invalid
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Berlin:20261123T140000
DTEND;TZID=Europe/Berlin:20261123T145000
SUMMARY:Intake M-221
END:VEVENT
BEGIN:VEVENT
UID:lunch@example.invalid
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Berlin:20261123T120000
DTEND;TZID=Europe/Berlin:20261123T130000
SUMMARY:Team lunch
END:VEVENT
BEGIN:VEVENT
UID:cancelled-r307@example.invalid
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Berlin:20261123T160000
DTEND;TZID=Europe/Berlin:20261123T165000
STATUS:CANCELLED
SUMMARY:R-307
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def ics(tmp_path) -> Path:
    path = tmp_path / "week.ics"
    path.write_text(CALENDAR.replace("\n", "\r\n"), encoding="utf-8")
    return path


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def printed(cli, *args) -> dict:
    r = cli("print", *args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_the_day_packet_continues_each_clients_count(vault_dir, cli, ics, tmp_path):
    # C-104 had three sessions printed before; M-221 is new.
    for day in ("2026-11-02", "2026-11-09", "2026-11-10"):
        assert cli("print", "session", "--client", "C-104", "--date", day, "--out", tmp_path / f"{day}.pdf").code == 0
    out = tmp_path / "day.pdf"
    data = printed(cli, "--calendar", ics, "--date", "2026-11-23", "--out", out)
    sheets = [(s["client"], s["date"], s["session"]) for s in data["sheets"]]
    assert sheets == [("C-104", "2026-11-23", 4), ("M-221", "2026-11-23", 1)]  # in time order
    assert [(a["summary"], a["client"]) for a in data["skipped"]] == [("Team lunch", None), ("R-307", "R-307")]
    text = pdf_text(out)
    assert "C-104" in text and "M-221" in text and "R-307" not in text
    r = cli("print", "--calendar", ics, "--date", "2026-11-23", "--out", tmp_path / "again.pdf")
    assert r.code == 0, r.err
    assert "Skipped 2026-11-23 12:00 'Team lunch': no client code." in r.out
    assert "Skipped 2026-11-23 16:00 'R-307': cancelled." in r.out


def test_recurring_events_are_expanded_with_exceptions(vault_dir, cli, ics, tmp_path):
    data = printed(cli, "--calendar", ics, "--from", "2026-11-02", "--to", "2026-12-04", "--out", tmp_path / "w.pdf")
    c104 = [s["date"] for s in data["sheets"] if s["client"] == "C-104"]
    # Weekly from 2 November, 16 November left out, 30 November moved to 1 December.
    assert c104 == ["2026-11-02", "2026-11-09", "2026-11-23", "2026-12-01"]
    assert [s["session"] for s in data["sheets"] if s["client"] == "C-104"] == [1, 2, 3, 4]
    assert sum(s["pages"] for s in data["sheets"]) == 2 * len(data["sheets"])


def test_blank_unknown_prints_a_blank_sheet_for_events_without_a_code(vault_dir, cli, ics, tmp_path):
    data = printed(cli, "--calendar", ics, "--date", "2026-11-23", "--blank-unknown", "--out", tmp_path / "b.pdf")
    assert [s["client"] for s in data["sheets"]] == ["C-104", None, "M-221"]
    assert [a["summary"] for a in data["skipped"]] == ["R-307"]  # cancelled: never printed


def test_client_pattern_is_configurable(vault_dir, cli, ics, tmp_path):
    data = printed(cli, "--calendar", ics, "--date", "2026-11-23", "--client-pattern", r"Intake (\S+)",
                   "--out", tmp_path / "p.pdf")
    assert [s["client"] for s in data["sheets"]] == ["M-221"]
    r = cli("print", "--calendar", ics, "--client-pattern", "([", "--out", tmp_path / "x.pdf")
    assert r.code == 2 and "not a regular expression" in r.err


@pytest.mark.parametrize("content", [b"", b"not a calendar at all\n", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
                                     b"\xff\xfe\x00garbage", b"BEGIN:VEVENT\r\nEND:VEVENT\r\n"])
def test_a_bad_calendar_is_one_sentence_and_exit_4(vault_dir, cli, tmp_path, content):
    bad = tmp_path / "bad.ics"
    bad.write_bytes(content)
    out = tmp_path / "never.pdf"
    r = cli("print", "--calendar", bad, "--date", "2026-11-23", "--out", out)
    assert r.code == 4, (r.code, r.err)
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert not out.exists()
    assert json.loads(cli("sessions", "--json").out)["sessions"] == []


def test_a_day_without_client_appointments_prints_nothing(vault_dir, cli, ics, tmp_path):
    r = cli("print", "--calendar", ics, "--date", "2026-11-24", "--out", tmp_path / "none.pdf")
    assert r.code == 4 and "no appointment with a client code" in r.err
    assert cli("print", "--calendar", ics, "--date", "2026-11-23", "--from", "2026-11-23",
               "--out", tmp_path / "x.pdf").code == 2
    assert cli("print", "--calendar", tmp_path / "missing.ics", "--out", tmp_path / "x.pdf").code == 4


def test_a_calendar_that_is_a_fifo_is_refused_without_waiting(vault_dir, cli, tmp_path):
    import os

    fifo = tmp_path / "week.ics"
    os.mkfifo(fifo)
    r = cli("print", "--calendar", fifo, "--date", "2026-11-23", "--out", tmp_path / "x.pdf")
    assert r.code == 4 and "named pipe" in r.err, (r.code, r.err)
    assert not (tmp_path / "x.pdf").exists()
