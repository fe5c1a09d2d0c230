"""Issue 14: private notes kept as written, risk answers first (store, CLI, web app, search)."""

from __future__ import annotations

import json

import pytest

from scanner.review import risk
from scanner.vault import store
from scanner.vault.search import Searcher
from test_web import BASE, add_session, app, article, clock, field, login, post_json  # noqa: F401  (fixtures)

PRIVATE = ("behavioural_observations", "hypotheses", "unfinished_conversations", "session_tasks", "themes_patterns",
           "progress_setbacks", "therapist_reflections", "countertransference", "supervision_questions",
           "cultural_considerations")
RISKY: dict[str, tuple[object, float, list[str]]] = {"risk_si": ("with_plan", 0.97, []), "safety_plan": (False, 0.97, []),
         "risk_self_harm": ("recent_act", 0.97, []), "affect": (["tearful"], 0.97, [])}


def _confirm_progress(vault, s) -> None:
    for f in store.show_session(vault, s["session"])["fields"]:
        if f["privacy"] == "progress":
            store.confirm_field(vault, s["session"], f["key"])


def _pending(vault, session: int) -> int:
    return next(r["pending"] for r in store.list_sessions(vault) if r["session"] == session)


def _found(vault, query: str) -> set[tuple[int, str]]:
    return {(r["session"], r["field"]) for r in Searcher(vault.db).search(query, None, 50)}


# ---------------------------------------------------------------- keep as written


def test_a_kept_private_field_leaves_the_queue_and_stays_searchable_as_an_unverified_draft(vault):
    s = add_session(vault, reads={"countertransference": ("protective urge toward client", 0.41, ["low_confidence"])})
    _confirm_progress(vault, s)
    assert _pending(vault, s["session"]) == len(PRIVATE)
    done = store.keep_field(vault, s["session"], "countertransference")
    assert done["status"] == "kept"
    f = field(vault, s["session"], "countertransference")
    assert f["status"] == "kept" and f["confirmed_value"] is None
    assert f["value"] == "protective urge toward client" and f["crop_file"]
    assert _pending(vault, s["session"]) == len(PRIVATE) - 1
    hits = Searcher(vault.db).search("protective", {}, 10)
    assert [r["status"] for r in hits if r["field"] == "countertransference"] == ["draft"]

    kept = store.keep_private(vault, s["session"])
    assert sorted(kept["kept"]) == sorted(k for k in PRIVATE if k != "countertransference") and kept["empty"] == []
    assert _pending(vault, s["session"]) == 0
    assert s["session"] not in [r["session"] for r in store.list_sessions(vault, pending=True)]
    assert store.keep_private(vault, s["session"]) == {"kept": [], "empty": []}  # nothing left to keep

    # Transcribed later: a confirmation ends the keeping; a reopening makes it wait again.
    store.confirm_field(vault, s["session"], "countertransference", value="protective urge toward client")
    assert field(vault, s["session"], "countertransference")["status"] == "confirmed"
    store.reopen_field(vault, s["session"], "countertransference")
    assert field(vault, s["session"], "countertransference")["status"] == "pending"
    assert _pending(vault, s["session"]) == 1


def test_keeping_all_private_notes_confirms_the_empty_ones_empty(vault):
    """Kept, an empty note would send the next sheet to handwriting that is not there."""
    s = add_session(vault, reads={"hypotheses": ("", 0.95, ["empty"]), "session_tasks": ("", 0.95, ["empty"])})
    done = store.keep_private(vault, s["session"])
    assert sorted(done["empty"]) == ["hypotheses", "session_tasks"]
    assert sorted(done["kept"]) == sorted(k for k in PRIVATE if k not in ("hypotheses", "session_tasks"))
    for key in ("hypotheses", "session_tasks"):
        f = field(vault, s["session"], key)
        assert f["status"] == "confirmed" and f["confirmed_value"] == ""


def test_only_a_private_written_field_can_be_kept(vault):
    from scanner.errors import Refused

    s = add_session(vault)
    with pytest.raises(Refused, match="progress field"):
        store.keep_field(vault, s["session"], "focus")
    store.confirm_field(vault, s["session"], "hypotheses")
    with pytest.raises(Refused, match="already confirmed"):
        store.keep_field(vault, s["session"], "hypotheses")
    assert field(vault, s["session"], "focus")["status"] == "pending"


def test_cli_as_written_and_keep_private(cli, vault):
    s = add_session(vault)
    vault.close()
    r = cli("confirm", str(s["session"]), "plan", "--as-written")
    assert r.code == 3 and "progress field" in r.err and "Traceback" not in r.err
    r = cli("confirm", str(s["session"]), "hypotheses", "--as-written")
    assert r.code == 0, r.err
    assert "kept as written" in r.out
    r = cli("show", str(s["session"]), "--json")
    statuses = {f["key"]: f["status"] for f in json.loads(r.out)["fields"]}
    assert statuses["hypotheses"] == "kept" and statuses["plan"] == "pending"
    r = cli("confirm", str(s["session"]), "--keep-private")
    assert r.code == 0 and "9 private field(s) kept" in r.out
    r = cli("sessions", "--json")
    row = json.loads(r.out)["sessions"][0]
    assert row["pending"] == 22 and row["kept"] == 10
    r = cli("confirm", str(s["session"]))
    assert r.code == 2 and "Name the field" in r.err
    r = cli("confirm", str(s["session"]), "plan", "--as-written", "--value", "x")
    assert r.code == 2


# ---------------------------------------------------------------- risk


def test_risk_words_for_sessions_json(cli, vault):
    s = add_session(vault, reads=RISKY)
    calm = add_session(vault, client="Z9")
    vault.close()
    rows = {r["session"]: r for r in json.loads(cli("sessions", "--json").out)["sessions"]}
    assert rows[s["session"]]["risk"] == ["suicidal ideation: with plan", "self-harm: recent act",
                                          "safety plan: not reviewed"]
    assert rows[calm["session"]]["risk"] == []
    table = cli("sessions").out
    assert f"Risk, session {s['session']}: suicidal ideation: with plan;" in " ".join(table.split())
    assert f"Risk, session {calm['session']}" not in table


def test_risk_of_the_group_form_and_of_a_confirmed_answer(vault):
    g = add_session(vault, template="group", reads={"risk": (["none", "self-harm"], 0.97, [])})
    assert risk.session_risk(vault, g["session"]) == ["self-harm"]
    s = add_session(vault)
    assert risk.session_risk(vault, s["session"]) == []
    store.confirm_field(vault, s["session"], "risk_hi", value="passive")  # the confirmed answer counts
    assert risk.session_risk(vault, s["session"]) == ["homicidal ideation: passive"]


def test_risk_answers_are_a_closer_look_first_with_a_badge_and_never_confirmed_in_bulk(app, vault):
    s = add_session(vault, reads=RISKY)
    client = login(app)
    page = client.get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    assert 'id="risk-badge"' in page and "suicidal ideation: with plan" in page
    attention = page[page.index('data-section="attention"'):page.index("</section>", page.index('data-section="attention"'))]
    for key in ("risk_si", "risk_self_harm", "safety_plan"):
        assert f'id="f-{key}"' in attention
        assert "data-risk" in article(page, key)
    assert "data-risk" not in article(page, "risk_hi")  # "none" is not a risk answer
    queue = client.get("/", base_url=BASE).get_data(as_text=True)
    assert "pill-risk" in queue and "suicidal ideation: with plan" in queue

    # The bulk endpoint refuses a risk answer, and confirms nothing of the batch.
    r = post_json(client, app, f"/session/{s['session']}/confirm-many",
                  {"fields": [{"key": "mood_rating", "typed": "5"}, {"key": "risk_si", "typed": "with_plan"}]})
    assert r.status_code == 400 and "risk answer" in r.get_json()["error"]
    assert field(vault, s["session"], "mood_rating")["status"] == "pending"
    assert field(vault, s["session"], "risk_si")["status"] == "pending"
    r = post_json(client, app, f"/session/{s['session']}/field/risk_si/confirm", {"typed": "with_plan"})
    assert r.status_code == 200  # one by one it is confirmed


def test_a_risk_question_left_unanswered_is_a_closer_look_and_never_confirmed_in_bulk(app, vault):
    """A skipped suicide question read as "no answer" at 0.99 is not a "none": it is looked at one by one."""
    s = add_session(vault, reads={"risk_si": (None, 0.99, ["empty"])})
    client = login(app)
    page = client.get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    attention = page[page.index('data-section="attention"'):page.index("</section>", page.index('data-section="attention"'))]
    assert 'id="f-risk_si"' in attention and "data-risk" in article(page, "risk_si")
    assert "data-risk" not in article(page, "risk_hi")  # answered "none": as before
    r = post_json(client, app, f"/session/{s['session']}/confirm-many", {"fields": [{"key": "risk_si", "typed": ""}]})
    assert r.status_code == 400 and "risk answer" in r.get_json()["error"]
    assert field(vault, s["session"], "risk_si")["status"] == "pending"


def test_a_reopened_field_offers_back_the_clinicians_answer_not_the_old_reading(app, vault):
    """Reopening to change a correction starts from that correction (the dialog says its value goes back to waiting)."""
    s = add_session(vault, reads={"attendance": ("late", 0.97, [])})
    client = login(app)
    base = f"/session/{s['session']}"
    assert post_json(client, app, f"{base}/field/attendance/confirm", {"typed": "attended"}).json["ok"]
    assert post_json(client, app, f"{base}/field/attendance/reopen", {}).status_code == 200
    row = article(client.get(base, base_url=BASE).get_data(as_text=True), "attendance")
    assert 'value="attended" checked' in row and 'value="late" checked' not in row
    assert "your earlier answer" in row
    shown = {f["key"]: f for f in store.show_session(vault, s["session"])["fields"]}["attendance"]
    assert shown["reopened"] and shown["reopened_value"] == "attended" and shown["value"] == "late"
    # Confirmed again, it is an ordinary confirmed field; a field never reopened is not marked.
    assert post_json(client, app, f"{base}/field/attendance/confirm", {"typed": "attended"}).json["ok"]
    again = {f["key"]: f for f in store.show_session(vault, s["session"])["fields"]}
    assert not again["attendance"]["reopened"] and not again["focus"]["reopened"]


def test_a_no_show_on_a_sheet_with_session_content_is_a_closer_look(app, vault):
    """Attendance read as "no-show" beside a length, a mood and a focus: one of them is wrong; review says so."""
    s = add_session(vault, reads={"attendance": ("no-show", 0.99, [])})
    client = login(app)
    page = client.get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    attention = page[page.index('data-section="attention"'):page.index("</section>", page.index('data-section="attention"'))]
    assert 'id="f-attendance"' in attention and "session content" in article(page, "attendance")


def test_a_no_show_with_only_a_risk_screen_and_a_plan_is_no_conflict():
    from forms.model import get_template
    from scanner.notes import progress as notes

    fields = get_template("session").fields
    empty = {f.key: None for f in fields}
    called = dict(empty, attendance="no-show", session_format="phone", risk_si="passive", plan="call to rebook")
    assert notes.conflicting_attendance(fields, called) is None  # a call in place of the session
    assert notes.conflicting_attendance(fields, dict(called, session_length="38-52")) == "attendance"
    assert notes.conflicting_attendance(fields, dict(called, mood=["anxious"])) == "attendance"
    assert notes.conflicting_attendance(fields, dict(called, attendance="attended", mood=["anxious"])) is None


def test_a_range_flagged_value_is_refused_in_bulk(app, vault):
    s = add_session(vault, reads={"phq9": ("19", 0.9, ["range_corrected"])})
    client = login(app)
    page = client.get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    assert "data-check" in article(page, "phq9")
    r = post_json(client, app, f"/session/{s['session']}/confirm-many", {"fields": [{"key": "phq9", "typed": "19"}]})
    assert r.status_code == 400 and "range check" in r.get_json()["error"]
    assert field(vault, s["session"], "phq9")["status"] == "pending"


def test_keep_endpoints(app, vault):
    s = add_session(vault)
    client = login(app)
    r = post_json(client, app, f"/session/{s['session']}/field/focus/keep", {})
    assert r.status_code == 400 and "progress field" in r.get_json()["error"]
    r = post_json(client, app, f"/session/{s['session']}/field/hypotheses/keep", {})
    assert r.status_code == 200 and r.get_json()["pending"] == 31
    r = post_json(client, app, f"/session/{s['session']}/keep-private", {})
    assert r.status_code == 200 and len(r.get_json()["kept"]) == 9 and r.get_json()["pending"] == 22
    r = post_json(client, app, f"/session/{s['session']}/keep-private", {}, token=None)
    assert r.status_code in (400, 403)  # CSRF applies to the new endpoints too
    page = client.get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    assert "Kept as written" in article(page, "hypotheses")


def test_ticked_answers_are_found_by_their_label_words(vault):
    s = add_session(vault, reads=RISKY)
    calm = add_session(vault, client="Z9")  # risk screen all "none"
    assert (s["session"], "risk_si") in _found(vault, "suicidal")
    assert (s["session"], "risk_self_harm") in _found(vault, "self-harm")
    assert (s["session"], "affect") in _found(vault, "tearful")
    found = _found(vault, "suicidal") | _found(vault, "homicidal") | _found(vault, "self-harm")
    assert not {k for k in found if k[0] == calm["session"]}  # a "none" answer is not found by the risk's name
    # A reindex rebuilds the same.
    from scanner.vault.search import reindex

    reindex(vault.db)
    assert (s["session"], "risk_si") in _found(vault, "suicidal")


def test_label_rows_skip_none_and_name_checkboxes():
    from forms.model import get_template

    rows = store.label_rows(get_template("session"))
    by = {(k, v): w for _t, k, v, w in rows}
    assert ("risk_si", "none") not in by
    assert by[("risk_si", "with_plan")] == "Suicidal ideation with plan"
    assert by[("safety_plan", "yes")] == "Safety plan"


# ---------------------------------------------------------------- the next sheet


def _pdf_text(path, page: int = 1) -> str:
    import subprocess

    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return " ".join(out.split())


def test_the_next_sheet_prints_the_last_confirmed_risk_screen_and_how_to_mark(vault, tmp_path):
    from scanner.notes.printing import SheetRequest, print_packet

    s = add_session(vault, client="K-1", date="2026-11-20", reads=RISKY)
    out = tmp_path / "next.pdf"
    print_packet(vault, [SheetRequest("session", "K-1", "2026-11-27", None)], out, "letter")
    text = _pdf_text(out)
    assert "Last session" not in text  # a draft risk screen is not carried
    assert "To cancel a mark: scribble its box out completely" in text
    for key in ("risk_si", "risk_hi", "risk_self_harm", "safety_plan"):
        store.confirm_field(vault, s["session"], key)
    print_packet(vault, [SheetRequest("session", "K-1", "2026-11-27", None)], out, "letter")
    text = _pdf_text(out)
    assert ("Last session (2026-11-20): suicidal ideation: with plan; self-harm: recent act; "
            "safety plan: not reviewed.") in text
    # An earlier date sees nothing later; a calm last session says so.
    print_packet(vault, [SheetRequest("session", "K-1", "2026-11-19", None)], out, "letter")
    assert "Last session" not in _pdf_text(out)
    calm = add_session(vault, client="K-1", date="2026-11-25")
    for key in ("risk_si", "risk_hi", "risk_self_harm", "safety_plan"):
        store.confirm_field(vault, calm["session"], key)
    print_packet(vault, [SheetRequest("session", "K-1", "2026-11-27", None)], out, "letter")
    assert "Last session (2026-11-25): no risk answers." in _pdf_text(out)
