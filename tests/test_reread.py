"""Unmatched pages placed in review are read at once from their stored copy (``reread_unmatched``).

The stored copy is a JPEG with a long side of 1700 px (about 150 dpi on
letter): registration from the corner markers and reading work at that size.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import tools.synth as synth
from test_web import BASE, add_unmatched, app, clock, csrf, login  # noqa: F401 -- fixtures
from tests.helpers import paint_over

HEADER = {"client": "K-12", "date": "2026-11-27", "session": "4"}


@pytest.fixture
def scanned(vault, cli, tmp_path):
    """A blank sheet whose page 1 lost its QR code and printed sheet id: page 2 is identified, page 1 waits as unmatched."""
    from forms.render import SheetSpec
    from scanner.vault import store
    from scanner.ingest.pages import PageImage, iter_pages

    sheet_id = "RRD2A7KQ"
    session = store.register_sheet(vault, sheet_id=sheet_id, template="session", template_version=1,
                                   page_size="letter", client=None, date=None, session_number=None)
    _pdf, expected = synth.make_batch([SheetSpec(sheet_id, "session")], np.random.default_rng(21), blank_pages=0,
                                      headers={sheet_id: HEADER}, out_path=tmp_path / "clean.pdf")
    images = {expected[p.index]["page"]: p.image for p in iter_pages([tmp_path / "clean.pdf"])
              if isinstance(p, PageImage)}
    pages = [Image.fromarray(paint_over(images[1])), Image.fromarray(images[2])]
    pages[0].save(tmp_path / "scan.pdf", save_all=True, append_images=pages[1:], resolution=300)
    summary = json.loads(cli("ingest", "--json", tmp_path / "scan.pdf").out)
    assert summary["identified"] == 1 and summary["unmatched"] == 1
    uid = vault.db.execute("SELECT id FROM unmatched WHERE status = 'open'").fetchone()[0]
    values = next(e for e in expected if e["page"] == 1)["values"]
    return {"session": session, "sheet_id": sheet_id, "uid": uid, "values": values}


def assign(client, web, uid: int, session: int, page: int):
    return client.post(f"/unmatched/{uid}/assign", data={"session": session, "page": page,
                                                         "csrf_token": csrf(web)}, base_url=BASE)


def test_assigned_unmatched_page_becomes_the_sheets_page_with_fields(app, vault, scanned):
    from scanner.vault import store
    from scanner.ingest.pipeline import REREAD_FLAG

    client = login(app)
    # The markers say page 1: assigning it as page 2 is refused and changes nothing.
    wrong = assign(client, app, scanned["uid"], scanned["session"], 2)
    assert wrong.status_code == 400 and "show page 1" in wrong.get_data(as_text=True)
    assert vault.db.execute("SELECT status FROM unmatched WHERE id = ?", [scanned["uid"]]).fetchone()[0] == "open"
    assert [p["page"] for p in store.show_session(vault, scanned["session"])["pages"]] == [2]

    r = assign(client, app, scanned["uid"], scanned["session"], 1)
    assert r.status_code == 302 and "msg=assigned-read" in r.headers["Location"]
    status, guess = vault.db.execute("SELECT status, guess FROM unmatched WHERE id = ?", [scanned["uid"]]).fetchone()
    assert status == "assigned" and json.loads(guess)["assigned_sheet_id"] == scanned["sheet_id"]
    shown = store.show_session(vault, scanned["session"])
    page1 = next(p for p in shown["pages"] if p["page"] == 1)
    assert REREAD_FLAG in page1["flags"] and "poor_registration" not in page1["flags"]
    assert page1["registration_error_px"] < 2.0
    assert vault.get_file(page1["image_file"])[:2] == b"\xff\xd8"
    fields = {f["key"]: f for f in shown["fields"] if f["page"] == 1}
    assert set(scanned["values"]) <= set(fields)
    assert all(vault.get_file(f["crop_file"])[:4] == b"\x89PNG" for f in fields.values())
    # Marks read from the 1700 px copy: right, or flagged -- never silently wrong.
    silent_wrong, right, marks = [], 0, 0
    for key, want in scanned["values"].items():
        f = fields[key]
        if f["kind"] in ("checkbox", "choice", "scale"):
            marks += 1
            right += f["value"] == want
            if f["value"] != want and f["confidence"] >= 0.8 and not set(f["flags"]) - {"empty"}:
                silent_wrong.append((key, want, f["value"]))
    assert silent_wrong == []
    assert right >= 0.8 * marks
    # A blank sheet's page 1 brings its handwritten header with it.
    assert store.sheet_header(vault, scanned["sheet_id"]) is not None
    assert f"/unmatched/{scanned['uid']}/thumb.jpg" not in client.get("/", base_url=BASE).get_data(as_text=True)


def test_a_page_without_markers_is_refused_with_a_clear_message(app, vault, scanned):
    from scanner.vault import store
    from scanner.errors import BadInput
    from scanner.ingest.pipeline import reread_unmatched

    uid = add_unmatched(vault)  # a drawn page with no corner markers
    client = login(app)
    r = assign(client, app, uid, scanned["session"], 1)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "no registration markers" in html and 'role="alert"' in html
    assert vault.db.execute("SELECT status FROM unmatched WHERE id = ?", [uid]).fetchone()[0] == "open"
    assert [p["page"] for p in store.show_session(vault, scanned["session"])["pages"]] == [2]
    with pytest.raises(BadInput, match="no registration markers"):
        reread_unmatched(vault, uid, scanned["sheet_id"], 1)


def test_reread_refuses_a_closed_page_and_another_form(vault, scanned):
    from scanner.vault import store
    from scanner.errors import BadInput
    from scanner.ingest.pipeline import reread_unmatched

    store.register_sheet(vault, sheet_id="GRPX4M2Q", template="group", template_version=1, page_size="letter",
                         client="G-1", date="2026-11-27", session_number=1)
    with pytest.raises(BadInput, match="'session'"):
        reread_unmatched(vault, scanned["uid"], "GRPX4M2Q", 1)
    done = reread_unmatched(vault, scanned["uid"], scanned["sheet_id"], 1)
    assert done["status"] == "new" and done["session"] == scanned["session"]
    with pytest.raises(BadInput, match="already assigned"):
        reread_unmatched(vault, scanned["uid"], scanned["sheet_id"], 1)


def test_an_unfilled_page_is_not_assigned_over_a_page_stored_with_answers(vault, cli, scanned, tmp_path):
    from forms.render import SheetSpec
    from scanner.errors import BadInput
    from scanner.ingest.pipeline import reread_unmatched
    from tools.synth import printed_pages

    stored = vault.db.execute("SELECT value, crop_file FROM fields WHERE sheet_id = ? AND page = 2 ORDER BY key",
                              [scanned["sheet_id"]]).fetchall()
    assert any(json.loads(v) not in (None, "", [], False) for v, _c in stored)
    unfilled = printed_pages([SheetSpec(scanned["sheet_id"], "session")], 300)[1]
    Image.fromarray(paint_over(unfilled)).save(tmp_path / "unfilled.pdf", resolution=300)
    assert json.loads(cli("ingest", "--json", tmp_path / "unfilled.pdf").out)["unmatched"] == 1
    uid = vault.db.execute("SELECT MAX(id) FROM unmatched WHERE status = 'open'").fetchone()[0]
    with pytest.raises(BadInput, match="nothing written on it"):
        reread_unmatched(vault, uid, scanned["sheet_id"], 2)
    assert vault.db.execute("SELECT status FROM unmatched WHERE id = ?", [uid]).fetchone()[0] == "open"
    assert vault.db.execute("SELECT value, crop_file FROM fields WHERE sheet_id = ? AND page = 2 ORDER BY key",
                            [scanned["sheet_id"]]).fetchall() == stored
