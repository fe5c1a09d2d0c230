"""Carry-forward: a new sheet prints the client's last confirmed open items, with their date.

Sessions are stored through ``scanner.vault.store`` from synthetic reads (no scan),
the packet is printed with ``scanner.notes.printing.print_packet`` and read back
with poppler's ``pdftotext``, per page.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import pytest

from forms.model import get_template
from forms.payload import new_sheet_id
from scanner.notes import printing
from scanner.vault import store
from scanner.ingest.read import FieldRead, PageResult
from tests.helpers import empty_value

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")

TINY_PNG = cv2.imencode(".png", np.full((4, 4), 255, np.uint8))[1].tobytes()


def add_sheet(vault, values: dict[str, Any], *, client: str = "C017", date: str = "2026-01-05", number: int = 1,
              template: str = "session", confirm: Iterable[str] | str = "all") -> int:
    """Register a sheet, store a read of each page (``values``, else empty) and confirm ``confirm`` ("all" or keys).

    Returns the session number. Unconfirmed fields stay pending with their read value.
    """
    t = get_template(template)
    sheet_id = new_sheet_id()
    session = store.register_sheet(vault, sheet_id=sheet_id, template=t.name, template_version=t.version,
                                   page_size="letter", client=client, date=date, session_number=number)
    for page in t.pages:
        assert page.number is not None
        reads = [FieldRead(f.key, f.kind, f.privacy, page.number, values.get(f.key, empty_value(f)), 0.9, [], TINY_PNG)
                 for f in page.fields]
        store.save_page(vault, PageResult("identified", "synthetic.pdf", secrets.token_hex(32), page.number - 1,
                                          template=t.name, page=page.number, page_size="letter", sheet_id=sheet_id,
                                          image_jpeg=TINY_PNG, fields=reads))
    keys = [f.key for f in t.fields] if confirm == "all" else list(confirm)
    for key in keys:
        store.confirm_field(vault, session, key, value=values.get(key, empty_value(t.field(key))))
    return session


def print_sheet(vault, tmp_path: Path, date: str, client: str = "C017", template: str = "session") -> list[str]:
    """Print one sheet for the client on ``date``; returns the text of each page, whitespace collapsed."""
    out = tmp_path / f"sheet-{client}-{date}-{secrets.token_hex(3)}.pdf"
    printing.print_packet(vault, [printing.SheetRequest(template, client, date, None)], out, "letter")
    pages = []
    for number in range(1, len(get_template(template).pages) + 1):
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(out), "-"],
                              check=True, capture_output=True, text=True).stdout
        pages.append(" ".join(text.split()))
    return pages


OPEN_ITEMS = {
    "unfinished_conversations": "Ask about the brother visit",
    "session_tasks": "Find the sleep leaflet",
    "plan": "Thought record daily",
}


def test_second_sheet_shows_the_first_sessions_confirmed_open_items(vault, tmp_path):
    add_sheet(vault, {**OPEN_ITEMS, "focus": "Work stress"}, date="2026-01-05")
    progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-12")
    assert "From last time (Mon 05 Jan 2026): Thought record daily" in progress_page
    assert "From last time (Mon 05 Jan 2026): Ask about the brother visit" in private_page
    assert "From last time (Mon 05 Jan 2026): Find the sleep leaflet" in private_page
    # Only carry-forward fields travel, and a private item prints only on the private page.
    assert "Work stress" not in progress_page + private_page
    assert "brother" not in progress_page and "leaflet" not in progress_page


def test_the_print_command_carries_forward_too(vault, cli, tmp_path):
    add_sheet(vault, OPEN_ITEMS, date="2026-01-05")
    out = tmp_path / "next.pdf"
    result = cli("print", "session", "--client", "C017", "--date", "2026-01-12", "--out", out)
    assert result.code == 0, result.err
    text = " ".join(subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout.split())
    assert "From last time (Mon 05 Jan 2026): Ask about the brother visit" in text


def test_an_unconfirmed_value_is_not_carried(vault, tmp_path):
    add_sheet(vault, {"plan": "Older confirmed plan"}, date="2026-01-05")
    # The next session is scanned but not confirmed: its reads are drafts.
    add_sheet(vault, {"plan": "Draft plan words", "session_tasks": "Draft task words"}, date="2026-01-12", number=2,
              confirm=["attendance"])
    progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-19")
    assert "Draft" not in progress_page + private_page
    # The field's last confirmed answer prints, with the date it came from.
    assert "From last time (Mon 05 Jan 2026): Older confirmed plan" in progress_page
    assert "Session-related tasks" in private_page and "Draft task" not in private_page


def test_printing_ahead_says_the_last_session_is_not_reviewed_yet_not_nothing_recorded(vault, tmp_path):
    """Sheets printed for the coming weeks: the first session has not been held, let alone reviewed."""
    add_sheet(vault, {"plan": "Draft plan words"}, date="2026-01-12", confirm=[])
    progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-19")
    assert "From last time (Mon 12 Jan 2026): not reviewed yet" in progress_page
    assert "nothing recorded" not in progress_page + private_page and "Draft" not in progress_page + private_page


def test_a_private_item_kept_as_handwritten_is_pointed_to_not_read_onto_paper(vault, tmp_path):
    """Kept as written, the answer is on last time's sheet: the next one says so (not "nothing recorded")
    and prints none of its unverified reading."""
    add_sheet(vault, {"session_tasks": "Older confirmed task"}, date="2026-01-05")
    session = add_sheet(vault, {"session_tasks": "Draft reading of the task"}, date="2026-01-12", number=2,
                        confirm=["attendance"])
    store.keep_field(vault, session, "session_tasks")
    _progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-19")
    assert "From last time (Mon 12 Jan 2026): kept as handwritten on that sheet" in private_page
    assert "Draft reading" not in private_page and "Older confirmed task" not in private_page


def test_the_print_warning_names_private_text_only_when_text_is_printed(vault, cli, tmp_path):
    session = add_sheet(vault, OPEN_ITEMS, date="2026-01-05")
    printed = cli("print", "session", "--client", "C017", "--date", "2026-01-12", "--out", tmp_path / "a.pdf")
    assert "private text onto paper" in " ".join((printed.out + printed.err).split())
    # Kept as handwritten, the next sheet only points to the old one: no private text goes on paper.
    later = add_sheet(vault, OPEN_ITEMS, date="2026-01-12", number=2, confirm=["attendance"])
    for key in ("unfinished_conversations", "session_tasks"):
        store.keep_field(vault, later, key)
    printed = cli("print", "session", "--client", "C017", "--date", "2026-01-19", "--out", tmp_path / "b.pdf")
    assert printed.code == 0, printed.err
    assert "private text" not in " ".join((printed.out + printed.err).split())
    assert session != later


def test_nothing_is_carried_without_an_earlier_session(vault, tmp_path):
    progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-05", client="NEW1")
    assert "From last time: nothing recorded." in progress_page
    assert private_page.count("From last time: nothing recorded.") == 2
    assert "From last time (" not in progress_page + private_page
    # Another client's items never print on this client's sheet.
    add_sheet(vault, OPEN_ITEMS, client="OTHER", date="2026-01-01")
    progress_page, private_page = print_sheet(vault, tmp_path, "2026-01-05", client="NEW1")
    assert "brother" not in private_page and "Thought record" not in progress_page


def test_values_from_a_later_dated_session_are_not_carried_into_an_earlier_date(vault, tmp_path):
    add_sheet(vault, {"plan": "Plan from January"}, date="2026-01-05")
    add_sheet(vault, {"plan": "Plan from March"}, date="2026-03-02", number=2)
    progress_page, _ = print_sheet(vault, tmp_path, "2026-02-02")  # printed later, dated between the two
    assert "From last time (Mon 05 Jan 2026): Plan from January" in progress_page
    assert "March" not in progress_page
    progress_page, _ = print_sheet(vault, tmp_path, "2026-03-09")
    assert "From last time (Mon 02 Mar 2026): Plan from March" in progress_page
    # The same day is not "last time" either.
    progress_page, _ = print_sheet(vault, tmp_path, "2026-01-05")
    assert "From last time: nothing recorded." in progress_page


def test_an_item_closed_last_time_is_not_revived_from_an_older_session(vault, tmp_path):
    add_sheet(vault, {"unfinished_conversations": "Talk about the move"}, date="2026-01-05")
    add_sheet(vault, {"unfinished_conversations": ""}, date="2026-01-12", number=2)  # confirmed empty: closed
    _, private_page = print_sheet(vault, tmp_path, "2026-01-19")
    assert "move" not in private_page


def test_carry_values_uses_option_labels_and_the_source_date(vault):
    add_sheet(vault, {"plan": "  Sleep   diary  "}, date="2026-01-05")
    carried = printing.carry_values(vault, "C017", "2026-01-06", get_template("session"))
    assert carried == {"plan": ("Sleep diary", "2026-01-05")}
    assert printing.carry_values(vault, "C017", "2026-01-05", get_template("session")) == {}


def test_the_lines_of_a_carried_answer_stay_apart(vault):
    add_sheet(vault, {"plan": "call GP\n\n  sleep   diary"}, date="2026-01-05")
    carried = printing.carry_values(vault, "C017", "2026-01-06", get_template("session"))
    assert carried == {"plan": ("call GP / sleep diary", "2026-01-05")}
