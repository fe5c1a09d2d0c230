"""On a terminal too narrow for wide tables, ``show`` and ``search`` print lines that keep every word whole."""

from __future__ import annotations

import io

import pytest
from rich.console import Console


@pytest.fixture
def terminal(monkeypatch):
    """An 80-column terminal in place of the real one; returns what was printed."""
    from scanner import ui

    out = io.StringIO()
    monkeypatch.setattr(ui, "console", Console(file=out, force_terminal=True, width=80, color_system=None,
                                               highlight=False, markup=False, soft_wrap=True))
    return out


SESSION = {"session": 2, "sheet_id": "QJH595HK", "template": "session", "client": "C-102", "date": "2026-11-24",
           "pages": [{"page": 1, "version": 1, "registration_error_px": 0.1, "flags": []}],
           "fields": [{"key": "unfinished_conversations", "privacy": "private", "value": "ask about the move next week",
                       "confirmed_value": None, "confidence": 0.86, "flags": ["low_confidence"], "status": "pending"},
                      {"key": "attendance", "privacy": "progress", "value": "late", "confirmed_value": "late",
                       "confidence": 0.99, "flags": [], "status": "confirmed"}]}


def test_show_prints_a_line_per_field_with_the_value_whole(terminal):
    from scanner.ui import print_session

    print_session(SESSION)
    text = terminal.getvalue()
    assert "unfinished_conversations: ask about the move next week  [private · pending · 0.86 · low_confidence]" in text
    assert "attendance: late  [progress · confirmed · 0.99]" in text
    assert "┏" not in text  # no table


def test_search_prints_each_hit_with_its_snippet_below(terminal):
    from scanner.cli.search import print_results

    hits = [{"session": 7, "date": "2026-11-27", "client": "C-106", "field": "focus", "status": "draft",
             "match": "exact", "snippet": "\ue000sleep\ue001 and worry at work"}]
    print_results("sleep", hits)
    text = terminal.getvalue()
    assert "Session 7 · C-106 · 2026-11-27\n  focus · draft · exact\n    sleep and worry at work\n" in text
    assert "1 field(s) in 1 session(s)" in text and "┏" not in text
