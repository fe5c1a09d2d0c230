"""The review app's search page (issue #5): handwriting crop beside the text, a link to the session.

Through Flask's test client on a real vault; sessions come from ``test_web.add_session``.
"""

from __future__ import annotations

import re

import pytest

from test_web import BASE, add_session, app, clock, csrf, field, login  # noqa: F401 -- fixtures

PRIVATE_KEY = "hypotheses"


def search(browser, web, token: str | None = "valid", **values):
    data = {"q": "", **values}
    if token:
        data["csrf_token"] = csrf(web) if token == "valid" else token
    return browser.post("/search", data=data, base_url=BASE)


def hits(html: str) -> list[str]:
    """The HTML of each result row."""
    return re.findall(r'<div class="hit hit-.*?</div>\s*</div>', html, flags=re.S)


def test_search_needs_the_cookie_and_the_csrf_token(app, vault):
    add_session(vault, reads={PRIVATE_KEY: ("Nightmares about the flood", 0.4, ["low_confidence"])})
    stranger = app.test_client()
    for r in (stranger.get("/search", base_url=BASE),
              stranger.post("/search", data={"q": "flood"}, base_url=BASE)):
        assert r.status_code == 403 and b"flood" not in r.data.lower()
    client = login(app)
    for token in (None, "forged"):
        r = search(client, app, token=token, q="flood")
        assert r.status_code == 403 and b"Nightmares" not in r.data


def test_results_show_crop_snippet_status_and_link_grouped_by_session(app, vault):
    one = add_session(vault, client="K7Q", date="2025-11-20",
                      reads={PRIVATE_KEY: ("Nightmares about the flood", 0.4, ["low_confidence"])})
    two = add_session(vault, client="M2X", date="2025-12-01",
                      reads={"themes_patterns": ("flood of worries at night", 0.9, [])})
    client = login(app)
    page = client.get("/search", base_url=BASE)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'href="/search"' in page.get_data(as_text=True)  # the nav slot is a link now
    r = search(client, app, q="flood")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    rows = hits(html)
    assert len(rows) == 2
    for s, key in ((one, PRIVATE_KEY), (two, "themes_patterns")):
        fid = field(vault, s["session"], key)["id"]
        row = next(h for h in rows if f"/field/{fid}/crop.png" in h)
        assert f'href="/session/{s["session"]}#f-{key}"' in row
        assert "<mark>flood</mark>" in row
        assert "unconfirmed OCR draft" in row
        crop = client.get(f"/field/{fid}/crop.png", base_url=BASE)
        assert crop.status_code == 200 and crop.data[:4] == b"\x89PNG" and crop.headers["Cache-Control"] == "no-store"
    # Grouped by session: each session's heading links to it.
    assert html.count('class="result-session"') == 2
    assert f'href="/session/{one["session"]}">K7Q' in html and f'href="/session/{two["session"]}">M2X' in html


def test_confirmed_results_are_marked_confirmed_and_filters_apply(app, vault, monkeypatch):
    from scanner.hand import exemplars
    from scanner.vault import store

    # The drawn crops say something else than the reads given here: keep the handwriting tier out of it.
    monkeypatch.setattr(exemplars, "search_by_hand", lambda v, words, limit=50: [])
    one = add_session(vault, client="K7Q", date="2025-11-20",
                      reads={PRIVATE_KEY: ("Nightmares about the flood", 0.4, ["low_confidence"])})
    add_session(vault, client="M2X", date="2025-12-01", reads={"themes_patterns": ("flood again", 0.9, [])})
    store.confirm_field(vault, one["session"], PRIVATE_KEY, value="Nightmares about the flood")
    client = login(app)
    rows = hits(search(client, app, q="flood", client="K7Q").get_data(as_text=True))
    assert len(rows) == 1 and "confirmed" in rows[0] and "unconfirmed" not in rows[0]
    later = hits(search(client, app, q="flood", since="2025-11-25").get_data(as_text=True))
    assert len(later) == 1 and "again" in later[0]
    assert len(hits(search(client, app, q="flood", privacy="progress").get_data(as_text=True))) == 0
    assert len(hits(search(client, app, q="flood", field="themes_patterns").get_data(as_text=True))) == 1


def test_everything_from_the_vault_is_escaped_and_brackets_stay_text(app, vault):
    add_session(vault, reads={PRIVATE_KEY: ('<script>alert("x")</script> [sic] flood & <b>bold</b>', 0.4, [])})
    client = login(app)
    html = search(client, app, q="flood").get_data(as_text=True)
    row = hits(html)[0]
    assert "<script>alert" not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in row and "&lt;b&gt;bold" in row
    assert "[sic]" in row and "<mark>sic</mark>" not in row  # a written bracket is not a highlight
    assert "<mark>flood</mark>" in row and row.count("<mark>") == row.count("</mark>")


@pytest.mark.parametrize("values, words", [
    ({"q": '"unclosed phrase'}, "double quote"),
    ({"q": "anxiety AND"}, "AND"),
    ({"q": "(sleep"}, "("),
    ({"q": "   "}, "Type a word"),
    ({"q": "sleep", "since": "2025-13-45"}, "YYYY-MM-DD"),
    ({"q": "sleep", "since": "2025-12-01", "until": "2025-11-01"}, "after"),
    ({"q": "sleep", "privacy": "secret"}, "private or progress"),
])
def test_a_malformed_search_gets_a_friendly_message_not_an_error_page(app, vault, values, words):
    add_session(vault)
    client = login(app)
    r = search(client, app, **values)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'id="search-error"' in html and words in html
    assert 'id="search-form"' in html  # the form is still there to fix the query
    assert "Traceback" not in html


def test_the_handwriting_tier_runs_and_its_hits_say_so(app, vault, monkeypatch):
    from scanner.hand import exemplars

    s = add_session(vault, reads={PRIVATE_KEY: ("Nlghtrnares", 0.3, ["low_confidence"])})
    fid = field(vault, s["session"], PRIVATE_KEY)["id"]
    seen = []

    def by_hand(v, words, limit=50):
        seen.append(sorted(words))
        return [(fid, "nightmares", 0.2)] if "nightmares" in words else []

    monkeypatch.setattr(exemplars, "search_by_hand", by_hand)
    client = login(app)
    row = hits(search(client, app, q="nightmares").get_data(as_text=True))
    assert seen and len(row) == 1
    assert "matched by handwriting" in row[0] and f"/field/{fid}/crop.png" in row[0]
    assert "<mark>nightmares</mark>" in row[0]


def test_search_page_holds_no_inline_script_or_external_asset(app, vault):
    add_session(vault, reads={PRIVATE_KEY: ("flood", 0.4, [])})
    client = login(app)
    for r in (client.get("/search", base_url=BASE), search(client, app, q="flood")):
        html = r.get_data(as_text=True)
        assert "<script>" not in html and "<script " not in html.replace('<script src="/static/', "")
        assert "style=" not in html and "http://" not in html and "https://" not in html
