"""One check of a field's value by its kind and its template (cells, min, max, options).

Shared by every way a value enters the vault: ``inklock confirm --value``, the
review page's edit (both through :func:`scanner.vault.store.parse_value`) and ingest
(the page reader flags a read digits value outside :func:`digit_range`). A bad
value is :class:`scanner.errors.BadValue` (a BadInput: exit 4) with one sentence naming
what the field allows.

``field`` is the field's geometry from ``forms.geometry.layout`` (``cells`` is
then the list of cell boxes) or a plain dict with ``cells`` as a number.
"""

from __future__ import annotations

import re
from typing import Any

from scanner.errors import BadInput, BadValue

CLIENT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,23}")  # used with fullmatch: "$" would let a newline through


def cell_count(field: dict[str, Any] | None) -> int | None:
    """How many digit cells a digits field has (None when unknown)."""
    cells = (field or {}).get("cells")
    if cells is None:
        return None
    return cells if isinstance(cells, int) else len(cells)


def digit_range(field: dict[str, Any] | None) -> tuple[int, int] | None:
    """A digits field's allowed values (min, max), when the template gives either."""
    f = field or {}
    if f.get("min") is None and f.get("max") is None:
        return None
    n = cell_count(f)
    lo = f.get("min") if f.get("min") is not None else 0
    hi = f.get("max") if f.get("max") is not None else (10 ** n - 1 if n else 10 ** 9)
    return int(lo), int(hi)


def allowed_words(kind: str, field: dict[str, Any] | None) -> str:
    """What a field accepts, in words (for a message)."""
    f = field or {}
    if kind == "checkbox":
        return "yes or no"
    if kind == "digits":
        n, allowed = cell_count(f), digit_range(f)
        if allowed:
            return f"a whole number from {allowed[0]} to {allowed[1]}"
        return f"up to {n} digit(s)" if n else "digits"
    options = [str(o["value"]) if isinstance(o, dict) else str(o) for o in f.get("options") or []]
    if kind == "scale":
        if f.get("min") is not None and f.get("max") is not None:
            return f"a number from {f['min']} to {f['max']}, or none"
        return f"one of {', '.join(options)}, or none" if options else "a number, or none"
    if kind == "choice":
        return f"one of {', '.join(options)}" if options else "an option"
    return "text"


def check_digits(text: str, field: dict[str, Any] | None) -> str:
    """Typed digits (spaces ignored) checked against the cells and range; "" is no answer."""
    t = text.strip().replace(" ", "")
    if t == "":
        return ""
    what = allowed_words("digits", field)
    if not (t.isascii() and t.isdigit()):
        raise BadValue(f"'{shown(text)}' is not a number made of digits; this field takes {what}.")
    n, allowed = cell_count(field), digit_range(field)
    if n is not None and len(t) > n:
        raise BadValue(f"'{shown(text)}' has more digits than the field's {n} cell(s); it takes {what}.")
    if allowed and not allowed[0] <= int(t) <= allowed[1]:
        raise BadValue(f"'{shown(text)}' is outside the field's range; it takes {what}.")
    return t


def check_scale(text: str, field: dict[str, Any] | None) -> int | None:
    """A typed point on a scale; "", none, null or - is no answer."""
    t = text.strip()
    if t == "" or t.lower() in ("none", "null", "-"):
        return None
    f = field or {}
    options = [str(o["value"]) if isinstance(o, dict) else str(o) for o in f.get("options") or []]
    inside = t.lstrip("-").isascii() and t.lstrip("-").isdigit()
    if inside and options:
        inside = t in options
    elif inside and f.get("min") is not None and f.get("max") is not None:
        inside = int(f["min"]) <= int(t) <= int(f["max"])
    if not inside:
        raise BadValue(f"'{shown(text)}' is not on this scale; it takes {allowed_words('scale', field)}.")
    return int(t)


def check_options(parts: list[str], field: dict[str, Any] | None) -> None:
    """Each chosen option must be one of the field's options."""
    options = [str(o["value"]) if isinstance(o, dict) else str(o) for o in (field or {}).get("options") or []]
    bad = [p for p in parts if options and p not in options]
    if bad:
        raise BadValue(f"'{shown(bad[0])}' is not an option of this field; choose from {', '.join(options)}.")


def shown(text: str, limit: int = 40) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_client(code: str, where: str = "") -> str:
    """A client code as typed (printing, a schedule, a blank sheet given its client); BadInput if it is not one."""
    if not CLIENT_CODE.fullmatch(code or ""):
        raise BadInput(f"{where}'{shown(code)}' is not a client code: use up to 24 letters, digits, '.', '_' or '-' "
                       "(a code, never a name).")
    return code


def check_session(text: Any, where: str = "") -> int | None:
    """A session number as typed (1 to 9999), None when empty; BadInput otherwise."""
    if text is None or str(text).strip() == "":
        return None
    t = str(text).strip()
    if not t.isdigit() or not 0 < int(t) < 10000:
        raise BadInput(f"{where}'{shown(t)}' is not a session number (1 to 9999).")
    return int(t)


def is_risk_field(field) -> bool:
    """A choice field of the risk screen (by its group or key), from a ``forms.model.Field``.

    Read by :mod:`scanner.review.risk` (the risk words) and by the search index
    (a risk answer is found by its field's label).
    """
    group = (getattr(field, "group", None) or "").lower()
    # Progress fields only: these words reach the queue, the next sheet and the progress note.
    return (field.kind == "choice" and getattr(field, "privacy", "progress") == "progress"
            and ("risk" in group or field.key.lower().startswith("risk")))
