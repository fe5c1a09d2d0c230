"""The review page in a real headless browser (Debian's chromium through Playwright).

Measures the keystrokes a clinician spends per field on a correctly read
session (target: 1.3 or fewer), corrects a misread field by typing, and
exports a SOAP note that carries the correction.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from test_web import add_session

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                              "(apt-get install chromium; CI installs it)")


class Keys:
    """Presses keys on a page and counts them (typing a word counts each character)."""

    def __init__(self, page) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.count += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)


@pytest.fixture
def served(vault, vault_dir):
    """The real review server on 127.0.0.1 in a thread, around the test vault."""
    from scanner.vault.vault import Vault
    from scanner.review.web import create_app, make_server, review_url, state_of

    app = create_app(vault, lambda pw: Vault.open(vault_dir, pw))
    server = make_server(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, review_url(app), f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    state_of(app).close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    # Chromium's singleton socket path must stay short; the per-test TMPDIR is too long for it.
    short_tmp = tempfile.mkdtemp(prefix="ik-", dir="/tmp")
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS,
                                  env={**os.environ, "TMPDIR": short_tmp})
            yield b
            b.close()
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)


def _statuses(app, session: int) -> dict[str, dict]:
    from scanner.vault import store
    from scanner.review.web import state_of

    with state_of(app).holder.use() as vault:
        return {f["key"]: f for f in store.show_session(vault, session)["fields"]}


def _open(browser, url: str, problems: list[str]):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page


def test_a_correctly_read_session_is_confirmed_with_one_key_per_field(vault, served, browser):
    app, url, base = served
    s = add_session(vault)
    problems: list[str] = []
    page = _open(browser, url, problems)
    assert page.url == base + "/"  # the token was exchanged and dropped from the address
    page.goto(f"{base}/session/{s['session']}")
    total = page.locator("article.field").count()
    assert total == len(s["truth"]) > 20
    keys = Keys(page)
    keys.press("Enter", total)
    page.wait_for_function("() => document.querySelector('[data-count=pending]').textContent === '0'", timeout=20000)
    assert page.locator("#all-done").is_visible()
    rows = _statuses(app, s["session"])
    assert all(f["status"] == "confirmed" for f in rows.values())
    assert all(f["confirmed_value"] == s["truth"][k] for k, f in rows.items())
    per_field = keys.count / total
    print(f"\nkeystrokes per correctly-read field: {keys.count}/{total} = {per_field:.2f} (target <= 1.3)")
    assert per_field <= 1.3
    assert not problems, problems


def test_correct_a_misread_field_by_keyboard_then_export_a_soap_note(vault, served, browser):
    app, url, base = served
    s = add_session(vault, reads={"focus": ("Slep and wrk stres", 0.42, ["low_confidence"]),
                                  "phq9": ("17", 0.96, [])})  # a silent misread: confident and wrong
    problems: list[str] = []
    page = _open(browser, url, problems)
    page.goto(f"{base}/session/{s['session']}")
    keys = Keys(page)
    # The doubtful field comes first, its reading offered beside an empty box.
    first = page.locator("article.field.current")
    assert first.get_attribute("data-key") == "focus"
    assert page.locator("#f-focus .text-in").input_value() == ""
    keys.press("Enter")  # Enter does not confirm an empty box: it starts typing instead
    assert page.evaluate("() => document.activeElement.classList.contains('text-in')")
    keys.press("Enter")  # not even when pressed again
    page.wait_for_timeout(200)
    assert page.locator("#f-focus").get_attribute("data-status") == "pending"
    assert _statuses(app, s["session"])["focus"]["status"] == "pending"
    keys.type("Grief after the move")
    keys.press("Enter")
    # Walk to the confidently misread PHQ-9 and retype it.
    for _ in range(40):
        if page.locator("article.field.current").get_attribute("data-key") == "phq9":
            break
        keys.press("j")
    assert page.locator("#f-phq9 .text-in").input_value() == "17"
    keys.press("e")
    keys.type("12")
    keys.press("Enter")
    # Everything else is read right: Enter through the rest.
    page.wait_for_function("() => !document.querySelector('article.field.saving')")
    pending = page.locator("article.field[data-status=pending]").count()
    keys.press("Enter", pending)
    page.wait_for_function("() => document.querySelector('[data-count=pending]').textContent === '0'", timeout=20000)
    rows = _statuses(app, s["session"])
    assert rows["focus"]["confirmed_value"] == "Grief after the move"
    assert rows["phq9"]["confirmed_value"] == "12"
    assert all(f["status"] == "confirmed" for f in rows.values())

    # With everything confirmed the focus rests on the note link: Esc and k go back to the fields
    # (no dead end for the keyboard); back on the link, Enter opens the SOAP preview.
    assert page.evaluate("() => document.activeElement.id") == "note-link"
    keys.press("Escape")
    assert page.evaluate("() => document.activeElement.matches('article.field.current')")
    page.focus("#note-link")
    keys.press("k")
    assert page.evaluate("() => document.activeElement.matches('article.field.current')")
    page.focus("#note-link")
    keys.press("Enter")
    page.wait_for_url(f"{base}/session/{s['session']}/note?format=soap")
    preview = page.locator("#note-preview").text_content()
    assert "Grief after the move" in preview and "Subjective" in preview and "Private thought" not in preview
    with page.expect_download() as info:
        page.locator("#export-md").click()
    download = info.value
    assert download.suggested_filename == f"inklock-session-{s['session']}-soap.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert "Grief after the move" in text and "PHQ-9" in text and "12" in text
    assert "Slep" not in text and "Private thought" not in text
    assert not problems, problems


def test_the_other_reading_is_taken_with_one_key(vault, served, browser):
    app, url, base = served
    s = add_session(vault, reads={"focus": ("Slep and wrk stres", 0.42, ["low_confidence"])},
                    alternatives={"focus": "Sleep and work stress"})
    problems: list[str] = []
    page = _open(browser, url, problems)
    page.goto(f"{base}/session/{s['session']}")
    assert page.locator("article.field.current").get_attribute("data-key") == "focus"
    assert page.locator("#f-focus .suggestion-alt").is_visible()
    page.keyboard.press("o")
    page.wait_for_function("() => document.querySelector('#f-focus').getAttribute('data-status') === 'confirmed'",
                           timeout=20000)
    focus = _statuses(app, s["session"])["focus"]
    assert focus["status"] == "confirmed" and focus["confirmed_value"] == "Sleep and work stress"
    assert not page.locator("#f-focus .suggestion-alt").is_visible()
    assert not problems, problems


def test_reopen_needs_a_deliberate_confirmation(vault, served, browser):
    app, url, base = served
    s = add_session(vault, pages=(1,))
    page = _open(browser, url, [])
    page.goto(f"{base}/session/{s['session']}")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#f-attendance').dataset.status === 'confirmed'")
    page.keyboard.press("k")
    assert page.locator("article.field.current").get_attribute("data-key") == "attendance"
    page.keyboard.press("j")
    page.keyboard.press("e")  # edit puts the focus in the field's controls, Esc takes it back
    assert page.evaluate("() => document.activeElement.classList.contains('opt-in')")
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.matches('article.field.current')")
    page.keyboard.press("k")
    answers = []

    def dismiss_then_accept(dialog):
        answers.append(dialog.message)
        dialog.dismiss() if len(answers) == 1 else dialog.accept()

    page.on("dialog", dismiss_then_accept)
    page.keyboard.press("r")
    page.wait_for_timeout(200)
    assert _statuses(app, s["session"])["attendance"]["status"] == "confirmed"
    page.keyboard.press("r")
    page.wait_for_function("() => document.querySelector('#f-attendance').dataset.status === 'pending'")
    assert _statuses(app, s["session"])["attendance"]["status"] == "pending"
    assert len(answers) == 2 and "Reopen" in answers[0]


def test_a_late_answer_does_not_put_back_an_older_count(vault, served, browser):
    """The server answers in threads, so two confirmations can come back in either order.

    The first confirmation's answer is held back until the second's has been
    shown; the waiting count must stay at the newer figure, not the late one.
    """
    app, url, base = served
    s = add_session(vault, pages=(1,))
    page = _open(browser, url, [])
    page.goto(f"{base}/session/{s['session']}")
    total = page.locator("article.field").count()
    held: list = []
    seen: list = []

    def hold_the_first(route):
        # Handlers can overlap: the second request may arrive while the first is still being fetched,
        # so the first is claimed before anything that waits.
        seen.append(route)
        if len(seen) == 1:
            held.append((route, route.fetch()))  # the server has answered; the page does not see it yet
        else:
            route.continue_()

    page.route("**/field/*/confirm", hold_the_first)
    # The page puts the first waiting field in focus once its script has run: keys before that go nowhere.
    page.wait_for_function("() => document.activeElement && document.activeElement.closest('article.field') !== null")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('article.field.saving') !== null")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelector('[data-count=pending]').textContent === '{total - 2}'")
    assert held, "the first confirmation never reached the server"
    route, response = held[0]
    route.fulfill(response=response)
    page.wait_for_function("() => document.querySelectorAll('article.field.saving').length === 0")
    page.wait_for_timeout(200)
    assert page.locator("[data-count=pending]").text_content() == str(total - 2)
    assert sum(f["status"] == "confirmed" for f in _statuses(app, s["session"]).values()) == 2
