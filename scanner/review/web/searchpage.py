"""The search page (SPEC 5 "Search", issue #5): results beside their handwriting, grouped by session.

The query is sent by POST (with the CSRF token), not in the URL: search words
are often health information, and a URL would keep them in the browser's
history on disk. Everything shown is escaped; the only markup made from a
result is the ``<mark>`` around matched words, placed by sentinel characters
the search engine puts around them (never characters a person types).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, TYPE_CHECKING

from flask import Flask, current_app, make_response, render_template, request
from markupsafe import Markup, escape

from scanner.vault import store
from scanner.errors import UsageError
from scanner.review.web.state import state_of

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

# Private-use characters around matched words in snippets: unlike "[" and "]"
# they cannot occur in a transcription, so no written bracket becomes a highlight.
MARK_OPEN, MARK_CLOSE = "\ue0fe", "\ue0ff"
HIGHLIGHT = (MARK_OPEN, MARK_CLOSE)
LIMIT = 50
_SPLIT = re.compile(f"([{MARK_OPEN}{MARK_CLOSE}])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

STATUS_WORDS = {
    "confirmed": "confirmed",
    "draft": "unconfirmed OCR draft",
    "handwriting": "matched by handwriting \u2014 unconfirmed draft",
    "kept": "kept as handwritten",
}
MATCH_WORDS = {
    "exact": "the words as written",
    "shorthand": "through your shorthand",
    "handwriting": "looks like your confirmed handwriting of the word",
    "fuzzy": "a near spelling (OCR slips)",
    "substring": "part of a word",
}
FILTER_NAMES = {"since": "From", "until": "To"}


def snippet_html(snippet: str) -> Markup:
    """A snippet as safe HTML: every character escaped, each highlighted run in one ``<mark>``."""
    out: list[str] = []
    inside = False
    for part in _SPLIT.split(snippet or ""):
        if part == MARK_OPEN:
            if not inside:
                out.append("<mark>")
            inside = True
        elif part == MARK_CLOSE:
            if inside:
                out.append("</mark>")
            inside = False
        elif part:
            out.append(str(escape(part)))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))


def read_form(form) -> dict[str, str]:
    """The search form's values, trimmed (missing ones empty)."""
    return {k: (form.get(k) or "").strip() for k in ("q", "client", "since", "until", "field", "privacy")}


def filters_of(values: dict[str, str]):
    """The form's filters as :class:`scanner.vault.search.Filters`; UsageError in the page's own words."""
    from scanner.vault.search import PRIVACY, Filters

    for name in ("since", "until"):
        text = values[name]
        if text:
            try:
                if not _DATE.match(text):
                    raise ValueError(text)
                date.fromisoformat(text)
            except ValueError:
                raise UsageError(f"'{FILTER_NAMES[name]}' must be a date written as YYYY-MM-DD.") from None
    if values["since"] and values["until"] and values["since"] > values["until"]:
        raise UsageError("'From' is after 'To': no session could match.")
    if values["privacy"] and values["privacy"] not in PRIVACY:
        raise UsageError("Choose private or progress fields, or both.")
    return Filters(client=values["client"] or None, since=values["since"] or None, until=values["until"] or None,
                   field=values["field"] or None, privacy=values["privacy"] or None)


def run(state, vault, values: dict[str, str]) -> list[dict[str, Any]]:
    """Search with the handwriting tier on; results grouped by session for the page."""
    if not values["q"]:
        raise UsageError("Type a word or phrase to search for.")
    filters = filters_of(values)
    hits = state.searcher(vault, HIGHLIGHT).search(values["q"], filters, LIMIT)
    return group(hits, _field_ids(vault, hits), field_labels(state, vault))


def _field_ids(vault: Vault, hits: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(sheet id, field key) -> field id, for the crop of each hit (a sheet has one row per key)."""
    return store.field_ids(vault, sorted({h["sheet_id"] for h in hits}))


def group(hits: list[dict[str, Any]], ids: dict[tuple[str, str], int], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Consecutive hits of one session in one group (the searcher already orders them so)."""
    groups: list[dict[str, Any]] = []
    for h in hits:
        if not groups or groups[-1]["session"] != h["session"]:
            groups.append({"session": h["session"], "sheet_id": h["sheet_id"], "client": h["client"],
                           "date": h["date"], "hits": []})
        state = "confirmed" if h["status"] == "confirmed" else ("kept" if h.get("kept") else (
            "handwriting" if h["match"] == "handwriting" else "draft"))
        groups[-1]["hits"].append({
            "key": h["field"], "label": labels.get(h["field"]) or h["field"].replace("_", " ").capitalize(),
            "privacy": h["privacy"], "state": state, "status_text": STATUS_WORDS[state],
            "match": h["match"], "match_text": MATCH_WORDS.get(h["match"], h["match"]),
            "snippet": snippet_html(h["snippet"]), "field_id": ids.get((h["sheet_id"], h["field"])),
        })
    return groups


def field_labels(state, vault) -> dict[str, str]:
    """Printed labels of the field keys this vault holds (from each template's geometry)."""
    from scanner.review.web.fields import layout_fields

    labels: dict[str, str] = {}
    for template, size in store.sheet_forms(vault):
        _template, layout, _problem = state.form(template, size)
        for key, (_page, _order, geo) in layout_fields(layout).items():
            labels.setdefault(key, geo.field.label or key)
    return labels


def choices(state, vault) -> dict[str, Any]:
    """What the filter menus offer: the clients and the field keys of this vault."""
    labels = field_labels(state, vault)
    keys = store.field_keys(vault)
    fields = sorted(({"key": k, "label": labels.get(k) or k} for k in keys), key=lambda f: f["label"].lower())
    return {"clients": store.list_clients(vault), "fields": fields}


def search_page() -> Any:
    """GET: the empty form. POST: the results, or a friendly message for a query that cannot run."""
    state = state_of(current_app)
    values = read_form(request.form) if request.method == "POST" else read_form({})
    groups, error, status = None, None, 200
    with state.holder.use() as vault:
        if request.method == "POST":
            try:
                groups = run(state, vault, values)
            except UsageError as exc:
                error, status = exc.message, 400
        menus = choices(state, vault)
    html = render_template("search.html", values=values, groups=groups, error=error, limit=LIMIT,
                           found=sum(len(g["hits"]) for g in groups or []), **menus)
    return make_response(html, status)


def register(app: Flask) -> None:
    """Attach this page's routes to ``app`` (endpoint names are used by url_for in the templates)."""
    for rule, endpoint, view, methods in (
        ("/search", "search", search_page, ["GET", "POST"]),
    ):
        app.add_url_rule(rule, endpoint, view, methods=methods)
