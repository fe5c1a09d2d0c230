"""Exceptions of the forms package (it imports nothing from ``scanner``).

Every class is a ``ValueError`` so callers can catch :class:`FormsError` once
and turn it into a one-sentence message.
"""

from __future__ import annotations


class FormsError(ValueError):
    """Base of every error the forms package raises."""


class TemplateError(FormsError):
    """A template file is unreadable or breaks a rule.

    ``file`` names the template file (or None for a template built in memory),
    ``key_path`` the key in it (``pages[1].fields[3].options``; empty when the
    file as a whole is at fault) and ``problem`` what is wrong, in words.
    """

    def __init__(self, file: str | None, key_path: str, problem: str):
        self.file = file
        self.key_path = key_path
        self.problem = problem
        if not file and not key_path:
            super().__init__(problem[:1].upper() + problem[1:])
            return
        where = f"Template {file}" if file else "Template"
        if key_path:
            where += f" at {key_path}"
        super().__init__(f"{where}: {problem}")


class TemplateNotFound(TemplateError):
    """No template has the name asked for."""


class PayloadError(FormsError):
    """A QR payload is malformed or its check character is wrong."""


class SheetError(FormsError):
    """A sheet to print is inconsistent with its template (e.g. carry for an unknown field)."""


class FormUnavailable(FormsError):
    """A sheet's form cannot be had: its template is unknown, broken, or does not fit the paper.

    Raised by :mod:`forms.catalog` with one sentence (capital first, full stop
    last) that callers show as it is; ``cause`` is the error underneath.
    """

    def __init__(self, message: str, cause: Exception | None = None):
        super().__init__(message)
        self.cause = cause
