"""Treatment summary: built from confirmed progress fields only, filtered by date, refused cleanly.

Sessions are stored from synthetic reads (``test_carry_forward.add_sheet``);
private fields carry planted marker words that must never reach any output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from forms.model import get_template
from scanner.notes import progress as notes
from scanner.notes import summary
from scanner.errors import ExitCode
from test_carry_forward import add_sheet

# Three confirmed individual sessions (synthetic), oldest first.
VISITS = [
    ("2026-01-05", {"attendance": "attended", "mood_rating": 3, "phq9": "18", "interventions": ["cbt", "mi"],
                    "focus": "Work stress and sleep", "homework_status": "none_set", "plan": "Sleep diary",
                    "risk_si": "passive", "safety_plan": True}),
    ("2026-01-19", {"attendance": "late", "mood_rating": 5, "phq9": "14", "interventions": ["cbt"],
                    "focus": "Sleep w/ new routine", "homework_status": "partly", "plan": "Thought record daily",
                    "risk_si": "none"}),
    ("2026-02-02", {"attendance": "attended", "mood_rating": 7, "phq9": "9", "interventions": ["cbt", "mindfulness"],
                    "focus": "Return to work", "homework_status": "done", "plan": "Review in four weeks",
                    "risk_si": "none"}),
]
PRIVATE_MARK = "ZEBRAQUARTZ"


def private_values(i: int) -> dict[str, str]:
    """A marker word in every private field, different per session and field."""
    return {f.key: f"{PRIVATE_MARK}{i}{f.key}" for f in get_template("session").fields if f.privacy == "private"}


@pytest.fixture
def visits(vault):
    """The three sessions, every field confirmed (private ones too, holding marker words)."""
    return [add_sheet(vault, {**values, **private_values(i)}, date=date, number=i + 1)
            for i, (date, values) in enumerate(VISITS)]


@pytest.fixture
def summary_cli(cli, monkeypatch):
    """The in-process CLI with the summary command added to the registered ones."""
    from scanner.cli import main as cli_module
    from scanner.cli import summary as cli_summary

    register = cli_module._register_commands

    def with_summary():
        register()
        cli_module.cli.add_command(cli_summary.summary)

    monkeypatch.setattr(cli_module, "_register_commands", with_summary)
    return cli


def lines(data: dict, role: str) -> list[dict]:
    return next(s for s in data["sections"] if s["role"] == role)["items"]


def item(data: dict, role: str, key: str) -> dict:
    return next(i for i in lines(data, role) if i["key"] == key)


def test_summary_contents_match_the_confirmed_values(vault, visits, tmp_path):
    done = summary.write_summary(vault, "C017", None, None, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert (data["client"], data["first_date"], data["last_date"]) == ("C017", "2026-01-05", "2026-02-02")
    assert len(data["sessions"]) == 3 and data["attended"] == 3 and done.attended == 3
    assert {c["value"]: c["sessions"] for c in data["attendance"]["counts"]} == {"attended": 2, "late": 1}
    interventions = item(data, "interventions", "interventions")
    assert interventions["answered"] == 3
    assert [(c["label"], c["sessions"]) for c in interventions["counts"]] == [("CBT", 3), ("MI", 1),
                                                                               ("mindfulness", 1)]
    mood = item(data, "measures", "mood_rating")
    assert mood["points"] == [["2026-01-05", 3.0], ["2026-01-19", 5.0], ["2026-02-02", 7.0]]
    assert (mood["lo"], mood["hi"]) == (0.0, 10.0)
    phq = item(data, "measures", "phq9")
    assert [v for _, v in phq["points"]] == [18.0, 14.0, 9.0] and phq["hi"] == 27.0
    assert [t for _, t in item(data, "focus", "focus")["entries"]] == [
        "Work stress and sleep", "Sleep with new routine", "Return to work"]  # shorthand expanded
    homework = {c["value"]: c["sessions"] for c in item(data, "homework", "homework_status")["counts"]}
    assert homework == {"none_set": 1, "partly": 1, "done": 1}
    assert {c["value"]: c["sessions"] for c in item(data, "risk", "risk_si")["counts"]} == {"none": 2, "passive": 1}
    assert [c["sessions"] for c in item(data, "risk", "safety_plan")["counts"]] == [1]
    assert [t for _, t in item(data, "plan", "plan")["entries"]] == [
        "Sleep diary", "Thought record daily", "Review in four weeks"]
    assert lines(data, "goals") == []  # the built-in forms have no goals field: the section says so
    assert next(s for s in data["sections"] if s["role"] == "goals")["empty"] == "The forms used have no goals field."


def test_markdown_reads_as_a_summary(vault, visits, tmp_path):
    summary.write_summary(vault, "C017", None, None, tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    for title in ["Presenting focus", "Interventions used", "Scales and measures", "Homework", "Goals", "Plan"]:
        assert f"\n## {title}\n" in md
    assert "- **Sessions:** 3 scanned; 3 attended" in md
    assert "Interventions: CBT in 3 of 3 sessions; MI in 1 of 3 sessions" in md
    assert "Mood, client-rated: 3 on 2026-01-05, 7 on 2026-02-02 (lowest 3, highest 7; 3 sessions)." in md
    # The plan reads newest first: the current plan leads.
    assert md.index("Review in four weeks") < md.index("Thought record daily") < md.index("Sleep diary")
    goals = md.split("## Goals", 1)[1].split("##", 1)[0]
    assert "The forms used have no goals field." in goals


def test_attendance_left_unanswered_reads_as_not_recorded(vault, tmp_path):
    add_sheet(vault, {"attendance": None, "focus": "Work stress"}, date="2026-01-05")
    summary.write_summary(vault, "C017", None, None, tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    assert "- **Sessions:** 1 scanned; attendance not recorded" in md and "()" not in md


def test_a_plan_written_on_two_lines_keeps_them_apart(vault, tmp_path):
    add_sheet(vault, {"attendance": "attended", "plan": "practise grounding\nwalk 3x this week"}, date="2026-01-05")
    summary.write_summary(vault, "C017", None, None, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert [t for _, t in item(data, "plan", "plan")["entries"]] == ["practise grounding; walk 3x this week"]


def test_private_marker_words_never_appear(vault, visits, tmp_path):
    # A pending private field and a progress field corrected on confirmation (its read held a marker) too.
    add_sheet(vault, {"focus": f"{PRIVATE_MARK}read", "hypotheses": f"{PRIVATE_MARK}pending"}, date="2026-02-09",
              number=4, confirm=["attendance"])
    from scanner.vault import store

    store.confirm_field(vault, 4, "focus", value="Corrected focus")
    outputs = {}
    for kind in summary.KINDS:
        out = tmp_path / f"s.{kind}"
        summary.write_summary(vault, "C017", None, None, out)
        outputs[kind] = out.read_bytes()
    assert PRIVATE_MARK.encode() not in outputs["md"] + outputs["json"] + outputs["pdf"]
    assert b"Corrected focus" in outputs["md"] and b"Corrected focus" in outputs["json"]
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "s.pdf"), "-"], capture_output=True, text=True).stdout
        assert PRIVATE_MARK not in text and "Corrected focus" in text and "Return to work" in text
    # Nothing of any private field, not even its label.
    for f in get_template("session").fields:
        if f.privacy == "private":
            assert f.label.encode() not in outputs["md"], f.key


def test_unconfirmed_progress_answers_are_left_out_and_counted(vault, visits, tmp_path):
    add_sheet(vault, {"attendance": "attended", "mood_rating": 1, "focus": "Draft focus words"}, date="2026-02-09",
              number=4, confirm=["attendance"])
    done = summary.write_summary(vault, "C017", None, None, tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    assert "Draft focus" not in md
    assert [v for _, v in next(t for t in done.trends() if t.key == "mood_rating").points] == [3, 5, 7]
    assert done.pending_sessions == 1 and len(done.sessions) == 4 and done.attended == 4
    assert "1 session(s) in this period still have unconfirmed progress fields" in md


def test_date_filters_are_inclusive_and_exclude_the_rest(vault, visits, tmp_path):
    done = summary.write_summary(vault, "C017", "2026-01-19", "2026-02-02", tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    assert [s["date"] for s in done.sessions] == ["2026-01-19", "2026-02-02"]
    assert "Work stress and sleep" not in md and "Sleep diary" not in md
    assert "Return to work" in md and "Sleep with new routine" in md
    assert "2026-01-19 to 2026-02-02 (asked for 2026-01-19 to 2026-02-02)" in md
    only_first = summary.collect(vault, "C017", until="2026-01-05")
    assert [s["date"] for s in only_first.sessions] == ["2026-01-05"]
    assert [p for t in only_first.trends() for p in t.points if t.key == "mood_rating"] == [("2026-01-05", 3.0)]
    assert len(summary.collect(vault, "C017", since="2026-01-06").sessions) == 2


def test_another_clients_sessions_stay_out(vault, visits, tmp_path):
    add_sheet(vault, {"focus": "Other client focus", "mood_rating": 10}, client="C099", date="2026-01-12")
    done = summary.write_summary(vault, "C017", None, None, tmp_path / "s.md")
    assert "Other client" not in (tmp_path / "s.md").read_text()
    assert [p for t in done.trends() for p in t.points if t.key == "mood_rating"] == [
        ("2026-01-05", 3), ("2026-01-19", 5), ("2026-02-02", 7)]
    assert [s["date"] for s in done.sessions] == ["2026-01-05", "2026-01-19", "2026-02-02"]


def test_pdf_has_a_chart_per_measure_with_every_point(vault, visits, tmp_path, monkeypatch):
    from scanner.notes import charts

    drawn = []
    real = charts.to_drawing
    monkeypatch.setattr(charts, "to_drawing", lambda chart, *a, **k: drawn.append(chart) or real(chart, *a, **k))
    summary.write_summary(vault, "C017", None, None, tmp_path / "s.pdf")
    assert [(c.title, len(c.points)) for c in drawn] == [("Mood, client-rated", 3), ("PHQ-9 total", 3)]
    assert [p.value for p in drawn[1].points] == [18, 14, 9]
    data = (tmp_path / "s.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "s.pdf"), "-"], capture_output=True, text=True).stdout
        assert "Treatment summary: client C017" in text and "Scales and measures" in text
        assert "Clinician signature" in text


def test_builder_refuses_a_private_or_unconfirmed_row(vault, visits):
    sessions = summary.sessions_in_range(vault, "C017", None, None)
    rows = summary.summary_fields(vault, "C017", None, None)
    assert rows and {(r["privacy"], r["status"]) for r in rows} == {("progress", "confirmed")}
    templates = {"session": get_template("session")}
    shorthand = notes.load_shorthand(vault)
    summary.build_summary("C017", None, None, sessions, templates, rows, shorthand)  # the real rows build
    leaked = dict(rows[0], key="countertransference", privacy="private", confirmed_value=PRIVATE_MARK)
    with pytest.raises(notes.PrivacyBreach):
        summary.build_summary("C017", None, None, sessions, templates, [*rows, leaked], shorthand)
    mislabelled = dict(leaked, privacy="progress")  # the row claims progress; the template knows better
    with pytest.raises(notes.PrivacyBreach):
        summary.build_summary("C017", None, None, sessions, templates, [*rows, mislabelled], shorthand)
    draft = dict(rows[0], status="pending")
    with pytest.raises(notes.PrivacyBreach):
        summary.build_summary("C017", None, None, sessions, templates, [*rows, draft], shorthand)


def test_a_mislabelled_row_in_the_vault_writes_nothing(vault, visits, tmp_path):
    vault.db.execute("UPDATE fields SET privacy = 'progress' WHERE key = 'countertransference'")
    vault.db.conn.commit()
    with pytest.raises(notes.PrivacyBreach):
        summary.write_summary(vault, "C017", None, None, tmp_path / "s.md")
    assert list(tmp_path.glob("s.md*")) == [] and list(tmp_path.glob(".inklock-summary-*")) == []


def test_cli_writes_the_summary(vault, visits, summary_cli, tmp_path):
    out = tmp_path / "c017.md"
    r = summary_cli("summary", "--client", "C017", "--since", "2026-01-01", "--out", out)
    assert r.code == 0, r.err
    assert "Wrote" in r.out and "3 session(s) from 2026-01-05 to 2026-02-02" in r.out
    assert "Return to work" in out.read_text()
    r = summary_cli("summary", "--client", "C017", "--out", tmp_path / "c017.pdf", "--json")
    assert r.code == 0, r.err
    meta = json.loads(r.out)
    assert meta["sessions"] == 3 and meta["attended"] == 3 and meta["out"].endswith("c017.pdf")
    assert "Return to work" not in r.out  # the JSON on stdout says what was written, not what it says


def test_client_with_no_sessions_is_one_sentence_exit_4(vault, summary_cli, tmp_path):
    out = tmp_path / "none.md"
    r = summary_cli("summary", "--client", "NOBODY", "--out", out)
    assert r.code == ExitCode.BAD_INPUT
    assert r.err.startswith("inklock: ") and r.err.strip().count("\n") == 0 and "Traceback" not in r.err
    assert "NOBODY" in r.err
    assert not out.exists() and os.listdir(tmp_path).count("none.md") == 0


def test_refusals_write_nothing(vault, visits, summary_cli, tmp_path):
    out = tmp_path / "s.md"
    r = summary_cli("summary", "--client", "C017", "--since", "2027-01-01", "--out", out)
    assert r.code == ExitCode.BAD_INPUT and "between" not in r.err and "since 2027-01-01" in r.err
    add_sheet(vault, {"mood_rating": 4}, client="C020", date="2026-01-05", confirm=[])
    r = summary_cli("summary", "--client", "C020", "--out", out)
    assert r.code == ExitCode.REFUSED and "confirm" in r.err
    r = summary_cli("summary", "--client", "C017", "--out", tmp_path / "s.docx")
    assert r.code == ExitCode.USAGE and ".md, .pdf or .json" in r.err
    r = summary_cli("summary", "--client", "C017", "--since", "2026-03-01", "--until", "2026-01-01", "--out", out)
    assert r.code == ExitCode.USAGE
    r = summary_cli("summary", "--client", "C017", "--since", "yesterday", "--out", out)
    assert r.code == ExitCode.USAGE and "YYYY-MM-DD" in r.err
    r = summary_cli("summary", "--client", "C017", "--out", tmp_path / "missing" / "s.md")
    assert r.code == ExitCode.BAD_INPUT and "does not exist" in r.err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".inklock-summary-")]


def test_a_failed_rename_leaves_no_file(vault, visits, tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")

    import scanner.vault.vault

    monkeypatch.setattr(scanner.vault.vault.os, "replace", broken)
    with pytest.raises(OSError):
        summary.write_summary(vault, "C017", None, None, tmp_path / "s.pdf")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".tmp-", "s."))] == []


def test_group_sessions_join_the_same_counts_and_trends(vault, visits, tmp_path):
    add_sheet(vault, {"attendance": "left_early", "mood_rating": 4, "interventions": ["cbt", "role-play"],
                      "group_summary": "Skills group on sleep", "plan": "Keep the diary"},
              date="2026-01-26", number=4, template="group")
    done = summary.collect(vault, "C017")
    assert done.forms == ("Individual session", "Group session")
    assert done.attended == 4  # left early counts as attended
    mood = next(t for t in done.trends() if t.key == "mood_rating")
    assert [v for _, v in mood.points] == [3, 5, 4, 7]
    interventions = next(t for t in done.tallies() if t.key == "interventions")
    assert {c.label: c.sessions for c in interventions.counts} == {"CBT": 4, "MI": 1, "mindfulness": 1,
                                                                   "role-play": 1}
    md = summary.render(done, "md").decode()
    assert "Skills group on sleep" in md and "Keep the diary" in md


def test_sections_follow_what_each_field_is():
    from forms.model import Field

    def field(key, kind, label, **kw):
        return Field(key=key, kind=kind, label=label, privacy="progress", sections={"soap": "P"}, **kw)

    assert summary.role_of(field("treatment_goals", "text", "Goals", lines=2)) == "goals"
    assert summary.role_of(field("presenting_problem", "line", "Presenting problem")) == "focus"
    assert summary.role_of(field("suds", "scale", "Distress", min=0, max=100)) == "measures"
    assert summary.role_of(field("hw_done", "checkbox", "Homework done", options=["yes"])) == "homework"
    assert summary.role_of(field("homework_assigned", "text", "Homework", lines=2)) == "homework"
    assert summary.role_of(field("plan", "text", "Plan and homework", lines=2)) == "plan"
    assert summary.role_of(field("mood", "choice", "Mood", options=["low", "ok"])) == "presentation"
    assert summary.role_of(field("risk_si", "choice", "Suicidal ideation", options=["none", "passive"])) == "risk"
    assert summary.measure_range(field("phq9", "digits", "PHQ-9", cells=2)) == (0, 27)
    assert summary.measure_range(field("suds", "scale", "Distress", min=0, max=100)) == (0, 100)
