"""Search (SPEC section 5): exact, prefix, phrase, boolean, OCR-tolerant, shorthand, filters, index upkeep."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date, timedelta

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.vault import store
from scanner.errors import UsageError
from scanner.ingest.read import FieldRead, PageResult
from scanner.vault.search import Filters, Searcher, date_tags, reindex, tag

TINY_PNG = cv2.imencode(".png", np.full((4, 8), 255, np.uint8))[1].tobytes()
KINDS = {"presenting": ("text", "progress"), "risk": ("line", "progress"), "plan": ("text", "progress"),
         "notes": ("text", "private"), "interventions": ("choice", "progress"), "distress": ("scale", "progress")}


@pytest.fixture
def vault(tmp_path):
    from scanner.vault.vault import Vault

    v, _ = Vault.create(tmp_path / "vault", os.environ["INKLOCK_PASSPHRASE"])  # where INKLOCK_VAULT points
    yield v
    v.close()


@pytest.fixture
def run(cli, monkeypatch):
    """The CLI with the search commands attached (whatever scanner.cli.commands registers)."""
    import scanner.cli.main as cli_module
    from scanner.cli import search as cli_search

    original = cli_module._register_commands

    def register() -> None:
        original()
        cli_module.cli.add_command(cli_search.search)
        cli_module.cli.add_command(cli_search.reindex)

    monkeypatch.setattr(cli_module, "_register_commands", register)
    return cli


def scan(vault, sheet_id: str, values: dict, confidence: float = 0.6) -> None:
    """Store one read page of ``sheet_id`` with these field values (a scan or a rescan)."""
    reads = [FieldRead(key=k, kind=KINDS[k][0], privacy=KINDS[k][1], page=1, value=v, confidence=confidence,
                       flags=[], crop_png=TINY_PNG) for k, v in values.items()]
    result = PageResult(status="identified", source="test.pdf", sha256=secrets.token_hex(32), index=0,
                        template="session", page=1, page_size="letter", sheet_id=sheet_id,
                        image_jpeg=b"not really a jpeg", fields=reads)
    assert store.save_page(vault, result)["status"] in ("new", "rescan")


def session(vault, client: str, day: str, values: dict, confirm: tuple[str, ...] = ()) -> int:
    """A printed, scanned session; the fields in ``confirm`` are confirmed as read."""
    sheet_id = secrets.token_hex(4).upper()
    number = store.register_sheet(vault, sheet_id=sheet_id, template="session", template_version=1,
                                  page_size="letter", client=client, date=day, session_number=1)
    scan(vault, sheet_id, values)
    for key in confirm:
        store.confirm_field(vault, number, key)
    return number


def find(vault, query: str, **filters) -> list[dict]:
    return Searcher(vault.db).search(query, Filters(**filters))


def hits(vault, query: str, **filters) -> set[tuple[int, str]]:
    return {(r["session"], r["field"]) for r in find(vault, query, **filters)}


def index_is_sound(vault) -> None:
    for table in ("search_words", "search_trigrams"):
        vault.db.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")


@pytest.fixture
def notes(vault):
    """Four sessions of two clients; some fields confirmed, others OCR drafts with slips."""
    s = {}
    s["a"] = session(vault, "C01", "2024-01-10",
                     {"presenting": "Client reports insomnia and poor sleep since the move.",
                      "risk": "Denies SI/HI.", "interventions": ["cbt", "mi"], "distress": 6,
                      "notes": "Talked about her sister and the anniversary of the loss."},
                     confirm=("presenting", "risk", "interventions", "notes"))
    s["b"] = session(vault, "C01", "2024-03-02",
                     # drafts: "anxiety" read as "anxicty", "hypervigilance" with two letters wrong
                     {"presenting": "Ongoing anxicty at work, hypcrvigilanee in crowds.",
                      "plan": "Sleep was poor; panic attacks twice this week.",
                      "notes": "Passive suicidal ideation last month, no plan."})
    s["c"] = session(vault, "C02", "2024-06-20",
                     {"presenting": "Anxious before exams; anxiety about grades.",
                      "plan": "Continue exposure, practice grounding; avoid alcohol.",
                      "notes": "Grief about grandfather; tearful."},
                     confirm=("presenting", "plan", "notes"))
    s["d"] = session(vault, "C02", "2024-09-05",
                     {"presenting": "Panic attacks resolved; sleep improved.",
                      "plan": "Poor sleep only on weekends; alcohol use discussed.",
                      "notes": "Worried about her grandmother."},
                     confirm=("presenting", "plan"))
    return s


# -- finding words ------------------------------------------------------------------


def test_word_in_confirmed_field_is_found_with_snippet(vault, notes):
    results = find(vault, "insomnia")
    assert [(r["session"], r["field"], r["status"], r["match"]) for r in results] == \
        [(notes["a"], "presenting", "confirmed", "exact")]
    assert "[insomnia]" in results[0]["snippet"]
    assert results[0]["client"] == "C01" and results[0]["date"] == "2024-01-10"
    assert results[0]["crop_file"]  # the handwriting crop to show beside it


def test_ocr_draft_with_one_or_two_wrong_letters_is_found_by_the_right_word(vault, notes):
    one = find(vault, "anxiety")
    drafts = [r for r in one if r["session"] == notes["b"]]
    assert drafts and drafts[0]["status"] == "draft" and drafts[0]["match"] == "fuzzy"
    assert "[anxicty]" in drafts[0]["snippet"]
    two = find(vault, "hypervigilance")
    assert [(r["session"], r["status"]) for r in two] == [(notes["b"], "draft")]


def test_exact_matches_rank_before_fuzzy_ones(vault, notes):
    results = find(vault, "anxiety")
    assert results[0]["session"] == notes["c"] and results[0]["match"] == "exact"
    assert [r["match"] for r in results] == sorted((r["match"] for r in results),
                                                   key=["exact", "shorthand", "fuzzy", "substring"].index)


def test_a_misspelled_query_finds_the_right_word(vault, notes):
    assert (notes["a"], "presenting") in hits(vault, "insomina")


def test_prefix_phrase_and_boolean(vault, notes):
    assert hits(vault, "anx*") >= {(notes["c"], "presenting")}
    assert (notes["c"], "presenting") not in hits(vault, "anxiety", field="plan")
    phrase = hits(vault, '"poor sleep"')
    assert {(notes["a"], "presenting"), (notes["d"], "plan")} <= phrase
    assert (notes["b"], "plan") not in phrase  # "Sleep was poor": both words, not the phrase
    assert (notes["b"], "plan") in hits(vault, "sleep AND poor")
    assert hits(vault, "sleep NOT alcohol") & {(notes["d"], "plan")} == set()
    assert (notes["a"], "presenting") in hits(vault, "sleep NOT alcohol")
    either = hits(vault, "grief OR grandmother")
    assert {(notes["c"], "notes"), (notes["d"], "notes")} <= either
    assert hits(vault, "(grief OR grandmother) AND tearful") == {(notes["c"], "notes")}


def test_substring_matches_inside_words(vault, notes):
    results = find(vault, "somni")
    assert [(r["session"], r["match"]) for r in results] == [(notes["a"], "substring")]
    assert "somni" in results[0]["snippet"].lower()


def test_choice_values_are_searchable_and_scales_are_not(vault, notes):
    assert (notes["a"], "interventions") in hits(vault, "cbt")
    assert all(field != "distress" for _, field in hits(vault, "6"))


def test_results_are_grouped_by_session(vault, notes):
    results = find(vault, "sleep OR panic OR alcohol")
    order = [r["session"] for r in results]
    assert order == sorted(order, key=order.index)  # each session's fields together
    assert len(set(order)) >= 3


# -- shorthand --------------------------------------------------------------------


def test_shorthand_both_ways(vault, notes):
    long_form = find(vault, "suicidal ideation")
    assert (notes["a"], "risk", "shorthand") in {(r["session"], r["field"], r["match"]) for r in long_form}
    assert (notes["b"], "notes", "exact") in {(r["session"], r["field"], r["match"]) for r in long_form}
    short = hits(vault, "SI")
    assert {(notes["a"], "risk"), (notes["b"], "notes")} <= short


def test_the_vaults_own_abbreviations_are_used(vault, notes):
    vault.db.execute("INSERT INTO abbreviations(short, long) VALUES ('gm', 'grandmother')")
    vault.db.conn.commit()
    assert (notes["d"], "notes") in hits(vault, "gm")


# -- filters ----------------------------------------------------------------------------


def test_filters_narrow_the_results(vault, notes):
    everything = hits(vault, "sleep")
    assert {s for s, _ in everything} == {notes["a"], notes["b"], notes["d"]}
    assert {s for s, _ in hits(vault, "sleep", client="C02")} == {notes["d"]}
    assert {s for s, _ in hits(vault, "sleep", since="2024-02-01")} == {notes["b"], notes["d"]}
    assert {s for s, _ in hits(vault, "sleep", until="2024-03-02")} == {notes["a"], notes["b"]}
    assert {s for s, _ in hits(vault, "sleep", since="2024-02-01", until="2024-06-30")} == {notes["b"]}
    assert hits(vault, "sleep", field="plan") == {(notes["b"], "plan"), (notes["d"], "plan")}
    assert all(f == "notes" for _, f in hits(vault, "about", privacy="private"))
    assert hits(vault, "grandfather", privacy="progress") == set()


@pytest.mark.parametrize("bad", [{"since": "2024-13-01"}, {"until": "yesterday"}, {"since": "2024-1-5"},
                                 {"since": "2024-05-01", "until": "2024-04-01"}, {"privacy": "secret"}])
def test_bad_filters_are_usage_errors(bad):
    with pytest.raises(UsageError):
        Filters(**bad)


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2015, 1, 1), date(2030, 12, 31)), st.integers(0, 900), st.integers(-5, 905))
def test_date_tags_cover_exactly_the_range(start, span, offset):
    end, day = start + timedelta(days=span), start + timedelta(days=offset)
    tags = set(date_tags(start, end))
    own = {tag(4, day.year), tag(5, day.year * 12 + day.month - 1), tag(6, day.toordinal() - 678576)}
    assert bool(tags & own) == (start <= day <= end)


def test_tags_are_written_as_the_query_builds_them(vault):
    number = session(vault, "Ab-9", "2024-02-29", {"plan": "walks daily"})
    tags = vault.db.execute("SELECT tags FROM search_docs").fetchone()[0].split()
    key_number = vault.db.execute("SELECT id FROM search_terms WHERE kind = 'key' AND value = 'plan'").fetchone()[0]
    day = date(2024, 2, 29)
    assert {tag(4, 2024), tag(5, 2024 * 12 + 1), tag(6, day.toordinal() - 678576), tag(3, 2),
            tag(2, key_number)} <= set(tags)
    assert hits(vault, "walks", client="ab-9", since="2024-02-29", until="2024-02-29") == {(number, "plan")}


def test_filters_follow_a_sheet_whose_client_or_date_changes(vault, notes):
    with store.transaction(vault.db):
        vault.db.execute("UPDATE sheets SET client = 'C09', date = '2025-01-02' WHERE id = ?", [notes["a"]])
    assert {s for s, _ in hits(vault, "insomnia", client="C09", since="2025-01-01")} == {notes["a"]}
    assert hits(vault, "insomnia", client="C01") == set()
    index_is_sound(vault)


def test_an_unknown_client_or_field_finds_nothing(vault, notes):
    assert find(vault, "sleep", client="nobody") == []
    assert find(vault, "sleep", field="no_such_field") == []
    assert find(vault, "sleep", since="2030-01-01") == []


# -- keeping the index in step --------------------------------------------------------------


def test_correcting_and_reopening_a_field_keeps_the_index_in_step(vault, notes):
    number = notes["b"]
    store.confirm_field(vault, number, "plan", value="Nightmares twice this week.")
    assert (number, "plan") not in hits(vault, "panic")
    assert [(r["field"], r["status"]) for r in find(vault, "nightmares")] == [("plan", "confirmed")]
    store.reopen_field(vault, number, "plan")
    assert [(r["field"], r["status"]) for r in find(vault, "panic") if r["session"] == number] == [("plan", "draft")]
    assert find(vault, "nightmares") == []
    index_is_sound(vault)


def test_a_rescan_replaces_the_draft_in_the_index(vault, notes):
    sheet_id = store.get_sheet(vault, notes["b"])["sheet_id"]
    scan(vault, sheet_id, {"plan": "Journaling helped with worry."})
    assert (notes["b"], "plan") not in hits(vault, "panic")
    assert (notes["b"], "plan") in hits(vault, "journaling")
    # A rescan never overwrites a confirmed value, so the index keeps it too.
    sheet_a = store.get_sheet(vault, notes["a"])["sheet_id"]
    scan(vault, sheet_a, {"presenting": "Something else entirely."})
    assert (notes["a"], "presenting") in hits(vault, "insomnia")
    assert hits(vault, "entirely") == set()
    index_is_sound(vault)


def test_the_raw_reading_of_a_draft_is_searched_beside_the_corrected_one(vault):
    """Post-correction guessed "stricken"; the recogniser read "Sunday": both find the draft until it is confirmed."""
    sheet_id = secrets.token_hex(4).upper()
    number = store.register_sheet(vault, sheet_id=sheet_id, template="session", template_version=1,
                                  page_size="letter", client="C03", date="2024-02-02", session_number=1)
    read = FieldRead(key="plan", kind=KINDS["plan"][0], privacy=KINDS["plan"][1], page=1,
                     value="Call sister on stricken", confidence=0.6, flags=[], crop_png=TINY_PNG,
                     raw={"alternative": "Call sister on Sunday"})
    result = PageResult(status="identified", source="test.pdf", sha256=secrets.token_hex(32), index=0,
                        template="session", page=1, page_size="letter", sheet_id=sheet_id,
                        image_jpeg=b"not really a jpeg", fields=[read])
    store.save_page(vault, result)
    assert (number, "plan") in hits(vault, "sunday")
    assert (number, "plan") in hits(vault, "stricken")
    (hit,) = [h for h in find(vault, "sunday") if h["field"] == "plan" and h["session"] == number]
    # The snippet says which words are the recogniser's own, not one run-on phrase.
    assert "Call sister on stricken \u2014 machine reading: " in hit["snippet"], hit["snippet"]
    assert "\u2016" not in hit["snippet"]
    assert (number, "plan") not in hits(vault, "machine")
    store.confirm_field(vault, number, "plan", value="Call sister on Sunday")
    assert (number, "plan") in hits(vault, "sunday")
    assert (number, "plan") not in hits(vault, "stricken")
    index_is_sound(vault)


def test_reindex_rebuilds_identical_results(vault, notes):
    queries = ["sleep", "anxiety", "SI", "anx*", '"poor sleep"', "somni", "grief OR panic"]
    before = {q: find(vault, q) for q in queries}
    for table in ("search_words", "search_trigrams"):  # lose the whole index
        vault.db.execute(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
    vault.db.conn.commit()
    assert find(vault, "insomnia") == []
    assert reindex(vault.db) == vault.db.execute("SELECT count(*) FROM search_docs").fetchone()[0] > 0
    assert {q: find(vault, q) for q in queries} == before
    index_is_sound(vault)


def test_migrating_an_existing_vault_indexes_its_fields():
    import scanner.vault.db  # noqa: F401  (binds sqlite-utils to SQLCipher)
    import sqlite_utils
    from sqlcipher3 import dbapi2

    from scanner.vault import schema

    db = sqlite_utils.Database(dbapi2.connect(":memory:"))
    schema._run(db, schema.MIGRATIONS[:1])  # a vault from before search
    db.execute("INSERT INTO sheets(sheet_id, template, template_version, page_size, client, date, printed_at) "
               "VALUES ('OLD1', 'session', 1, 'letter', 'C01', '2023-05-01', 'x')")
    db.execute("INSERT INTO fields(sheet_id, page, key, kind, privacy, value) VALUES "
               "('OLD1', 1, 'plan', 'text', 'progress', ?)", [json.dumps("Exposure ladder")])
    db.conn.commit()
    assert schema.migrate(db) == len(schema.MIGRATIONS)
    assert [r["field"] for r in Searcher(db).search("ladder", Filters(client="C01"))] == ["plan"]


# -- the command line ---------------------------------------------------------------------


def test_cli_search_json_and_table(run, vault, notes):
    vault.close()
    done = run("search", "anxiety", "--client", "C01", "--json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["query"] == "anxiety"
    assert {r["session"] for r in data["results"]} == {notes["b"]}
    assert set(data["results"][0]) == {"session", "sheet_id", "client", "date", "field", "privacy", "status",
                                       "snippet", "score", "match", "crop_file", "kept"}
    table = run("search", "sleep", "--since", "2024-06-01")
    assert table.code == 0 and "improved" in table.out and "draft" not in table.out
    assert run("reindex").code == 0


@pytest.mark.parametrize("args", [
    ['"poor sleep'], ["anxiety OR"], ["AND sleep"], ["NOT alcohol"], ["(anxiety"], ["anxiety)"], ["()"],
    ["*"], ['""'], ["anxiety AND OR sleep"], ["   "],
    ["sleep", "--since", "2024-02-30"], ["sleep", "--until", "soon"], ["sleep", "--privacy", "secret"],
])
def test_malformed_queries_are_one_sentence_usage_errors(run, vault, notes, args):
    vault.close()
    done = run("search", *args)
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inklock: ")
    assert not any(word in done.err.lower() for word in ("traceback", "sqlite", "fts5", "syntax error"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list('ab "()*:^-+.,\'NOTANDOR{}\\;')) | st.characters(), max_size=30))
def test_any_text_is_a_result_list_or_a_usage_error(vault, notes, text):
    try:
        assert isinstance(find(vault, text), list)
    except UsageError as exc:
        assert exc.message.endswith(".") and "\n" not in exc.message
