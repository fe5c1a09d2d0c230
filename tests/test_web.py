"""The review web app's security properties and flows, through Flask's test client on a real vault.

Sessions are built with :func:`add_session`: a sheet registered through
``scanner.vault.store`` and a page stored with ``store.save_page`` from a synthetic
``PageResult`` (a drawn page image, real PNG crops cut from it).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from scanner.vault import store
from scanner.ingest.read import FieldRead, PageResult

PORT = 5000
BASE = f"http://127.0.0.1:{PORT}"
DPI = 200
HAND_FONT = Path("/usr/share/fonts/truetype/fifthhorseman/dkg.ttf")
PLAIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# ---------------------------------------------------------------- synthetic sessions


def px(v: float) -> int:
    return round(v * DPI / 72)


def _font(size: int, hand: bool = True):
    path = HAND_FONT if hand and HAND_FONT.is_file() else PLAIN_FONT
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default()


def truth(f: dict[str, Any]) -> Any:
    """A plausible written answer for a field of the geometry export."""
    kind = f["kind"]
    values = [o["value"] for o in f.get("options", [])]
    if kind == "checkbox":
        return True
    if kind == "choice":
        return [values[0], values[2]] if f.get("multiple") else values[0]
    if kind == "scale":
        return int(values[len(values) // 2])
    if kind == "digits":
        return "12"[: len(f["cells"])]
    if kind == "line":
        return "Sleep and work stress"
    if f["privacy"] == "private":
        return f"Private thought on {f['key'].replace('_', ' ')}"
    return f"Worked on {f['key'].replace('_', ' ')}, calmer by the end"


def _draw(page: ImageDraw.ImageDraw, f: dict[str, Any], value: Any) -> None:
    x0, y0, x1, y1 = (px(v) for v in f["bbox"])
    page.text((x0, y0 - px(9)), f.get("short") or f["label"], fill=90, font=_font(px(7), hand=False))
    if f["kind"] in ("checkbox", "choice", "scale"):
        chosen = value if isinstance(value, list) else [value]
        for o in f["options"]:
            a, b, c, d = (px(v) for v in o["bbox"])
            page.rectangle((a, b, c, d), outline=150, width=2)
            if o["value"] in [str(v) if not isinstance(v, bool) else "yes" for v in chosen if v is not None]:
                page.line((a + 4, b + 4, c - 4, d - 4), fill=20, width=5)
                page.line((a + 4, d - 4, c - 4, b + 4), fill=20, width=5)
        return
    page.rectangle((x0, y0, x1, y1), outline=200, width=2)
    if value:
        page.text((x0 + px(6), y0 + px(4)), str(value), fill=25, font=_font(px(13)))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def add_session(vault, *, client: str = "K7Q", date: str = "2025-11-20", number: int = 3,
                pages: tuple[int, ...] = (1, 2), reads: dict[str, tuple[Any, float, list[str]]] | None = None,
                template: str = "session", alternatives: dict[str, str] | None = None) -> dict[str, Any]:
    """Register a sheet and store its scanned pages; returns {"session", "sheet_id", "layout", "truth"}.

    Every field is read correctly with confidence 0.97 unless ``reads`` gives
    (value, confidence, flags) for its key; the page shows the true answer.
    ``alternatives`` gives the other handwriting reader's text for a key.
    """
    from forms.geometry import layout as layout_of
    from forms.model import get_template
    from forms.payload import new_sheet_id

    reads = reads or {}
    sheet_id = new_sheet_id()
    session = store.register_sheet(vault, sheet_id=sheet_id, template=template, template_version=1,
                                   page_size="letter", client=client, date=date, session_number=number)
    layout = layout_of(get_template(template), "letter")
    w, h = (px(v) for v in layout["page_size_pt"])
    answers: dict[str, Any] = {}
    for page in layout["pages"]:
        if page["number"] not in pages:
            continue
        img = Image.new("L", (w, h), 255)
        draw = ImageDraw.Draw(img)
        draw.text((px(40), px(40)), f"{layout['title']} - page {page['number']}", fill=40, font=_font(px(12), False))
        draw.text((px(40), px(60)), f"{client}   {date}", fill=30, font=_font(px(14)))
        reads_here = []
        for f in page["fields"]:
            answers[f["key"]] = truth(f)
            _draw(draw, f, answers[f["key"]])
        for f in page["fields"]:
            value, confidence, flags = reads.get(f["key"], (answers[f["key"]], 0.97, []))
            x0, y0, x1, y1 = f["bbox"]
            crop = img.crop((px(x0 - 3), px(y0 - 3), px(x1 + 3), px(y1 + 3)))
            other = (alternatives or {}).get(f["key"])
            reads_here.append(FieldRead(f["key"], f["kind"], f["privacy"], page["number"], value, confidence,
                                        list(flags), _png(crop), {"alternative": other} if other else {}))
        result = PageResult(status="identified", source="scan.pdf", sha256=secrets.token_hex(32), index=page["number"],
                            template=template, page=page["number"], page_size="letter", sheet_id=sheet_id,
                            registration_error_px=0.7, image_jpeg=_jpeg(img), fields=reads_here)
        store.save_page(vault, result)
    return {"session": session, "sheet_id": sheet_id, "layout": layout, "truth": answers}


def add_unmatched(vault) -> int:
    img = Image.new("L", (850, 1100), 255)
    ImageDraw.Draw(img).text((80, 80), "a page with no markers", fill=30, font=_font(40))
    result = PageResult(status="unmatched", source="scan.pdf", sha256=secrets.token_hex(32), index=9,
                        message="no registration markers were found on the page", template="session", page=1,
                        image_jpeg=_jpeg(img), thumb_jpeg=_jpeg(img.resize((150, 194))))
    return store.save_unmatched(vault, result)


# ---------------------------------------------------------------- fixtures


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(vault, vault_dir, clock):
    from scanner.vault.vault import Vault
    from scanner.review.web import create_app, state_of

    web = create_app(vault, lambda pw: Vault.open(vault_dir, pw), idle_minutes=15, clock=clock, port=PORT)
    web.testing = True
    yield web
    state_of(web).close()


def login(web):
    """A test client holding the session cookie (token exchanged)."""
    from scanner.review.web import state_of

    client = web.test_client()
    r = client.get("/auth?token=" + state_of(web).guard.url_token, base_url=BASE)
    assert r.status_code == 302
    return client


def csrf(web) -> str:
    from scanner.review.web import state_of

    return state_of(web).guard.csrf_token


def post_json(client, web, url: str, body: dict, token: str | None = "valid", **kw):
    headers = {"Content-Type": "application/json", "Origin": BASE}
    if token:
        headers["X-CSRF-Token"] = csrf(web) if token == "valid" else token
    return client.post(url, data=json.dumps(body), headers=headers, base_url=BASE, **kw)


def article(html: str, key: str) -> str:
    """The HTML of one field's row on the session page."""
    at = html.index(f'id="f-{key}"')
    return html[html.rindex("<article", 0, at):html.index("</article>", at)]


def field(vault, session: int, key: str) -> dict[str, Any]:
    return next(f for f in store.show_session(vault, session)["fields"] if f["key"] == key)


# ---------------------------------------------------------------- access


def test_request_without_cookie_is_refused_and_shows_nothing(app, vault):
    s = add_session(vault)
    client = app.test_client()
    for url in ["/", f"/session/{s['session']}", f"/session/{s['session']}/page/1.jpg", "/field/1/crop.png",
                "/static/review.css", f"/session/{s['session']}/note", "/unlock", "/nope"]:
        r = client.get(url, base_url=BASE)
        assert r.status_code == 403, url
        assert b"K7Q" not in r.data and b"Sleep" not in r.data
        assert r.mimetype == "text/plain"
    r = post_json(client, app, f"/session/{s['session']}/field/focus/confirm", {"typed": "x"})
    assert r.status_code == 403
    assert field(vault, s["session"], "focus")["status"] == "pending"


def test_token_exchange_sets_a_strict_httponly_cookie_once(app, vault):
    from scanner.review.web import state_of

    add_session(vault)
    token = state_of(app).guard.url_token
    client = app.test_client()
    assert client.get("/auth?token=wrong" + token[:5], base_url=BASE).status_code == 403
    r = client.get("/auth?token=" + token, base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    assert "token" not in r.headers["Location"]
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert token not in cookie
    page = client.get("/", base_url=BASE)
    assert page.status_code == 200 and b"K7Q" in page.data
    # The link works once: another browser (no cookie) cannot use it again.
    assert app.test_client().get("/auth?token=" + token, base_url=BASE).status_code == 403


def test_foreign_host_header_is_refused(app, vault):
    from scanner.review.web import state_of
    from scanner.review.web.security import COOKIE_NAME

    add_session(vault)
    client = app.test_client(use_cookies=False)
    cookie = f"{COOKIE_NAME}={state_of(app).guard.cookie_secret}"
    for host in [f"127.0.0.1:{PORT}", f"localhost:{PORT}"]:
        assert client.get("/", base_url=BASE, headers={"Host": host, "Cookie": cookie}).status_code == 200
    for host in ["evil.example:5000", "127.0.0.1:5001", "127.0.0.1", "192.0.2.2:5000"]:
        r = client.get("/", base_url=BASE, headers={"Host": host, "Cookie": cookie})
        assert r.status_code == 400, host
        assert b"K7Q" not in r.data


def test_post_without_valid_csrf_token_is_refused_and_changes_nothing(app, vault):
    s = add_session(vault)
    client = login(app)
    url = f"/session/{s['session']}/field/focus/confirm"
    for token in [None, "forged", csrf(app)[:-1]]:
        r = post_json(client, app, url, {"typed": "Something else"}, token=token)
        assert r.status_code == 403
    r = client.post(url, data={"typed": "x", "csrf_token": "forged"}, base_url=BASE)
    assert r.status_code == 403
    # The right token from another origin is refused too.
    r = client.post(url, data=json.dumps({"typed": "x"}), base_url=BASE,
                    headers={"Content-Type": "application/json", "X-CSRF-Token": csrf(app),
                             "Origin": "http://evil.example"})
    assert r.status_code == 403
    assert field(vault, s["session"], "focus")["status"] == "pending"
    r = client.post("/lock", data={}, base_url=BASE)
    assert r.status_code == 403
    r = post_json(client, app, url, {"typed": "Sleep and work stress"})
    assert r.status_code == 200 and r.json["ok"]
    assert field(vault, s["session"], "focus")["status"] == "confirmed"


def test_every_response_is_no_store_with_a_strict_csp(app, vault):
    s = add_session(vault)
    client = login(app)
    crop_id = field(vault, s["session"], "focus")["id"]
    responses = [client.get(u, base_url=BASE) for u in
                 ["/", f"/session/{s['session']}", f"/session/{s['session']}/page/1.jpg", f"/field/{crop_id}/crop.png",
                  "/static/review.css", "/static/review.js", f"/session/{s['session']}/note?format=soap", "/missing"]]
    responses.append(app.test_client().get("/", base_url=BASE))  # refused
    responses.append(post_json(client, app, f"/session/{s['session']}/field/focus/confirm", {"typed": "Sleep"}))
    assert [r.status_code for r in responses[:4]] == [200, 200, 200, 200]
    assert responses[2].mimetype == "image/jpeg" and responses[3].mimetype == "image/png"
    for r in responses:
        assert r.headers["Cache-Control"] == "no-store"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "img-src 'self' data:" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_pages_hold_no_inline_script_or_external_asset(app, vault):
    s = add_session(vault)
    client = login(app)
    for url in ["/", f"/session/{s['session']}", f"/session/{s['session']}/note"]:
        html = client.get(url, base_url=BASE).get_data(as_text=True)
        assert "<script>" not in html and "<script " not in html.replace('<script src="/static/', "")
        assert " on" + "click=" not in html and "style=" not in html
        assert "http://" not in html and "https://" not in html


def test_idle_lock_closes_the_vault_and_asks_for_the_passphrase(app, vault, clock):
    from scanner.review.web import state_of

    s = add_session(vault)
    client = login(app)
    page = f"/session/{s['session']}"
    assert client.get(page, base_url=BASE).status_code == 200
    clock.now += 14 * 60
    assert client.get(page, base_url=BASE).status_code == 200  # activity resets the idle clock
    clock.now += 15 * 60 + 1
    r = client.get(page, base_url=BASE)
    assert r.status_code == 302 and "/unlock" in r.headers["Location"]
    assert state_of(app).holder.locked
    r = post_json(client, app, f"{page}/field/focus/confirm", {"typed": "x"})
    assert r.status_code == 401 and r.json["locked"]
    for url in ["/", f"{page}/page/1.jpg", f"{page}/note"]:
        assert client.get(url, base_url=BASE).status_code == 302
    form = client.get("/unlock?next=" + page, base_url=BASE)
    assert form.status_code == 200 and b"K7Q" not in form.data and b"passphrase" in form.data
    # Unlocking is CSRF-protected and needs the right passphrase.
    assert client.post("/unlock", data={"passphrase": os.environ["INKLOCK_PASSPHRASE"], "next": page},
                       base_url=BASE).status_code == 403
    r = client.post("/unlock", data={"passphrase": "wrong", "next": page, "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 403 and state_of(app).holder.locked
    r = client.post("/unlock", data={"passphrase": os.environ["INKLOCK_PASSPHRASE"], "next": page,
                                     "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"].endswith(page)
    assert client.get(page, base_url=BASE).status_code == 200
    assert field(state_of(app).holder._vault, s["session"], "focus")["status"] == "pending"


def test_unlock_never_redirects_off_site(app, vault):
    client = login(app)
    client.post("/lock", data={"csrf_token": csrf(app)}, base_url=BASE)
    for target in ["//evil.example/x", "http://evil.example/", "/\\evil.example"]:
        r = client.post("/unlock", data={"passphrase": os.environ["INKLOCK_PASSPHRASE"], "next": target,
                                         "csrf_token": csrf(app)}, base_url=BASE)
        assert r.status_code == 302 and r.headers["Location"] == "/"
        client.post("/lock", data={"csrf_token": csrf(app)}, base_url=BASE)


def test_idle_watch_locks_without_a_request(app, vault, clock):
    from scanner.review.web import state_of

    state = state_of(app)
    assert not state.lock_if_idle()
    clock.now += 16 * 60
    assert state.lock_if_idle() and state.holder.locked


# ---------------------------------------------------------------- reviewing


def test_session_page_puts_doubtful_fields_first_and_offers_low_confidence_text(app, vault):
    s = add_session(vault, reads={"focus": ("Slep and wrk stres", 0.41, ["low_confidence"]),
                                  "mood_rating": (None, 0.5, ["ambiguous_mark"])})
    html = login(app).get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    attention = html.index('data-section="attention"')
    page1 = html.index('data-section="page-1"')
    assert attention < html.index('id="f-focus"') < page1
    assert attention < html.index('id="f-mood_rating"') < page1
    assert page1 < html.index('id="f-attendance"')
    # The doubtful reading is a suggestion beside an empty box, never prefilled.
    row = article(html, "focus")
    assert 'data-suggestion="Slep and wrk stres"' in row
    assert 'value=""' in row and "Slep and wrk stres</q>" in row
    # A confident reading is prefilled.
    row = article(html, "phq9")
    assert 'value="12"' in row and "data-suggestion" not in row
    assert f"/session/{s['session']}/page/1.jpg" in html and "<rect" in html


def test_other_reading_is_offered_beside_a_doubtful_one(app, vault):
    s = add_session(vault, reads={"focus": ("Slep and wrk stres", 0.41, ["low_confidence"])},
                    alternatives={"focus": "Sleep and work stress", "phq9": "17"})
    html = login(app).get(f"/session/{s['session']}", base_url=BASE).get_data(as_text=True)
    row = article(html, "focus")
    assert 'data-alternative="Sleep and work stress"' in row and "Other reading" in row
    assert 'data-act="accept-alt"' in row and 'value=""' in row
    # A confident reading is prefilled and offers nothing else.
    row = article(html, "phq9")
    assert "data-alternative" not in row and "Other reading" not in row
    assert field(vault, s["session"], "focus")["alternative"] == "Sleep and work stress"


def test_other_reading_only_when_it_differs_and_the_field_waits():
    from scanner.review.web.fields import build_views

    def row(i, confidence, alternative, status="pending"):
        return {"id": i, "key": f"k{i}", "kind": "line", "privacy": "private", "page": 1, "value": "sleep dairy",
                "confidence": confidence, "flags": [], "status": status, "confirmed_value": None,
                "crop_file": None, "alternative": alternative}

    views = {v.id: v for v in build_views([row(1, 0.4, "sleep diary"), row(2, 0.4, "sleep dairy"),
                                           row(3, 0.95, "sleep diary"), row(4, 0.4, "sleep diary", "confirmed"),
                                           row(5, 0.4, None)], None)}
    assert views[1].alternative == "sleep diary" and views[1].suggestion == "sleep dairy"
    assert [views[i].alternative for i in (2, 3, 4, 5)] == [None, None, None, None]


def test_confirm_correct_and_reopen(app, vault):
    s = add_session(vault, reads={"focus": ("Slep", 0.4, ["low_confidence"])})
    client = login(app)
    base = f"/session/{s['session']}"
    r = post_json(client, app, f"{base}/field/focus/confirm", {"typed": "Sleep and work stress"})
    assert r.status_code == 200 and r.json["action"] == "correct"
    f = field(vault, s["session"], "focus")
    assert f["status"] == "confirmed" and f["confirmed_value"] == "Sleep and work stress"
    # "none" is a real option of the risk screen, not "no answer".
    assert post_json(client, app, f"{base}/field/risk_si/confirm", {"typed": "none"}).json["ok"]
    assert field(vault, s["session"], "risk_si")["confirmed_value"] == "none"
    assert post_json(client, app, f"{base}/field/mood/confirm", {"typed": "anxious,depressed"}).json["ok"]
    assert field(vault, s["session"], "mood")["confirmed_value"] == ["anxious", "depressed"]
    assert post_json(client, app, f"{base}/field/session_length/confirm", {"typed": ""}).json["ok"]
    assert field(vault, s["session"], "session_length")["confirmed_value"] is None
    bad = post_json(client, app, f"{base}/field/mood_rating/confirm", {"typed": "11"})
    assert bad.status_code == 400 and "scale" in bad.json["error"]
    assert post_json(client, app, f"{base}/field/attendance/confirm", {"typed": "maybe"}).status_code == 400
    assert post_json(client, app, f"{base}/field/no_such/confirm", {"typed": "x"}).status_code == 404
    r = post_json(client, app, f"{base}/field/focus/reopen", {})
    assert r.status_code == 200 and field(vault, s["session"], "focus")["status"] == "pending"
    html = client.get(base, base_url=BASE).get_data(as_text=True)
    row = article(html, "risk_si")
    assert "is-confirmed" in row and "disabled" in row and "Reopen" in row


def test_confirm_many_is_all_or_nothing(app, vault):
    s = add_session(vault)
    client = login(app)
    url = f"/session/{s['session']}/confirm-many"
    r = post_json(client, app, url, {"fields": [{"key": "phq9", "typed": "12"}, {"key": "mood_rating", "typed": "99"}]})
    assert r.status_code == 400
    assert field(vault, s["session"], "phq9")["status"] == "pending"
    r = post_json(client, app, url, {"fields": [{"key": "phq9", "typed": "12"}, {"key": "gad7", "typed": "7"}]})
    assert r.status_code == 200 and r.json["confirmed"] == ["phq9", "gad7"]
    assert field(vault, s["session"], "gad7")["confirmed_value"] == "7"


def test_a_sheet_whose_form_cannot_be_laid_out_still_reviews(app, vault):
    sheet_id = "ZZZZ2222"
    session = store.register_sheet(vault, sheet_id=sheet_id, template="gone_form", template_version=1,
                                   page_size="letter", client="C9", date="2025-10-01", session_number=1)
    crop = _png(Image.new("L", (200, 40), 255))
    result = PageResult(status="identified", source="s.pdf", sha256="ab" * 32, index=0, template="gone_form", page=1,
                        page_size="letter", sheet_id=sheet_id, registration_error_px=1.0,
                        image_jpeg=_jpeg(Image.new("L", (170, 220), 255)),
                        fields=[FieldRead("topic", "line", "progress", 1, "Sleep", 0.95, [], crop),
                                FieldRead("mood", "choice", "progress", 1, ["low"], 0.9, [], crop)])
    store.save_page(vault, result)
    client = login(app)
    html = client.get(f"/session/{session}", base_url=BASE).get_data(as_text=True)
    assert "could not be laid out" in html and 'id="f-topic"' in html and 'value="low"' in html
    assert post_json(client, app, f"/session/{session}/field/topic/confirm", {"typed": "Sleep"}).json["ok"]
    assert post_json(client, app, f"/session/{session}/field/mood/confirm", {"typed": "low"}).json["ok"]
    assert field(vault, session, "mood")["confirmed_value"] == ["low"]


def _confirm_progress(client, app, vault, session: int, override: dict[str, str] | None = None) -> None:
    from scanner.review.web.fields import as_text

    for f in store.show_session(vault, session)["fields"]:
        if f["privacy"] == "progress" and f["status"] == "pending":
            typed = (override or {}).get(f["key"], as_text(f["kind"], f["value"]))
            assert post_json(client, app, f"/session/{session}/field/{f['key']}/confirm", {"typed": typed}).json["ok"]


def test_note_is_refused_until_every_progress_field_is_confirmed_then_exported(app, vault):
    s = add_session(vault, reads={"focus": ("Slep", 0.4, ["low_confidence"])})
    client = login(app)
    base = f"/session/{s['session']}"
    preview = client.get(f"{base}/note?format=soap", base_url=BASE)
    assert preview.status_code == 200 and b"Not ready" in preview.data and b"#f-focus" in preview.data
    r = client.post(f"{base}/note/export", data={"format": "soap", "kind": "md", "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 409 and "attachment" not in r.headers.get("Content-Disposition", "")
    assert vault.progress_db.execute("SELECT COUNT(*) FROM progress_notes").fetchone()[0] == 0
    _confirm_progress(client, app, vault, s["session"], {"focus": "Grief after the move"})
    preview = client.get(f"{base}/note?format=birp", base_url=BASE)
    assert preview.status_code == 200 and b"Grief after the move" in preview.data and b"Behavior" in preview.data
    r = client.post(f"{base}/note/export", data={"format": "soap", "kind": "md", "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    text = r.get_data(as_text=True)
    assert "Grief after the move" in text and "Subjective" in text
    assert "Private thought" not in text and "Worked on plan" in text  # page 2 is private
    r = client.post(f"{base}/note/export", data={"format": "dap", "kind": "pdf", "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert vault.progress_db.execute("SELECT COUNT(*) FROM progress_notes").fetchone()[0] == 2
    assert client.post(f"{base}/note/export", data={"format": "soap", "kind": "md"}, base_url=BASE).status_code == 403


def test_queue_lists_waiting_sessions_oldest_first_and_unmatched_pages(app, vault):
    later = add_session(vault, client="LATER1", date="2025-11-21")
    earlier = add_session(vault, client="EARLY1", date="2025-11-02")
    uid = add_unmatched(vault)
    sha = vault.db.execute("SELECT source_sha256 FROM unmatched WHERE id = ?", [uid]).fetchone()[0]
    store.record_source(vault, sha, "/scans/Monday/scan.pdf", 10, {})
    client = login(app)
    html = client.get("/", base_url=BASE).get_data(as_text=True)
    assert html.index("EARLY1") < html.index("LATER1")
    assert f"/unmatched/{uid}/thumb.jpg" in html
    assert "scan.pdf, page 10" in html and "/scans/Monday" not in html  # which file, and where in it
    r = client.get(f"/unmatched/{uid}/thumb.jpg", base_url=BASE)
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data[:2] == b"\xff\xd8"
    assert client.get(f"/unmatched/{uid}", base_url=BASE).status_code == 200
    # Page 7 is not a page of the session form.
    r = client.post(f"/unmatched/{uid}/assign", data={"session": earlier["session"], "page": 7,
                                                      "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 400
    # A stored page with no corner markers cannot be read as that sheet: refused, still open
    # (tests/test_reread.py assigns a real scan).
    r = client.post(f"/unmatched/{uid}/assign", data={"session": earlier["session"], "page": 2,
                                                      "csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 400
    assert "no registration markers" in r.get_data(as_text=True)
    assert vault.db.execute("SELECT status FROM unmatched WHERE id = ?", [uid]).fetchone()[0] == "open"
    r = client.post(f"/unmatched/{uid}/discard", data={"csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 302
    assert f"/unmatched/{uid}/thumb.jpg" not in client.get("/", base_url=BASE).get_data(as_text=True)
    other = add_unmatched(vault)
    assert client.post(f"/unmatched/{other}/discard", data={}, base_url=BASE).status_code == 403
    r = client.post(f"/unmatched/{other}/discard", data={"csrf_token": csrf(app)}, base_url=BASE)
    assert r.status_code == 302
    assert vault.db.execute("SELECT status FROM unmatched WHERE id = ?", [other]).fetchone()[0] == "discarded"
    assert later["session"] != earlier["session"]


def test_review_order_puts_flagged_and_low_confidence_first():
    from scanner.review.web.fields import build_views

    rows = [
        {"id": i, "key": k, "kind": "line", "privacy": "progress", "page": p, "value": "x", "confidence": c,
         "flags": fl, "status": "pending", "confirmed_value": None, "crop_file": None}
        for i, (k, p, c, fl) in enumerate([("a", 1, 0.95, []), ("b", 2, 0.95, ["ambiguous_mark"]),
                                           ("c", 1, 0.5, []), ("d", 1, 0.95, ["empty"]), ("e", 2, 0.9, [])])
    ]
    assert [v.key for v in build_views(rows, None)] == ["c", "b", "a", "d", "e"]


# ---------------------------------------------------------------- the real server


def _non_loopback_addresses() -> list[str]:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    addresses = [a for a in out.split() if ":" not in a and not a.startswith("127.")]
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if not address.startswith("127.") and address not in addresses:
                addresses.append(address)
    except OSError:
        pass
    return addresses


def test_server_listens_on_loopback_only(app, vault):
    import http.client

    from scanner.review.web import make_server, state_of

    server = make_server(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        assert server.server_address[0] == "127.0.0.1"
        assert state_of(app).guard.port == port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 403 and response.getheader("Cache-Control") == "no-store"
        conn.close()
        for address in _non_loopback_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
    finally:
        server.shutdown()
        server.server_close()


def test_review_command_prints_a_loopback_link_and_opens_the_browser_unless_told_not_to(vault_dir, monkeypatch, capsys):
    import webbrowser

    from werkzeug.serving import BaseWSGIServer

    from scanner.cli.context import AppContext
    from scanner.cli.review import review

    opened: list[str] = []
    served: list[int] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url))

    def serve_once(server, *args, **kwargs):
        served.append(server.server_port)
        raise KeyboardInterrupt

    monkeypatch.setattr(BaseWSGIServer, "serve_forever", serve_once)
    review.main(args=["--idle-minutes", "5"], obj=AppContext(vault_dir=vault_dir), standalone_mode=False)
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{served[0]}/auth?token=" in out
    assert opened == [out.split("Review page: ")[1].split()[0]]
    assert "Review stopped" in out
    review.main(args=["--no-browser"], obj=AppContext(vault_dir=vault_dir), standalone_mode=False)
    assert len(opened) == 1 and len(served) == 2
