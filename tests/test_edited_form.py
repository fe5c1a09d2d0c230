"""A sheet is read only with the layout it was printed with.

A template edited after printing (a field added, boxes moved; version bumped or
not) used to read the old sheets against the new boxes: wrong ticks with full
confidence, words of the private note in a progress field. Each sheet now keeps
the fingerprint of its layout; a page whose form changed since waits as
unmatched, saying why, and is read once the template is put back.
"""

from __future__ import annotations

import json
import subprocess

import pytest

TEMPLATE = """\
name: checkin
code: CHK
version: 1
title: Brief check-in
pages:
  - title: Check-in
    markers: [20, 21, 22, 23]
    fields:
      - {key: attended, group: Session, kind: checkbox, label: Attended,
         privacy: progress, sections: {soap: O, birp: B, dap: D}}
      - {key: contact, group: Session, kind: choice, label: Contact, options: [in person, video, phone],
         privacy: progress, sections: {soap: O, birp: I, dap: D}}
      - {key: goal, group: Notes, kind: line, label: Goal this week,
         privacy: progress, sections: {soap: P, birp: P, dap: P}}
      - {key: private_note, group: Notes, kind: text, lines: 3, label: Private note,
         privacy: private}
"""
ADDED = ("      - {key: first_visit, group: Session, kind: checkbox, label: First visit,\n"
         "         privacy: progress, sections: {soap: O, birp: B, dap: D}}\n")


def edited(text: str) -> str:
    """The template with a field added at the top of the page (every box below it moves)."""
    return text.replace("    fields:\n", "    fields:\n" + ADDED, 1)


@pytest.fixture
def printed(vault_dir, cli, tmp_path):
    """A check-in sheet printed from the vault's own template, and its page scanned (200 dpi)."""
    folder = vault_dir / "templates"
    folder.mkdir()
    (folder / "checkin.yaml").write_text(TEMPLATE, encoding="utf-8")
    run = cli("print", "checkin", "--client", "C-701", "--date", "2026-12-03", "--out", tmp_path / "p.pdf", "--json")
    assert run.code == 0, run.err
    sheet = json.loads(run.out)["sheets"][0]
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", "-singlefile", str(tmp_path / "p.pdf"),
                    str(tmp_path / "scan")], check=True)
    return {"sheet": sheet, "scan": tmp_path / "scan.png", "template": folder / "checkin.yaml"}


def _ingest(cli, scan) -> dict:
    run = cli("ingest", scan, "--json", "--workers", "1")
    assert run.code == 0, run.err
    return json.loads(run.out)


@pytest.mark.parametrize("bump", [False, True])
def test_a_sheet_whose_form_was_edited_since_waits_unmatched_and_is_read_once_put_back(
        printed, cli, vault, bump):
    from scanner.errors import BadInput
    from scanner.ingest.pipeline import reread_unmatched
    from scanner.vault import store

    text = edited(TEMPLATE)
    printed["template"].write_text(text.replace("version: 1", "version: 2") if bump else text, encoding="utf-8")
    summary = _ingest(cli, printed["scan"])
    assert summary["identified"] == 0 and summary["unmatched"] == 1
    sheet_id = printed["sheet"]["sheet_id"]
    [row] = vault.db.execute("SELECT id, reason, guess FROM unmatched WHERE status = 'open'").fetchall()
    assert "earlier form of 'checkin'" in row[1] and sheet_id in row[1]
    assert json.loads(row[2])["sheet_id"] == sheet_id  # review offers the right sheet
    assert store.sheet_pages(vault, sheet_id) == []  # nothing of it read with the wrong boxes
    assert vault.db.execute("SELECT count(*) FROM fields").fetchone()[0] == 0
    # Assigned in review while the edited template is in place: refused, nothing stored.
    dirs = [printed["template"].parent]
    with pytest.raises(BadInput, match="earlier form"):
        reread_unmatched(vault, row[0], sheet_id, 1, extra_template_dirs=dirs)
    assert store.sheet_pages(vault, sheet_id) == []
    # The template put back as printed: the page is read.
    printed["template"].write_text(TEMPLATE, encoding="utf-8")
    reread_unmatched(vault, row[0], sheet_id, 1, extra_template_dirs=dirs)
    assert store.sheet_pages(vault, sheet_id) == [1]
    keys = {r[0] for r in vault.db.execute("SELECT key FROM fields WHERE sheet_id = ?", [sheet_id])}
    assert keys == {"attended", "contact", "goal", "private_note"}


def test_a_retitled_form_is_read_as_before(printed, cli, vault):
    from scanner.vault import store

    # Nothing a box depends on changes (a reworded label can: the label column is as wide as the longest).
    printed["template"].write_text(TEMPLATE.replace("title: Brief check-in", "title: Weekly check-in")
                                   .replace("label: Attended", "label: Came in"), encoding="utf-8")
    summary = _ingest(cli, printed["scan"])
    assert summary["identified"] == 1 and summary["unmatched"] == 0
    assert store.sheet_pages(vault, printed["sheet"]["sheet_id"]) == [1]


def test_printing_again_after_an_edit_is_a_new_sheet_not_a_second_copy(printed, cli, tmp_path):
    printed["template"].write_text(edited(TEMPLATE), encoding="utf-8")
    run = cli("print", "checkin", "--client", "C-701", "--date", "2026-12-03", "--out", tmp_path / "q.pdf", "--json")
    assert run.code == 0, run.err
    again = json.loads(run.out)["sheets"][0]
    assert again["sheet_id"] != printed["sheet"]["sheet_id"] and not again["reprinted"]


def test_a_template_file_ingest_would_not_know_is_refused_at_print(vault_dir, cli, tmp_path):
    outside = tmp_path / "checkin.yaml"
    outside.write_text(TEMPLATE, encoding="utf-8")
    run = cli("print", outside, "--client", "C-701", "--out", tmp_path / "p.pdf")
    assert run.code != 0 and "does not know" in run.err and "templates" in run.err
    assert not (tmp_path / "p.pdf").exists()
    assert json.loads(cli("sessions", "--json").out)["sessions"] == []
    # Copied into the vault's templates, it prints by its name.
    (vault_dir / "templates").mkdir()
    (vault_dir / "templates" / "checkin.yaml").write_text(TEMPLATE, encoding="utf-8")
    assert cli("print", "checkin", "--client", "C-701", "--out", tmp_path / "p.pdf").code == 0


def test_a_page_of_a_form_left_out_as_broken_waits_saying_why(printed, cli, vault):
    printed["template"].write_text(TEMPLATE.replace("code: CHK", "code: chk"), encoding="utf-8")
    run = cli("ingest", printed["scan"], "--json", "--workers", "1")
    assert run.code == 0, run.err
    assert "checkin.yaml" in run.err and "left out" in run.err
    assert json.loads(run.out)["unmatched"] == 1
    [(reason, guess)] = vault.db.execute("SELECT reason, guess FROM unmatched").fetchall()
    assert "no form this vault knows" in reason
    assert json.loads(guess)["sheet_id"] == printed["sheet"]["sheet_id"]  # offered in review once it is fixed


def test_a_form_too_tall_for_the_paper_is_refused_at_print_naming_the_paper_it_fits(vault_dir, cli, tmp_path):
    """It validates (on A4 it fits), but on letter its fields need more height than the page has."""
    folder = vault_dir / "templates"
    folder.mkdir()
    lines = next(n for n in range(8, 40) if _fits(TEMPLATE.replace("lines: 3", f"lines: {n}"), "a4")
                 and not _fits(TEMPLATE.replace("lines: 3", f"lines: {n}"), "letter"))
    (folder / "checkin.yaml").write_text(TEMPLATE.replace("lines: 3", f"lines: {lines}"), encoding="utf-8")
    run = cli("print", "checkin", "--client", "C-701", "--page-size", "letter", "--out", tmp_path / "p.pdf")
    assert run.code == 4, run.err
    assert "letter page" in run.err and "--page-size a4" in run.err and "unexpected" not in run.err
    assert not (tmp_path / "p.pdf").exists()
    assert json.loads(cli("sessions", "--json").out)["sessions"] == []
    # The list says which paper it fits, before anyone tries to print it.
    listed = cli("forms", "list")
    assert "(a4 paper only)" in next(line for line in listed.out.splitlines() if line.startswith("checkin"))
    assert "paper only" not in next(line for line in listed.out.splitlines() if line.startswith("session"))
    papers = {t["name"]: t["papers"] for t in json.loads(cli("forms", "list", "--json").out)["templates"]}
    assert papers["checkin"] == ["a4"] and set(papers["session"]) == {"letter", "a4"}
    assert cli("print", "checkin", "--client", "C-701", "--page-size", "a4", "--out", tmp_path / "p.pdf").code == 0
    # Ingest knows it on A4, and one form too tall for letter stops no ingest (it stopped every one, exit 4).
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", "-singlefile", str(tmp_path / "p.pdf"),
                    str(tmp_path / "scan")], check=True)
    assert _ingest(cli, tmp_path / "scan.png")["identified"] == 1


def _fits(text: str, paper: str) -> bool:
    from forms import catalog
    from forms.model import template_from_data
    from forms.parsing import parse_text
    from pathlib import Path

    try:
        catalog.laid_out(template_from_data(parse_text(text, Path("t.yaml"))), paper)
        return True
    except catalog.FormUnavailable:
        return False
