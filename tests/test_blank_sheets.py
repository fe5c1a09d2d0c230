"""Blank sheets (SPEC 3): printed with no client, header written by hand, client chosen in review.

Recognition of the header only suggests: nothing is assigned until the
clinician submits the form, and the sheet then carries the client they chose.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import tools.synth as synth
from test_web import BASE, app, clock, csrf, login  # noqa: F401 -- fixtures

HEADER = {"client": "K-12", "date": "2026-11-27", "session": "4"}


def print_blank(cli, tmp_path, count: int = 1) -> list[str]:
    r = cli("print", "session", "--blank", "--count", count, "--out", tmp_path / "blank.pdf", "--json")
    assert r.code == 0, r.err
    sheets = json.loads(r.out)["sheets"]
    assert all(s["client"] is None for s in sheets)
    return [s["sheet_id"] for s in sheets]


def print_for(cli, tmp_path, client: str) -> str:
    r = cli("print", "session", "--client", client, "--date", "2026-11-20", "--session", "3",
            "--out", tmp_path / f"{client}.pdf", "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)["sheets"][0]["sheet_id"]


@pytest.fixture
def ingested(vault, cli, tmp_path):
    """One blank sheet with a handwritten header and one printed sheet, scanned and ingested."""
    from forms.render import SheetSpec

    blank_id = print_blank(cli, tmp_path)[0]
    printed_id = print_for(cli, tmp_path, "R-7")
    sheets = [SheetSpec(blank_id, "session"),
              SheetSpec(printed_id, "session", client="R-7", date="2026-11-20", session=3)]
    pdf, _expected = synth.make_batch(sheets, np.random.default_rng(12), blank_pages=0, headers={blank_id: HEADER},
                                      out_path=tmp_path / "scan.pdf")
    r = cli("ingest", "--json", tmp_path / "scan.pdf")
    assert r.code == 0, r.err
    assert json.loads(r.out)["identified"] == 4
    session = vault.db.execute("SELECT id FROM sheets WHERE sheet_id = ?", [blank_id]).fetchone()[0]
    return {"sheet_id": blank_id, "session": session, "printed": printed_id}


def test_ingest_keeps_the_header_of_a_blank_sheet_only(vault, ingested):
    from scanner.vault import store

    header = store.sheet_header(vault, ingested["sheet_id"])
    assert header is not None
    assert vault.get_file(header["crop_file"])[:4] == b"\x89PNG"  # stored encrypted, decrypts to the crop
    guess = header["guess"]
    assert set(guess) >= {"client", "date", "session"}
    assert guess["date"] is None or len(guess["date"]) == 10
    assert store.sheet_header(vault, ingested["printed"]) is None  # a printed sheet's header is not kept
    # Recognition decided nothing: the sheet still has no client.
    sheet = store.get_sheet(vault, ingested["sheet_id"])
    assert sheet["client"] is None and sheet["date"] is None
    waiting = store.blank_sheets(vault)
    assert [b["sheet_id"] for b in waiting] == [ingested["sheet_id"]] and waiting[0]["has_header"]


def test_the_header_guess_reads_a_clear_hand(vault, ingested):
    """Not a promise about every hand: the digits model reads the synthetic date and number."""
    from scanner.vault import store

    guess = store.sheet_header(vault, ingested["sheet_id"])["guess"]
    assert guess["date"] == HEADER["date"]
    assert guess["session"] == HEADER["session"]


def test_review_assigns_the_client_and_the_note_carries_it(app, vault, ingested, cli, tmp_path):
    from scanner.vault import store

    session = ingested["session"]
    client = login(app)
    queue = client.get("/", base_url=BASE).get_data(as_text=True)
    assert 'id="blank-sheets"' in queue and f"/sheet/{session}/header.png" in queue
    page = client.get(f"/sheet/{session}/client", base_url=BASE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert f'/sheet/{session}/header.png' in html and 'id="header-guess"' in html
    assert '<option value="R-7"' in html  # existing clients are offered
    assert "style=" not in html and "<script>" not in html
    assert 'id="needs-client"' in client.get(f"/session/{session}", base_url=BASE).get_data(as_text=True)
    image = client.get(f"/sheet/{session}/header.png", base_url=BASE)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"
    assert image.headers["Cache-Control"] == "no-store"
    assert app.test_client().get(f"/sheet/{session}/header.png", base_url=BASE).status_code == 403

    form = {"new_client": "K-12", "date": "2026-11-27", "session_number": "4"}
    assert client.post(f"/sheet/{session}/client", data=form, base_url=BASE).status_code == 403  # no CSRF token
    for bad, words in (({"new_client": "Jane Doe"}, "not a client code"), ({"date": "27/11/2026"}, "YYYY-MM-DD"),
                       ({"new_client": "", "client": ""}, "Choose the client"),
                       ({"client": "R-7"}, "not both"), ({"session_number": "0"}, "session number")):
        r = client.post(f"/sheet/{session}/client", data={**form, **bad, "csrf_token": csrf(app)}, base_url=BASE)
        assert r.status_code == 400 and words in r.get_data(as_text=True), bad
        assert store.get_sheet(vault, session)["client"] is None
    r = client.post(f"/sheet/{session}/client", data={**form, "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/session/{session}?msg=client-assigned")
    sheet = store.get_sheet(vault, session)
    assert (sheet["client"], sheet["date"], sheet["session_number"]) == ("K-12", "2026-11-27", 4)
    assert "K-12" in store.list_clients(vault)
    assert store.blank_sheets(vault) == []
    after = client.get(f"/session/{session}?msg=client-assigned", base_url=BASE).get_data(as_text=True)
    assert 'id="needs-client"' not in after and "K-12" in after and "now belongs to the client" in after
    assert 'id="blank-sheets"' not in client.get("/", base_url=BASE).get_data(as_text=True)

    # Confirm the progress fields as read, then the note names the client chosen in review.
    for f in store.show_session(vault, session)["fields"]:
        if f["privacy"] == "progress":
            store.confirm_field(vault, session, f["key"])
    out = tmp_path / "note.json"
    r = cli("note", str(session), "--format", "soap", "--out", out)
    assert r.code == 0, r.err
    note = json.loads(out.read_text())
    assert note["client"] == "K-12" and note["date"] == "2026-11-27"
    shown = json.loads(cli("show", str(session), "--json").out)
    assert shown["client"] == "K-12"


def test_assign_sheet_checks_and_keeps_a_trail(vault):
    from scanner.vault import store
    from scanner.errors import BadInput

    store.register_sheet(vault, sheet_id="PRNT0001", template="session", template_version=1, page_size="letter",
                         client="K-12", date="2026-11-01", session_number=1)
    blank = store.register_sheet(vault, sheet_id="BLNK0001", template="session", template_version=1,
                                 page_size="letter", client=None, date=None, session_number=None)
    with pytest.raises(BadInput, match="printed for client"):
        store.assign_sheet(vault, "PRNT0001", "M-3", "2026-11-02", None)
    with pytest.raises(BadInput, match="not a date"):
        store.assign_sheet(vault, "BLNK0001", "K-12", "2026-02-30", None)
    with pytest.raises(BadInput, match="not a client code"):
        store.assign_sheet(vault, "BLNK0001", "K 12\n", "2026-11-02", None)
    with pytest.raises(BadInput, match="already has a session 1") as taken:
        store.assign_sheet(vault, "BLNK0001", "K-12", "2026-11-02", "1")  # CLIENT/N would name two sheets
    assert "leave it empty" in taken.value.message
    assert store.get_sheet(vault, "BLNK0001")["client"] is None
    # The existing client's spelling wins over a different case.
    done = store.assign_sheet(vault, "BLNK0001", "k-12", "2026-11-02", "2")
    assert done == {"session": blank, "sheet_id": "BLNK0001", "client": "K-12", "date": "2026-11-02",
                    "session_number": 2}
    corrected = store.assign_sheet(vault, "BLNK0001", "M-3", "2026-11-03", "")  # a correction
    assert corrected["session_number"] == 1, "left empty: the client's next number"
    rows = vault.db.execute("SELECT client, previous FROM sheet_assignments ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["K-12", "M-3"]
    assert rows[0][1] is None and json.loads(rows[1][1])["client"] == "K-12"
    assert store.list_clients(vault) == ["K-12", "M-3"]
    again = store.register_sheet(vault, sheet_id="BLNK0002", template="session", template_version=1,
                                 page_size="letter", client=None, date=None, session_number=None)
    assert store.assign_sheet(vault, "BLNK0002", "K-12", "2026-11-09", None)["session_number"] == 2
    assert store.get_sheet(vault, "K-12/2")["id"] == again
    # A correction that keeps the sheet's own number is not a clash with itself.
    assert store.assign_sheet(vault, "BLNK0002", "K-12", "2026-11-10", "2")["session_number"] == 2


def test_the_reader_reads_only_the_headers_it_is_told_to():
    from forms.render import SheetSpec
    from scanner.ingest.pipeline import build_registry
    from scanner.ingest.read import Reader

    gray, _expected = synth.make_sheet_page("session", SheetSpec("BLNK0002", "session"), 1, None,
                                            np.random.default_rng(3), header=HEADER)
    registry, codes = build_registry()
    told = Reader(registry, {}, codes, blank_sheets=frozenset({"BLNK0002"})).process("scan", "0" * 64, 0, gray)
    assert told.status == "identified" and told.header_png[:4] == b"\x89PNG" and "date" in told.header_guess
    other = Reader(registry, {}, codes, blank_sheets=frozenset({"ZZZZ9999"})).process("scan", "0" * 64, 0, gray)
    assert other.status == "identified" and other.header_png == b"" and other.header_guess == {}
    assert [f.value for f in other.fields] == [f.value for f in told.fields]


@pytest.mark.parametrize("digits, order, want", [
    ("11272026", "MDY", "2026-11-27"), ("27112026", "DMY", "2026-11-27"), ("20261127", "YMD", "2026-11-27"),
    ("02302026", "MDY", None), ("1127202", "MDY", None), ("", "MDY", None),
])
def test_header_date_follows_the_printed_order(digits, order, want):
    from scanner.ingest.read import _header_date

    assert _header_date(digits, order) == want


def test_closest_clients_suggest_without_choosing():
    from scanner.review.web.blanks import closest_clients

    close = closest_clients("K-I2", ["A-1", "K-12", "K-13", "ZZZ-999"])
    assert close[0] == "K-12" and "ZZZ-999" not in close
    assert closest_clients("", ["K-12"]) == [] and closest_clients("K-12", []) == []
