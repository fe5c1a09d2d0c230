"""Printing a sheet again (a jammed printer or a lost page makes no second session); a sheet printed, not scanned."""

from __future__ import annotations

import json
import subprocess


def _sessions(cli, vault_dir) -> list[dict]:
    run = cli("--vault", vault_dir, "sessions", "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)["sessions"]


def _print(cli, vault_dir, out, *args):
    return cli("--vault", vault_dir, "print", "session", "--client", "C-017", "--date", "2026-12-03",
               *args, "--out", out, "--json")


def test_a_sheet_printed_twice_is_one_session_and_either_copy_fills_it(cli, vault_dir, tmp_path):
    first = _print(cli, vault_dir, tmp_path / "a.pdf")
    again = _print(cli, vault_dir, tmp_path / "b.pdf")
    assert first.code == 0 and again.code == 0, first.err + again.err
    a, b = json.loads(first.out)["sheets"][0], json.loads(again.out)["sheets"][0]
    assert b["sheet_id"] == a["sheet_id"] and b["session"] == a["session"] == 1 and b["reprinted"]
    assert not a["reprinted"]
    assert any("printed again" in w for w in json.loads(again.out)["warnings"])
    # Asking for that session by number prints the same sheet too.
    third = _print(cli, vault_dir, tmp_path / "c.pdf", "--session", "1")
    assert third.code == 0 and json.loads(third.out)["sheets"][0]["sheet_id"] == a["sheet_id"]
    assert len(_sessions(cli, vault_dir)) == 1

    # The packet itself is no scan: refused in one sentence, nothing stored.
    run = cli("--vault", vault_dir, "ingest", tmp_path / "b.pdf", "--json", "--workers", "1")
    assert run.code != 0 and "packet Inklock printed" in " ".join(json.loads(run.out)["problems"])
    assert not _sessions(cli, vault_dir)[0]["pages"]
    # The second copy, scanned, is that session's page.
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", "-f", "1", "-l", "1", str(tmp_path / "b.pdf"),
                    str(tmp_path / "scan")], check=True)
    [scan] = tmp_path.glob("scan*.png")
    run = cli("--vault", vault_dir, "ingest", scan, "--json", "--workers", "1")
    assert run.code == 0, run.err
    [session] = _sessions(cli, vault_dir)
    assert session["sheet_id"] == a["sheet_id"] and session["pages"]

    # Once a page of it has come back, printing that day again is a new session,
    # and its number cannot be asked for again.
    taken = _print(cli, vault_dir, tmp_path / "d.pdf", "--session", "1")
    assert taken.code != 0 and "already has a session 1" in taken.err and not (tmp_path / "d.pdf").exists()
    fresh = _print(cli, vault_dir, tmp_path / "e.pdf")
    assert fresh.code == 0, fresh.err
    sheet = json.loads(fresh.out)["sheets"][0]
    assert sheet["sheet_id"] != a["sheet_id"] and sheet["session"] == 2 and not sheet["reprinted"]
    assert len(_sessions(cli, vault_dir)) == 2


def test_a_session_number_taken_on_another_day_is_refused(cli, vault_dir, tmp_path):
    assert _print(cli, vault_dir, tmp_path / "a.pdf").code == 0
    run = cli("--vault", vault_dir, "print", "session", "--client", "C-017", "--date", "2026-12-05",
              "--session", "1", "--out", tmp_path / "b.pdf")
    assert run.code != 0 and "dated 2026-12-03" in run.err and not (tmp_path / "b.pdf").exists()
    assert len(_sessions(cli, vault_dir)) == 1


def test_a_packet_that_is_not_named_pdf_is_refused(cli, vault_dir, tmp_path):
    run = _print(cli, vault_dir, tmp_path / "today.docx")
    assert run.code == 2 and ".pdf" in run.err and not (tmp_path / "today.docx").exists()
    assert _sessions(cli, vault_dir) == []


def test_a_note_for_a_sheet_not_yet_scanned_says_so_in_one_sentence(cli, vault_dir, tmp_path):
    assert _print(cli, vault_dir, tmp_path / "a.pdf").code == 0
    run = cli("--vault", vault_dir, "note", "1", "--format", "soap", "--out", tmp_path / "note.md")
    assert run.code == 3 and "no scanned page yet" in run.err and run.err.count("\n") == 1
    assert "attendance" not in run.err and not (tmp_path / "note.md").exists()


def test_a_session_is_found_by_the_clients_number_printed_on_the_sheet(cli, vault_dir, tmp_path):
    """CLIENT/N is the client's session N, as the sheet prints it; the vault's own number may differ."""
    assert cli("--vault", vault_dir, "print", "session", "--client", "C-001", "--date", "2026-12-01",
               "--out", tmp_path / "other.pdf").code == 0  # vault session 1, another client
    assert _print(cli, vault_dir, tmp_path / "a.pdf", "--session", "7").code == 0  # vault session 2
    run = cli("--vault", vault_dir, "show", "C-017/7", "--json")
    assert run.code == 0, run.err
    shown = json.loads(run.out)
    assert shown["session"] == 2 and shown["client"] == "C-017" and shown["session_number"] == 7
    missing = cli("--vault", vault_dir, "show", "C-017/8")
    assert missing.code == 4 and "no session 8" in missing.err
