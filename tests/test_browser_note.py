"""The progress-note page in a real headless browser (issue #14): sign, copy, addendum.

Debian's chromium through Playwright, the real review server on 127.0.0.1 (a
secure context, so navigator.clipboard works), as in tests/test_browser.py.
"""

from __future__ import annotations

import pytest

from test_browser import CHROMIUM, _open, browser, served  # noqa: F401  (fixtures)
from test_web import add_session

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                              "(apt-get install chromium; CI installs it)")


def _confirmed_session(app, vault) -> dict:
    from scanner.vault import store
    from scanner.review.web import state_of

    s = add_session(vault)
    with state_of(app).holder.use() as v:
        for f in store.show_session(v, s["session"])["fields"]:
            if f["privacy"] == "progress":
                store.confirm_field(v, s["session"], f["key"], value=s["truth"][f["key"]])
    return s


def _copy_text(app, session: int) -> str:
    from scanner.notes import progress as notes
    from scanner.review.web import state_of

    with state_of(app).holder.use() as v:
        return notes.copy_text(v, session, "soap")


def test_sign_then_copy_then_add_an_addendum(vault, served, browser):
    app, url, base = served
    s = _confirmed_session(app, vault)
    problems: list[str] = []
    page = _open(browser, url, problems)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/session/{s['session']}/note?format=soap")
    assert page.locator("#sign-needs-name").is_visible()
    # The name first: the sign button's form names what is missing, and the name is kept in the vault.
    page.fill("#clinician-name", "Dr Ada Example")
    page.fill("#clinician-credentials", "PsyD")
    page.fill("#clinician-licence", "PSY-12345")
    page.click("#clinician-save")
    page.wait_for_selector("#sign-note")
    assert page.locator("#note-preview").text_content().count("Dr Ada Example") >= 1
    assert not page.locator("#sign-needs-name").count()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.check("#confirm-code")
    page.click("#sign-note")
    page.wait_for_selector("#signed-badge")
    assert dialogs and "Sign this note" in dialogs[0]
    preview = page.locator("#note-preview").text_content()
    assert "Electronically signed by Dr Ada Example, PsyD (licence PSY-12345)" in preview
    assert "confirmed by the clinician" in preview and "Private thought" not in preview

    page.click("#copy-note")
    page.wait_for_function("() => document.querySelector('#copy-status').textContent.startsWith('Copied')")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == _copy_text(app, s["session"])
    assert copied.startswith("INDIVIDUAL SESSION: PROGRESS NOTE (SOAP)") and "Electronically signed" in copied
    assert "Private thought" not in copied

    page.fill("#addendum-text", "Client phoned the next day; safety plan reviewed.")
    page.click("#addendum-add")
    page.wait_for_selector(".addendum")
    preview = page.locator("#note-preview").text_content()
    assert preview.index("Electronically signed") < preview.index("Client phoned the next day")
    page.click("#copy-note")
    page.wait_for_function("() => document.querySelector('#copy-status').textContent.startsWith('Copied')")
    assert "Client phoned the next day" in page.evaluate("() => navigator.clipboard.readText()")
    assert not problems, problems


def test_copy_falls_back_where_the_clipboard_api_is_missing(vault, served, browser):
    app, url, base = served
    s = _confirmed_session(app, vault)
    problems: list[str] = []
    page = _open(browser, url, problems)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/session/{s['session']}/note?format=dap")
    # As in a browser without the asynchronous clipboard: the copy command on a selected text box.
    page.evaluate("() => Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    page.click("#copy-note")
    page.wait_for_function("() => document.querySelector('#copy-status').textContent !== ''")
    assert page.locator("#copy-status").text_content().startswith("Copied")
    reader = page.context.new_page()
    reader.goto(f"{base}/")
    copied = reader.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("INDIVIDUAL SESSION: PROGRESS NOTE (DAP)") and "Private thought" not in copied
    assert not problems, problems
